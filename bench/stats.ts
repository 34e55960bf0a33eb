/** Outcome of one load run, as every load generator of the bench reports it. */
export interface LoadResult {
  /** Calls sent. */
  calls: number;
  /** Calls that ended with OK (gRPC status 0, or HTTP 200 for the Connect protocol). */
  ok: number;
  /** Failed calls by gRPC code name, HTTP status or transport error. */
  failures: Record<string, number>;
  seconds: number;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Returns the `fraction` quantile of ascending `sorted` values (nearest rank). */
export function quantile(sorted: ArrayLike<number>, fraction: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank]!;
}

/** Summarizes per-call latencies in milliseconds into a LoadResult. */
export function summarize(latenciesMs: Float64Array | number[], seconds: number, ok: number, failures: Record<string, number>): LoadResult {
  const sorted = Float64Array.from(latenciesMs).sort();
  return {
    calls: sorted.length,
    ok,
    failures,
    seconds,
    callsPerSecond: sorted.length / seconds,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
  };
}

/** Adds one failure of `kind` to a failure count. */
export function countFailure(failures: Record<string, number>, kind: string): void {
  failures[kind] = (failures[kind] ?? 0) + 1;
}
