import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { methodPath, requestHeaders, type BenchProtocol, type BenchRpc } from "../messages.ts";
import { countFailure, summarize, type LoadResult } from "../stats.ts";

const run = promisify(execFile);

/** A load run of h2load: every call sends the same body. */
export interface H2loadJob {
  port: number;
  protocol: BenchProtocol;
  rpc: BenchRpc;
  body: Buffer;
  calls: number;
  connections: number;
  /** Calls in flight on each connection (h2load -m). */
  streams: number;
  token: string | undefined;
}

/** Returns whether h2load (Debian package nghttp2-client) is on the PATH. */
export async function hasH2load(): Promise<boolean> {
  try {
    await run("h2load", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs h2load over cleartext HTTP/2 (prior knowledge) and computes p50 and
 * p99 from its per-request log. h2load checks only the HTTP status, and a
 * gRPC error comes with status 200, so it counts as OK here. The bench checks
 * gRPC codes apart from this, in the server's call log.
 */
export async function runH2load(job: H2loadJob): Promise<LoadResult> {
  const folder = await mkdtemp(path.join(tmpdir(), "plates-h2load-"));
  try {
    const bodyFile = path.join(folder, "body");
    const logFile = path.join(folder, "requests.log");
    await writeFile(bodyFile, job.body);
    const headerArgs = Object.entries(requestHeaders(job.protocol, job.token)).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
    const { stdout } = await run(
      "h2load",
      [
        "-n",
        String(job.calls),
        "-c",
        String(job.connections),
        "-m",
        String(job.streams),
        "-t",
        "1",
        "-d",
        bodyFile,
        ...headerArgs,
        `--log-file=${logFile}`,
        `http://127.0.0.1:${job.port}${methodPath(job.rpc)}`,
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
    );
    const finished = /finished in ([\d.]+)(m?s)/.exec(stdout);
    if (finished === null) {
      throw new Error(`unexpected h2load output:\n${stdout}`);
    }
    const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);

    const lines = (await readFile(logFile, "utf8")).split("\n").filter((line) => line !== "");
    const latencies = new Float64Array(lines.length);
    const failures: Record<string, number> = {};
    let ok = 0;
    lines.forEach((line, index) => {
      const [, status, micros] = line.split("\t");
      latencies[index] = Number(micros) / 1000;
      if (status === "200") {
        ok++;
      } else {
        countFailure(failures, `HTTP ${status}`);
      }
    });
    const result = summarize(latencies, seconds, ok, failures);
    // Calls that h2load never completed (connection errors) have no log row.
    const missing = job.calls - lines.length;
    if (missing > 0) {
      failures["not completed"] = missing;
    }
    return { ...result, calls: job.calls };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
