// Load benchmark of PlateService beside its alternatives. See bench/README.md.
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import knex from "knex";
import { serviceNodeOptions } from "../scripts/build.ts";
import { migrateToLatest, openDatabase } from "../src/db/database.ts";
import { hasH2load, runH2load } from "./load/h2load.ts";
import type { NodeLoadJob } from "./load/node-load.ts";
import { benchProtocols, benchRpcs, requestBody, type BenchProtocol, type BenchRpc } from "./messages.ts";
import { plateNumberAt } from "./plate-numbers.ts";
import { readCpuSeconds, readMemory, repoRoot, RssMonitor, startBenchProcess, type BenchProcess } from "./processes.ts";
import { formatProfile, summarizeProfile } from "./profile-summary.ts";
import { renderReport, type BenchReport, type RunResult } from "./report.ts";
import type { PgJob } from "./servers/pg-direct.ts";
import type { LoadResult } from "./stats.ts";

const usage = `Usage: npm run bench -- [options]

Starts each server in a child process on 127.0.0.1, loads it, and prints
Markdown tables; results go to bench/results/ as JSON and Markdown.

  --quick                 a tenth of the calls of each run, to check the harness
  --cluster               Get on our server and on @grpc/grpc-js with 1 and 2 processes (node:cluster)
  --soak                  1,000,000 Get calls on our server, RSS after every 100,000
  --profile               CPU profiles (--cpu-prof) of the bare Connect handler and of our Get
                          (the first of --rpcs in place of Get)
  --targets=LIST          comma-separated: plates, grpc-js, bare-connect, bare-grpc-js, pg
  --rpcs=LIST             comma-separated: Get, Add, Generate, Validate
  --protocols=LIST        comma-separated: grpc, connect-json
  --in-flight=LIST        comma-separated calls in flight; default 1,16,64,256
  --calls=N               calls of every measured run, in place of the defaults
  --server-node-flags=S   Node options for the server processes besides the service's own
                          (${serviceNodeOptions.join(" ")}), separated by spaces
  --label=TEXT            name of this run in the report and the result file names
  --help                  this text

Environment: BENCH_DATABASE_URL (default TEST_DATABASE_URL, else
postgres://postgres@127.0.0.1:5432/test); each run uses fresh schemas and drops them.`;

const { values: options } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    cluster: { type: "boolean", default: false },
    soak: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    targets: { type: "string" },
    rpcs: { type: "string" },
    protocols: { type: "string" },
    "in-flight": { type: "string" },
    calls: { type: "string" },
    "server-node-flags": { type: "string", default: "" },
    label: { type: "string", default: "" },
    help: { type: "boolean", default: false },
  },
});
if (options.help) {
  console.log(usage);
  process.exit(0);
}

const databaseUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const resultsDir = path.join(repoRoot, "bench/results");
// Every server runs with the Node options of the service, so that they differ in their RPC layer only.
const serverNodeFlags = [...serviceNodeOptions, ...options["server-node-flags"].split(" ").filter((flag) => flag !== "")];

/** A process under load and what to load it with. */
interface Target {
  name: string;
  script: string;
  env?: Record<string, string>;
  workers: number;
  protocols: readonly BenchProtocol[];
  rpcs: readonly BenchRpc[];
  /** Whether the process writes the call log line of src/call-log.ts, whose codes the bench checks. */
  callLog: boolean;
  /** Whether the process runs the load itself (the pg pool) instead of serving calls. */
  inProcess?: boolean;
  /** Whether the handlers do no work, so runs get more calls. */
  bare?: boolean;
}

const targetCatalog: Record<string, Target> = {
  plates: { name: "plates", script: "bench/servers/plates.ts", workers: 1, protocols: benchProtocols, rpcs: benchRpcs, callLog: true },
  "grpc-js": { name: "grpc-js", script: "bench/servers/grpc-js.ts", workers: 1, protocols: ["grpc"], rpcs: benchRpcs, callLog: true },
  "bare-connect": {
    name: "bare-connect",
    script: "bench/servers/bare-connect.ts",
    workers: 1,
    protocols: benchProtocols,
    rpcs: ["Get", "Add", "Generate"],
    callLog: false,
    bare: true,
  },
  "bare-grpc-js": {
    name: "bare-grpc-js",
    script: "bench/servers/grpc-js.ts",
    env: { BENCH_MODE: "bare" },
    workers: 1,
    protocols: ["grpc"],
    rpcs: ["Get", "Add", "Generate"],
    callLog: false,
    bare: true,
  },
  pg: { name: "pg", script: "bench/servers/pg-direct.ts", workers: 1, protocols: ["grpc"], rpcs: ["Get", "Add", "Generate"], callLog: false, inProcess: true },
};

