/**
 * Benchmark of the registry operations on PostgreSQL: Generate with
 * reserve = true for 10,000 numbers in one call, and GenerateStream of
 * 1,000,000 unreserved numbers, both through a real server and client on a
 * loopback port. Each is timed next to a plain SQL insert of the same rows
 * (INSERT ... SELECT FROM unnest of arrays) into a twin table with the same
 * columns, defaults and indexes, in the same run, and the ratio of the two is
 * reported. Writes the figures as Markdown.
 *
 *   tsx bench/registry.bench.ts [--runs 5] [--stream-runs 3] [--output docs/benchmarks-registry.md]
 *
 * BENCH_DATABASE_URL selects the PostgreSQL database, by default
 * postgres://postgres@127.0.0.1:5432/test; the benchmark works in a schema
 * of its own and drops it at the end.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { Knex } from "knex";
import pino from "pino";
import { PlateService, PlateType } from "../gen/plates/v1/plate_service_pb.ts";
import { migrateToLatest, openDatabase } from "../src/db/database.ts";
import { createPlatesServer } from "../src/server.ts";
import { toEngineType } from "../src/service/plates.ts";
import { KnexPlateStore } from "../src/store/plate-store.ts";

const reserveAmount = 10_000;
const streamAmount = 1_000_000;

interface Rows {
  numbers: string[];
  types: string[];
  regionCodes: string[];
}

interface Measurement {
  name: string;
  count: number;
  serviceMs: number[];
  sqlMs: number[];
}

const { values: options } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    "stream-runs": { type: "string", default: "3" },
    output: { type: "string", default: "docs/benchmarks-registry.md" },
  },
});
const runs = parsePositive("--runs", options.runs);
const streamRuns = parsePositive("--stream-runs", options["stream-runs"]);
const databaseUrl = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

function parsePositive(name: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1) {
    throw new Error(`invalid ${name} ${JSON.stringify(value)}: expected a whole number of 1 or more`);
  }
  return parsed;
}

function bearer(token: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

/** Inserts the rows into the twin table with one INSERT ... SELECT statement and returns its time. */
async function insertWithSql(db: Knex, rows: Rows): Promise<number> {
  await db.raw("truncate plates_baseline");
  const [, ms] = await timed(() =>
    db.raw(
      `insert into plates_baseline (number, type, region_code)
       select * from unnest(?::text[], ?::text[], ?::text[])`,
      [rows.numbers, rows.types, rows.regionCodes],
    ),
  );
  return ms;
}

async function reserveOnce(client: Client<typeof PlateService>): Promise<[Rows, number]> {
  const [response, ms] = await timed(() => client.generate({ amount: reserveAmount, reserve: true }));
  if (response.plates.length !== reserveAmount) {
    throw new Error(`reserve returned ${response.plates.length} numbers, expected ${reserveAmount}`);
  }
  const rows: Rows = { numbers: [], types: [], regionCodes: [] };
  for (const plate of response.plates) {
    rows.numbers.push(plate.number);
    rows.types.push(toEngineType(plate.type) ?? "UNSPECIFIED");
    rows.regionCodes.push(plate.regionCode);
  }
  return [rows, ms];
}

async function streamOnce(client: Client<typeof PlateService>, amount: number): Promise<[Rows, number]> {
  const rows: Rows = { numbers: [], types: [], regionCodes: [] };
  const [, ms] = await timed(async () => {
    for await (const response of client.generateStream({ amount })) {
      for (const plate of response.plates) {
        rows.numbers.push(plate.number);
        rows.types.push(toEngineType(plate.type) ?? "UNSPECIFIED");
        rows.regionCodes.push(plate.regionCode);
      }
    }
  });
  if (rows.numbers.length !== amount) {
    throw new Error(`stream sent ${rows.numbers.length} numbers, expected ${amount}`);
  }
  return [rows, ms];
}

function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

