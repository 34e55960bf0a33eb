import type { BenchProtocol, BenchRpc } from "./messages.ts";
import { formatProfile, type ProfileSummary } from "./profile-summary.ts";
import type { LoadResult } from "./stats.ts";

/** One measured run: a target, an RPC, a protocol and a count of calls in flight. */
export interface RunResult extends LoadResult {
  target: string;
  workers: number;
  rpc: BenchRpc;
  protocol: BenchProtocol | "none";
  inFlight: number;
  generator: "h2load" | "node" | "in-process";
  /** Peak summed VmRSS of the target's processes during the run, sampled every 100 ms. */
  peakRssBytes: number;
  /** CPU time that the target's processes used per call, in microseconds. */
  cpuMicrosPerCall: number;
  /** Call log lines of the run by code, for targets that write them. */
  callCodes?: Record<string, number>;
}

export interface SoakResult {
  rpc: BenchRpc;
  protocol: BenchProtocol;
  inFlight: number;
  baselineRssBytes: number;
  chunks: { calls: number; callsPerSecond: number; p99Ms: number; rssBytes: number; notOk: number }[];
}

export interface BenchReport {
  label: string;
  startedAt: string;
  finishedAt?: string;
  machine: {
    node: string;
    cpu: string;
    cores: number;
    memoryGiB: number;
    loadAverageAtStart: number[];
    loadAverageAtEnd?: number[];
  };
  serverNodeFlags: string[];
  notes: string[];
  results: RunResult[];
  soak?: SoakResult;
  profiles?: { name: string; file: string; callsPerSecond: number; summary: ProfileSummary }[];
}

const megabytes = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const rate = (value: number) => value.toFixed(0);
const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));
const ratio = (value: number | undefined, base: number | undefined) =>
  value === undefined || base === undefined || base === 0 ? "–" : `${(value / base).toFixed(2)}`;

/** Number of calls that did not end OK, by the generator's count and by the server's call log. */
function notOk(result: RunResult): number {
  const fromLoad = result.calls - result.ok;
  const fromLog = result.callCodes === undefined ? 0 : Object.entries(result.callCodes).filter(([code]) => code !== "ok").reduce((sum, [, count]) => sum + count, 0);
  return Math.max(fromLoad, fromLog);
}

function find(results: RunResult[], target: string, workers: number, rpc: BenchRpc, protocol: BenchProtocol | "none", inFlight: number): RunResult | undefined {
  return results.find((result) => result.target === target && result.workers === workers && result.rpc === rpc && result.protocol === protocol && result.inFlight === inFlight);
}

/** Renders the results as Markdown: our server beside each alternative, then every run. */
export function renderReport(report: BenchReport): string {
  const lines: string[] = [];
  const { machine } = report;
  lines.push(`Run ${report.label === "" ? "" : `"${report.label}" `}from ${report.startedAt} to ${report.finishedAt ?? "?"}`);
  lines.push(
    `on ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}; load average ${machine.loadAverageAtStart.map((value) => value.toFixed(2)).join(" ")} at the start, ${(machine.loadAverageAtEnd ?? []).map((value) => value.toFixed(2)).join(" ")} at the end.`,
  );
  if (report.serverNodeFlags.length > 0) {
    lines.push(`Server Node options: \`${report.serverNodeFlags.join(" ")}\`.`);
  }
  for (const note of report.notes) {
    lines.push(`Note: ${note}.`);
  }
  lines.push("");

  const ours = report.results.filter((result) => result.target === "plates");
  if (ours.length > 0) {
    lines.push("Our server beside the alternatives (ratios are our calls/s divided by theirs, same RPC and calls in flight;");
    lines.push("@grpc/grpc-js serves gRPC only, so Connect JSON rows compare with its gRPC figure):");
    lines.push("");
    lines.push("| RPC | protocol | procs | in flight | calls/s | p50 ms | p99 ms | CPU µs/call | peak RSS MB | not OK | ÷ grpc-js | ÷ bare Connect | ÷ pg pool |");
    lines.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const result of ours) {
      const grpcJs = find(report.results, "grpc-js", result.workers, result.rpc, "grpc", result.inFlight);
      const bare = find(report.results, "bare-connect", 1, result.rpc, result.protocol, result.inFlight);
      const pg = find(report.results, "pg", 1, result.rpc, "none", result.inFlight);
      lines.push(
        `| ${result.rpc} | ${result.protocol} | ${result.workers} | ${result.inFlight} | ${rate(result.callsPerSecond)} | ${ms(result.p50Ms)} | ${ms(result.p99Ms)} | ${rate(result.cpuMicrosPerCall)} | ${megabytes(result.peakRssBytes)} | ${notOk(result)} | ${ratio(result.callsPerSecond, grpcJs?.callsPerSecond)} | ${ratio(result.callsPerSecond, bare?.callsPerSecond)} | ${ratio(result.callsPerSecond, pg?.callsPerSecond)} |`,
      );
    }
    lines.push("");
  }

  if (report.results.length > 0) {
    lines.push("Every run:");
    lines.push("");
    lines.push("| target | procs | RPC | protocol | in flight | generator | calls | calls/s | p50 ms | p99 ms | CPU µs/call | peak RSS MB | not OK |");
    lines.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const result of report.results) {
      lines.push(
        `| ${result.target} | ${result.workers} | ${result.rpc} | ${result.protocol} | ${result.inFlight} | ${result.generator} | ${result.calls} | ${rate(result.callsPerSecond)} | ${ms(result.p50Ms)} | ${ms(result.p99Ms)} | ${rate(result.cpuMicrosPerCall)} | ${megabytes(result.peakRssBytes)} | ${notOk(result)} |`,
      );
    }
    lines.push("");
    const over = report.results.filter((result) => result.inFlight >= 256 && result.peakRssBytes >= 200 * 2 ** 20 && result.target === "plates");
    lines.push(
      over.length === 0
        ? "Peak RSS of our server under 256 calls in flight: below 200 MB in every run."
        : `Peak RSS of our server under 256 calls in flight reached 200 MB or more in ${over.length} runs.`,
    );
    lines.push("");
  }

  if (report.soak !== undefined) {
    const { soak } = report;
    lines.push(`Soak: ${soak.rpc} over ${soak.protocol}, ${soak.inFlight} in flight; RSS ${megabytes(soak.baselineRssBytes)} MB after the warm-up.`);
    lines.push("");
    lines.push("| calls | calls/s | p99 ms | RSS MB | not OK |");
    lines.push("|---|---|---|---|---|");
    for (const chunk of soak.chunks) {
      lines.push(`| ${chunk.calls} | ${rate(chunk.callsPerSecond)} | ${ms(chunk.p99Ms)} | ${(chunk.rssBytes / 2 ** 20).toFixed(1)} | ${chunk.notOk} |`);
    }
    lines.push("");
  }

  for (const profile of report.profiles ?? []) {
    lines.push(`Profile ${profile.name} (${rate(profile.callsPerSecond)} calls/s while profiled; ${profile.file}):`);
    lines.push("");
    lines.push(formatProfile(profile.summary));
    lines.push("");
  }
  return `${lines.join("\n")}\n`;
}