function listOption(value: string | undefined, allowed: readonly string[], name: string): string[] | undefined {
  if (value === undefined) {
    return undefined;
  }
  const items = value.split(",").map((item) => item.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item)) {
      throw new Error(`invalid --${name} item "${item}": expected one of ${allowed.join(", ")}`);
    }
  }
  return items;
}

const rpcFilter = listOption(options.rpcs, benchRpcs, "rpcs") as BenchRpc[] | undefined;
const protocolFilter = listOption(options.protocols, benchProtocols, "protocols") as BenchProtocol[] | undefined;
const inFlightLevels = (options["in-flight"] ?? "1,16,64,256").split(",").map((item) => {
  const level = Number(item);
  if (!Number.isInteger(level) || level < 1) {
    throw new Error(`invalid --in-flight item "${item}": expected a positive integer`);
  }
  return level;
});
const fixedCalls = options.calls === undefined ? undefined : Number(options.calls);

/** Returns the calls of one measured run: runs at 1 in flight get a fifth, bare handlers twice as many. */
function callsFor(target: Target, rpc: BenchRpc, inFlight: number): number {
  if (fixedCalls !== undefined) {
    return fixedCalls;
  }
  const base: Record<BenchRpc, number> = { Get: 15_000, Add: 8_000, Generate: 3_000, Validate: 15_000 };
  let calls = base[rpc] * (target.bare ? 2 : 1);
  if (inFlight === 1) {
    calls = Math.ceil(calls / 5);
  }
  if (options.quick) {
    calls = Math.ceil(calls / 10);
  }
  return Math.max(calls, inFlight);
}

/** Splits a count of calls in flight into connections and streams per connection. */
function spread(inFlight: number): { connections: number; streams: number } {
  const connections = inFlight >= 4 ? 4 : 1;
  return { connections, streams: Math.ceil(inFlight / connections) };
}

// --- Database ---------------------------------------------------------------

const seededPlates = 1_000;
const schemas: string[] = [];
const admin = knex({ client: "pg", connection: databaseUrl });

/** Creates a migrated schema with seeded plates; returns it and the id of one seeded plate. */
async function createSchema(name: string): Promise<{ schema: string; id: string }> {
  const schema = `plates_bench_${name.replace(/[^a-z0-9]/g, "_")}_${randomBytes(4).toString("hex")}`;
  schemas.push(schema);
  const db = openDatabase({ kind: "postgres", url: databaseUrl, poolMax: 2, schema });
  try {
    await migrateToLatest(db, schema);
    const rows = Array.from({ length: seededPlates }, (_, index) => {
      const number = plateNumberAt(20_000_000 + index);
      return { number, type: "CAR", region_code: number.slice(6) };
    });
    const inserted: { id: string }[] = await db("plates").insert(rows).returning("id");
    return { schema, id: inserted[Math.floor(inserted.length / 2)]!.id };
  } finally {
    await db.destroy();
  }
}

async function dropSchemas(): Promise<void> {
  for (const schema of schemas.splice(0)) {
    await admin.raw("drop schema if exists ?? cascade", [schema]);
  }
}

// --- Running loads ------------------------------------------------------------

const token = randomBytes(16).toString("hex");
let useH2load = false;
let loadProcess: BenchProcess | undefined;

async function nodeLoad(): Promise<BenchProcess> {
  loadProcess ??= await startBenchProcess({
    name: "node-load",
    script: "bench/load/node-load.ts",
    env: {},
    logFile: "/dev/null",
  });
  return loadProcess;
}

/** A server under load, with the state the runs on it share. */
interface RunningTarget {
  target: Target;
  process: BenchProcess;
  monitor: RssMonitor;
  id: string;
  /** Next plate number index for Add; see plateNumberAt. */
  nextIndex: number;
  /** Bytes of the call log already checked. */
  logOffset: number;
  schema: string;
}

function cpuSeconds(running: RunningTarget): number {
  return running.process.pids.reduce((sum, pid) => sum + readCpuSeconds(pid), 0);
}