function renderReport(measurements: Measurement[], environment: Record<string, string>): string {
  const lines = [
    "# Registry benchmark",
    "",
    "Times of the registry operations through a real server and client on a loopback port, next to",
    "a plain SQL insert of the same rows in the same run. Written by `bench/registry.bench.ts`.",
    "",
    "- **Reserve**: one `Generate` call with `reserve = true` and `amount = 10000` over gRPC: drawing,",
    "  one transaction with `INSERT … ON CONFLICT (number) DO NOTHING RETURNING`, and the response.",
    "- **Stream**: one `GenerateStream` call for 1,000,000 unreserved numbers, read to the end by the",
    "  client; each batch of 1000 is checked against the table, which holds the last reserved 10,000.",
    "- **Plain SQL**: `INSERT INTO plates_baseline (number, type, region_code) SELECT * FROM unnest(…)`",
    "  of the rows that the call returned, into an empty table with the columns, defaults and indexes",
    "  of `plates` (`CREATE TABLE … (LIKE plates INCLUDING ALL)`), sent from the benchmark process.",
    "- The ratio is the median time of the call over the median time of the plain SQL insert. The",
    "  stream stores nothing, so its plain SQL counterpart writes 1,000,000 rows and two indexes while",
    "  the call only reads: the ratio prices the stream in units of the insert that a client would run",
    "  on the numbers it received.",
    "",
    "| Operation | Numbers | Runs | Call, median ms | Call, min ms | Numbers/s | Plain SQL, median ms | Ratio |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const measurement of measurements) {
    const callMedian = median(measurement.serviceMs);
    const sqlMedian = median(measurement.sqlMs);
    lines.push(
      `| ${measurement.name} | ${measurement.count.toLocaleString("en-US")} | ${measurement.serviceMs.length} | ${formatMs(callMedian)} | ${formatMs(Math.min(...measurement.serviceMs))} | ${Math.round((measurement.count / callMedian) * 1000).toLocaleString("en-US")} | ${formatMs(sqlMedian)} | ${(callMedian / sqlMedian).toFixed(1)} |`,
    );
  }
  lines.push("", "## Environment", "");
  for (const [name, value] of Object.entries(environment)) {
    lines.push(`- ${name}: ${value}`);
  }
  lines.push("");
  return lines.join("\n");
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(", ");
}

async function main(): Promise<void> {
  const loadAtStart = loadAverage();
  const schema = `plates_bench_${randomBytes(6).toString("hex")}`;
  const db = openDatabase({ kind: "postgres", url: databaseUrl, poolMax: 10, schema });
  const token = randomBytes(16).toString("hex");
  const server = createPlatesServer({
    store: new KnexPlateStore(db),
    tokens: [{ name: "bench", value: token }],
    logger: pino({ level: "silent" }),
    maxRequestBytes: 65_536,
  });

  try {
    await migrateToLatest(db, schema);
    await db.raw("create table plates_baseline (like plates including all)");
    const address = await server.listen(0, "127.0.0.1");
    const baseUrl = `http://127.0.0.1:${address.port}`;
    const grpc = createClient(PlateService, createGrpcTransport({ baseUrl, interceptors: [bearer(token)] }));
    const connect = createClient(
      PlateService,
      createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(token)] }),
    );

    // Warm-up: JIT, pooled connections and the HTTP/2 session.
    await grpc.generate({ amount: 100, reserve: true, type: PlateType.CAR });
    await streamOnce(grpc, 20_000);
    await streamOnce(connect, 20_000);

    const reserve: Measurement = { name: "Reserve 10,000 (gRPC)", count: reserveAmount, serviceMs: [], sqlMs: [] };
    for (let run = 0; run < runs; run++) {
      await db.raw("truncate plates");
      const [rows, ms] = await reserveOnce(grpc);
      reserve.serviceMs.push(ms);
      reserve.sqlMs.push(await insertWithSql(db, rows));
      console.error(`reserve run ${run + 1}: ${formatMs(ms)} ms, SQL ${formatMs(reserve.sqlMs.at(-1) ?? 0)} ms`);
    }

    const streams: Measurement[] = [
      { name: "Stream 1,000,000 (gRPC)", count: streamAmount, serviceMs: [], sqlMs: [] },
      { name: "Stream 1,000,000 (Connect, binary, HTTP/1.1)", count: streamAmount, serviceMs: [], sqlMs: [] },
    ];
    for (let run = 0; run < streamRuns; run++) {
      for (const [index, client] of [grpc, connect].entries()) {
        const measurement = streams[index];
        if (measurement === undefined) {
          continue;
        }
        const [rows, ms] = await streamOnce(client, streamAmount);
        measurement.serviceMs.push(ms);
        measurement.sqlMs.push(await insertWithSql(db, rows));
        console.error(`${measurement.name} run ${run + 1}: ${formatMs(ms)} ms, SQL ${formatMs(measurement.sqlMs.at(-1) ?? 0)} ms`);
      }
    }

    const versionRows = await db.raw<{ rows: { server_version: string }[] }>("show server_version");
    const cpu = os.cpus()[0]?.model ?? "unknown";
    const environment = {
      Date: new Date().toISOString().slice(0, 10),
      Command: `\`tsx bench/registry.bench.ts --runs ${runs} --stream-runs ${streamRuns}\``,
      CPU: `${cpu}, ${os.availableParallelism()} cores available`,
      Memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      "Node.js": process.version,
      PostgreSQL: `${versionRows.rows[0]?.server_version ?? "unknown"} on the same machine, over TCP on 127.0.0.1`,
      "Load average (1, 5, 15 min)": `${loadAtStart} at the start, ${loadAverage()} at the end`,
      Note: "server, client and PostgreSQL share the machine, so the figures are for comparison within one run, not capacity",
    };
    const measurements = [reserve, ...streams];
    const report = renderReport(measurements, environment);
    await writeFile(path.resolve(options.output), report);
    console.log(report);
  } finally {
    await server.close(1_000);
    await db.raw("drop schema if exists ?? cascade", [schema]);
    await db.destroy();
  }
}

await main();
