import type { IncomingHttpHeaders } from "node:http";

// Node's timers hold at most 2^31 - 1 ms (about 24.8 days). A longer delay
// fires after 1 ms instead, so a longer client deadline would end the call
// at once.
const maxTimerMs = 2 ** 31 - 1;
const grpcUnitsMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * Lowers client deadlines that Node's timers cannot hold to the longest
 * they can, in place. Malformed values are left for Connect to reject.
 */
export function clampTimeoutHeaders(headers: IncomingHttpHeaders): void {
  const grpcTimeout = headers["grpc-timeout"];
  if (typeof grpcTimeout === "string") {
    const match = /^(\d{1,8})([HMSmun])$/.exec(grpcTimeout);
    if (match !== null && Number(match[1]) * (grpcUnitsMs[match[2] ?? ""] ?? 0) > maxTimerMs) {
      headers["grpc-timeout"] = `${Math.floor(maxTimerMs / 1_000)}S`;
    }
  }
  const connectTimeout = headers["connect-timeout-ms"];
  if (typeof connectTimeout === "string" && /^\d{1,10}$/.test(connectTimeout) && Number(connectTimeout) > maxTimerMs) {
    headers["connect-timeout-ms"] = String(maxTimerMs);
  }
}