function generatorFor(target: Target, rpc: BenchRpc): RunResult["generator"] {
  if (target.inProcess) {
    return "in-process";
  }
  return rpc === "Add" || !useH2load ? "node" : "h2load";
}

async function runLoad(running: RunningTarget, rpc: BenchRpc, protocol: BenchProtocol, inFlight: number, calls: number): Promise<LoadResult> {
  const { target } = running;
  const firstIndex = running.nextIndex;
  if (rpc === "Add") {
    running.nextIndex += calls;
  }
  if (target.inProcess) {
    const job: PgJob = { rpc: rpc as PgJob["rpc"], calls, inFlight, id: running.id, firstIndex };
    return running.process.request<LoadResult>(job);
  }
  const { connections, streams } = spread(inFlight);
  if (generatorFor(target, rpc) === "h2load") {
    return runH2load({
      port: running.process.port,
      protocol,
      rpc,
      body: requestBody(protocol, rpc, { id: running.id }),
      calls,
      connections,
      streams,
      token,
    });
  }
  const job: NodeLoadJob = { port: running.process.port, protocol, rpc, calls, connections, streams, token, id: running.id, firstIndex };
  return (await nodeLoad()).request<LoadResult>(job);
}

/**
 * Waits until the call log stops growing for 200 ms, or 5 s at most. pino's
 * default destination writes asynchronously, so lines of the last calls of a
 * run can land after the load generator has its responses.
 */
async function waitForLogToSettle(logFile: string): Promise<void> {
  const deadline = performance.now() + 5_000;
  let size = statSync(logFile).size;
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = statSync(logFile).size;
    if (next === size) {
      return;
    }
    size = next;
  }
}

/** Counts the call log lines written since the last check, by code. */
async function readCallCodes(running: RunningTarget): Promise<Record<string, number>> {
  await waitForLogToSettle(running.process.logFile);
  const size = statSync(running.process.logFile).size;
  const added = Buffer.alloc(size - running.logOffset);
  const file = openSync(running.process.logFile, "r");
  try {
    readSync(file, added, 0, added.length, running.logOffset);
  } finally {
    closeSync(file);
  }
  const text = added.toString("utf8");
  running.logOffset = size;
  const codes: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.includes('"msg":"call"')) {
      continue;
    }
    const code = /"code":"([a-z_]+)"/.exec(line)?.[1] ?? "unknown";
    codes[code] = (codes[code] ?? 0) + 1;
  }
  return codes;
}

async function startTarget(target: Target, nodeFlags: string[] = serverNodeFlags): Promise<RunningTarget> {
  const { schema, id } = await createSchema(target.name);
  mkdirSync(resultsDir, { recursive: true });
  const logFile = path.join(resultsDir, `${target.name}-${target.workers}.log`);
  writeFileSync(logFile, "");
  const process = await startBenchProcess({
    name: target.name,
    script: target.script,
    env: {
      ...target.env,
      BENCH_WORKERS: String(target.workers),
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_SCHEMA: schema,
      BENCH_TOKEN: token,
    },
    logFile,
    nodeFlags,
  });
  return { target, process, monitor: new RssMonitor(process.pids), id, nextIndex: 0, logOffset: 0, schema };
}

/** Returns whether the service implements Validate: one call must not end with UNIMPLEMENTED. */
async function validateImplemented(running: RunningTarget): Promise<boolean> {
  const job: NodeLoadJob = { port: running.process.port, protocol: "grpc", rpc: "Validate", calls: 1, connections: 1, streams: 1, token, id: running.id, firstIndex: 0 };
  const result = await (await nodeLoad()).request<LoadResult>(job);
  await readCallCodes(running);
  return result.failures["grpc-status 12"] === undefined;
}

const notes: string[] = [];

