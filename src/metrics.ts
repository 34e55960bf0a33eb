import type { Knex } from "knex";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of the service. */
export interface Metrics {
  registry: Registry;
  /** Records a finished call: its procedure, code name ("ok", "not_found", …), duration and token name. */
  observeCall(procedure: string, code: string, seconds: number, token: string | undefined): void;
}

// Milliseconds a count of stored plates is reused, because counting a large
// table on every scrape would load the database.
const storedCountTtlMs = 15_000;

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/**
 * Creates the metrics on a registry of their own: calls by procedure and
 * code, a latency histogram, calls by token name, database pool use, the
 * count of stored plates, and Node's process metrics.
 */
export function createMetrics(db: Knex): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "plates_" });

  const calls = new Counter({
    name: "plates_rpc_calls_total",
    help: "Finished RPC calls by procedure and code.",
    labelNames: ["procedure", "code"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "plates_rpc_duration_seconds",
    help: "Duration of RPC calls in seconds, by procedure.",
    labelNames: ["procedure"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const tokenCalls = new Counter({
    name: "plates_token_calls_total",
    help: "Authenticated calls by token name.",
    labelNames: ["token"] as const,
    registers: [registry],
  });

  new Gauge({
    name: "plates_db_pool_connections",
    help: "Database pool connections by state: used, free, and callers waiting for one (pending).",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const pool = (db.client as { pool?: TarnPool }).pool;
      if (pool === undefined) {
        return;
      }
      this.set({ state: "used" }, pool.numUsed());
      this.set({ state: "free" }, pool.numFree());
      this.set({ state: "pending" }, pool.numPendingAcquires());
    },
  });

  let storedCount: { value: number; at: number } | undefined;
  new Gauge({
    name: "plates_stored",
    help: "Count of stored plates, refreshed at most every 15 seconds.",
    registers: [registry],
    async collect() {
      const now = Date.now();
      if (storedCount === undefined || now - storedCount.at > storedCountTtlMs) {
        try {
          const rows: { count: string | number }[] = await db("plates").count("* as count");
          storedCount = { value: Number(rows[0]?.count ?? 0), at: now };
        } catch {
          // The database is unreachable: leave the gauge unset rather than fail the scrape.
          return;
        }
      }
      this.set(storedCount.value);
    },
  });

  return {
    registry,
    observeCall: (procedure, code, seconds, token) => {
      calls.inc({ procedure, code });
      duration.observe({ procedure }, seconds);
      if (token !== undefined) {
        tokenCalls.inc({ token });
      }
    },
  };
}
