// A load generator on Node's own HTTP/2 client, for calls whose bodies must
// differ (each Add stores a new number, which h2load cannot send). It runs in
// a process of its own, so it takes the other core rather than the server's.
// The bench sends it jobs over IPC, and it replies to each with a LoadResult.
import http2 from "node:http2";
import { plateNumberAt } from "../plate-numbers.ts";
import { methodPath, requestBody, requestHeaders, type BenchProtocol, type BenchRpc } from "../messages.ts";
import { countFailure, summarize, type LoadResult } from "../stats.ts";

/** A load run for this process. */
export interface NodeLoadJob {
  port: number;
  protocol: BenchProtocol;
  rpc: BenchRpc;
  calls: number;
  connections: number;
  /** Calls in flight on each connection. */
  streams: number;
  token: string;
  /** Id of a stored plate, for Get. */
  id: string;
  /** Index of the first plate number that Add sends; see plateNumberAt. */
  firstIndex: number;
}

/** Sends one call and resolves with "ok" or the name of its failure. */
function sendCall(session: http2.ClientHttp2Session, job: NodeLoadJob, headers: http2.OutgoingHttpHeaders, index: number): Promise<string> {
  const body = requestBody(job.protocol, job.rpc, { id: job.id, number: plateNumberAt(job.firstIndex + index) });
  return new Promise((resolve) => {
    const stream = session.request({ ...headers, "content-length": body.length });
    let status = 0;
    let grpcStatus: string | undefined;
    stream.on("response", (responseHeaders) => {
      status = Number(responseHeaders[":status"]);
      grpcStatus = responseHeaders["grpc-status"] as string | undefined;
    });
    stream.on("trailers", (trailers) => {
      grpcStatus = (trailers["grpc-status"] as string | undefined) ?? grpcStatus;
    });
    // Responses are read and dropped: only the status matters here.
    stream.on("data", () => {});
    stream.on("error", (error) => resolve(`transport ${error.message}`));
    stream.on("close", () => {
      if (job.protocol === "grpc") {
        resolve(grpcStatus === "0" ? "ok" : `grpc-status ${grpcStatus ?? "missing"}`);
      } else {
        resolve(status === 200 ? "ok" : `HTTP ${status}`);
      }
    });
    stream.end(body);
  });
}

async function runJob(job: NodeLoadJob): Promise<LoadResult> {
  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": methodPath(job.rpc),
    ...requestHeaders(job.protocol, job.token),
  };
  const sessions = await Promise.all(
    Array.from(
      { length: job.connections },
      () =>
        new Promise<http2.ClientHttp2Session>((resolve, reject) => {
          const session = http2.connect(`http://127.0.0.1:${job.port}`);
          session.once("connect", () => resolve(session));
          session.once("error", reject);
        }),
    ),
  );
  const latencies = new Float64Array(job.calls);
  const failures: Record<string, number> = {};
  let ok = 0;
  let next = 0;
  const loop = async (session: http2.ClientHttp2Session) => {
    for (let index = next++; index < job.calls; index = next++) {
      const started = performance.now();
      const outcome = await sendCall(session, job, headers, index);
      latencies[index] = performance.now() - started;
      if (outcome === "ok") {
        ok++;
      } else {
        countFailure(failures, outcome);
      }
    }
  };
  const started = performance.now();
  await Promise.all(sessions.flatMap((session) => Array.from({ length: job.streams }, () => loop(session))));
  const seconds = (performance.now() - started) / 1000;
  for (const session of sessions) {
    session.close();
  }
  return summarize(latencies, seconds, ok, failures);
}

process.on("message", (job: NodeLoadJob) => {
  runJob(job).then(
    (result) => process.send?.({ result }),
    (error: unknown) => process.send?.({ error: String(error) }),
  );
});
process.on("SIGTERM", () => process.exit(0));
process.send?.({ ready: true, port: 0, pids: [process.pid] });