async function benchTarget(target: Target, results: RunResult[]): Promise<void> {
  const running = await startTarget(target);
  try {
    let rpcs = target.rpcs.filter((rpc) => rpcFilter === undefined || rpcFilter.includes(rpc));
    if (rpcs.includes("Validate") && !(await validateImplemented(running))) {
      rpcs = rpcs.filter((rpc) => rpc !== "Validate");
      const note = `${target.name}: Validate skipped, the service returns UNIMPLEMENTED for it`;
      if (!notes.includes(note)) {
        notes.push(note);
      }
    }
    const protocols = target.protocols.filter((protocol) => target.inProcess || protocolFilter === undefined || protocolFilter.includes(protocol));
    for (const rpc of rpcs) {
      // Adds of earlier runs grow the table many times over. Fresh statistics
      // let PostgreSQL pick the index for Generate's "number = any(...)"
      // lookups, as it would on a table that autovacuum has analyzed.
      await admin.raw("analyze ??.plates", [running.schema]);
      for (const protocol of protocols) {
        // Warm-up, so that the measured runs see optimized code and a full pool.
        await runLoad(running, rpc, protocol, 16, options.quick ? 300 : 2_000);
        if (target.callLog) {
          await readCallCodes(running);
        }
        for (const inFlight of inFlightLevels) {
          const calls = callsFor(target, rpc, inFlight);
          running.monitor.takePeak();
          const cpuBefore = cpuSeconds(running);
          const load = await runLoad(running, rpc, protocol, inFlight, calls);
          const cpuMicrosPerCall = ((cpuSeconds(running) - cpuBefore) * 1e6) / load.calls;
          const peakRssBytes = running.monitor.takePeak();
          const callCodes = target.callLog ? await readCallCodes(running) : undefined;
          const result: RunResult = {
            target: target.name,
            workers: target.workers,
            rpc,
            protocol: target.inProcess ? "none" : protocol,
            inFlight,
            generator: generatorFor(target, rpc),
            ...load,
            peakRssBytes,
            cpuMicrosPerCall,
            callCodes,
          };
          results.push(result);
          printResult(result);
        }
      }
    }
  } finally {
    await stopTarget(running);
  }
}

async function stopTarget(running: RunningTarget): Promise<number> {
  const hwm = running.process.pids.reduce((sum, pid) => sum + readMemory(pid, "VmHWM"), 0);
  running.monitor.stop();
  await running.process.stop();
  return hwm;
}

function printResult(result: RunResult): void {
  const failures = Object.entries(result.failures)
    .map(([kind, count]) => `${kind}×${count}`)
    .join(" ");
  const codes = result.callCodes === undefined ? "" : ` log:${JSON.stringify(result.callCodes)}`;
  console.error(
    `${result.target}×${result.workers} ${result.rpc} ${result.protocol} ${result.inFlight} in flight (${result.generator}): ` +
      `${result.callsPerSecond.toFixed(0)} calls/s ${result.cpuMicrosPerCall.toFixed(0)} CPU µs/call p50 ${result.p50Ms.toFixed(2)} ms p99 ${result.p99Ms.toFixed(2)} ms ` +
      `RSS ${(result.peakRssBytes / 2 ** 20).toFixed(0)} MB ok ${result.ok}/${result.calls} ${failures}${codes}`,
  );
}

// --- Modes --------------------------------------------------------------------

async function runDefault(report: BenchReport): Promise<void> {
  const names = options.targets?.split(",") ?? ["plates", "grpc-js", "bare-connect", "bare-grpc-js", "pg"];
  for (const name of names) {
    const target = targetCatalog[name];
    if (target === undefined) {
      throw new Error(`invalid --targets item "${name}": expected one of ${Object.keys(targetCatalog).join(", ")}`);
    }
    await benchTarget(target, report.results);
  }
}

async function runCluster(report: BenchReport): Promise<void> {
  for (const name of ["plates", "grpc-js"]) {
    for (const workers of [1, 2]) {
      const target = { ...targetCatalog[name]!, workers, rpcs: rpcFilter ?? (["Get"] as BenchRpc[]) };
      await benchTarget(target, report.results);
    }
  }
}

async function runSoak(report: BenchReport): Promise<void> {
  const chunk = options.quick ? 10_000 : 100_000;
  const chunks = 10;
  const running = await startTarget(targetCatalog.plates!);
  try {
    await runLoad(running, "Get", "grpc", 16, 2_000);
    report.soak = { rpc: "Get", protocol: "grpc", inFlight: 64, chunks: [], baselineRssBytes: running.monitor.current() };
    for (let index = 0; index < chunks; index++) {
      const load = await runLoad(running, "Get", "grpc", 64, chunk);
      const codes = await readCallCodes(running);
      report.soak.chunks.push({
        calls: (index + 1) * chunk,
        callsPerSecond: load.callsPerSecond,
        p99Ms: load.p99Ms,
        rssBytes: running.monitor.current(),
        notOk: Object.entries(codes).filter(([code]) => code !== "ok").reduce((sum, [, count]) => sum + count, 0),
      });
      console.error(`soak: ${(index + 1) * chunk} calls, RSS ${(running.monitor.current() / 2 ** 20).toFixed(1)} MB, ${load.callsPerSecond.toFixed(0)} calls/s`);
    }
  } finally {
    await stopTarget(running);
  }
}

async function runProfiles(report: BenchReport): Promise<void> {
  const profileDir = path.join(resultsDir, "profiles");
  mkdirSync(profileDir, { recursive: true });
  report.profiles = [];
  const protocols = protocolFilter ?? ["grpc"];
  // Get by default; --rpcs picks another one (Add needs the Node generator and is not profiled).
  const profileRpc = rpcFilter?.[0] ?? "Get";
  for (const name of options.targets?.split(",") ?? ["bare-connect", "plates"]) {
    const target = targetCatalog[name]!;
    // @grpc/grpc-js speaks gRPC only.
    for (const protocol of protocols.filter((candidate) => target.protocols.includes(candidate))) {
      const prefix = `${name}-${profileRpc}-${protocol}${options.label === "" ? "" : `-${options.label}`}`;
      // Every thread writes a profile of its own (tsx runs its module loader
      // on a worker thread), so each run gets a folder and the main thread's
      // profile, the largest, is kept.
      const runDir = path.join(profileDir, prefix);
      rmSync(runDir, { recursive: true, force: true });
      const running = await startTarget(target, [...serverNodeFlags, "--cpu-prof", `--cpu-prof-dir=${runDir}`]);
      let load: LoadResult;
      let window: [number, number];
      try {
        await runLoad(running, profileRpc, protocol, 64, 3_000);
        // Both clocks are CLOCK_MONOTONIC: V8 stamps profile samples in
        // microseconds of it, and process.hrtime in nanoseconds.
        const start = Number(process.hrtime.bigint() / 1000n);
        load = await runLoad(running, profileRpc, protocol, 64, fixedCalls ?? (target.bare ? 40_000 : 20_000));
        window = [start, Number(process.hrtime.bigint() / 1000n)];
      } finally {
        await stopTarget(running);
      }
      const [largest] = readdirSync(runDir)
        .map((name) => path.join(runDir, name))
        .sort((a, b) => statSync(b).size - statSync(a).size);
      const file = path.join(profileDir, `${prefix}.cpuprofile`);
      renameSync(largest!, file);
      rmSync(runDir, { recursive: true, force: true });
      const summary = summarizeProfile(JSON.parse(readFileSync(file, "utf8")), window);
      report.profiles.push({ name: prefix, file: path.relative(repoRoot, file), callsPerSecond: load.callsPerSecond, summary });
      console.error(`profile ${prefix}: ${load.callsPerSecond.toFixed(0)} calls/s\n${formatProfile(summary)}`);
    }
  }
}

function modeName(): string {
  if (options.soak) {
    return "soak";
  }
  if (options.profile) {
    return "profile";
  }
  if (options.cluster) {
    return "cluster";
  }
  return options.quick ? "quick" : "full";
}

async function main(): Promise<void> {
  useH2load = await hasH2load();
  if (!useH2load) {
    notes.push("h2load not found (Debian package nghttp2-client): every load was sent by the Node generator");
  }
  const report: BenchReport = {
    label: options.label,
    startedAt: new Date().toISOString(),
    machine: {
      node: process.version,
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      loadAverageAtStart: os.loadavg(),
    },
    serverNodeFlags,
    notes,
    results: [],
  };
  try {
    if (options.soak) {
      await runSoak(report);
    } else if (options.profile) {
      await runProfiles(report);
    } else if (options.cluster) {
      await runCluster(report);
    } else {
      await runDefault(report);
    }
  } finally {
    await loadProcess?.stop();
    await dropSchemas();
    await admin.destroy();
  }
  report.machine.loadAverageAtEnd = os.loadavg();
  report.finishedAt = new Date().toISOString();

  const name = `${modeName()}${options.label === "" ? "" : `-${options.label}`}`;
  const markdown = renderReport(report);
  writeFileSync(path.join(resultsDir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(resultsDir, `${name}.md`), markdown);
  console.log(markdown);
}

main().catch(async (error: unknown) => {
  console.error(error);
  await loadProcess?.stop();
  await dropSchemas().catch(() => {});
  process.exit(1);
});
