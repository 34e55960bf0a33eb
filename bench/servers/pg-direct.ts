// The queries of Get, Add and Generate sent from a plain pg pool with no RPC
// layer. This process runs the load itself: the bench sends it jobs over IPC,
// and it replies to each with a LoadResult.
import { randomInt } from "node:crypto";
import pg from "pg";
import { plateNumberAt } from "../plate-numbers.ts";
import { countFailure, summarize, type LoadResult } from "../stats.ts";
import { readChildSettings } from "./child.ts";

/** A load run for this process. */
export interface PgJob {
  rpc: "Get" | "Add" | "Generate";
  calls: number;
  inFlight: number;
  /** Id of a stored plate, for Get. */
  id: string;
  /** Index of the first plate number that Add inserts; see plateNumberAt. */
  firstIndex: number;
}

// The statements that Knex builds for KnexPlateStore.get, add and findStored.
const getSql = 'select "id", "number", "created_at", "type", "region_code" from "plates" where "id" = $1 limit $2';
const addSql =
  'insert into "plates" ("number", "region_code", "type") values ($1, $2, $3) on conflict ("number") do nothing returning "id", "number", "created_at", "type", "region_code"';
const findStoredSql = 'select "number" from "plates" where number = any($1::text[])';
// Candidates that one Generate of 100 numbers checks in its first round:
// 100 × 1.25 + 8, the oversampling of src/service/generate.ts.
const generateCandidates = 133;

const settings = readChildSettings();
const pool = new pg.Pool({
  connectionString: settings.databaseUrl,
  max: 10,
  options: `-c search_path=${settings.schema}`,
});

async function runJob(job: PgJob): Promise<LoadResult> {
  const latencies = new Float64Array(job.calls);
  const failures: Record<string, number> = {};
  let next = 0;
  let ok = 0;
  const call = async (index: number) => {
    switch (job.rpc) {
      case "Get":
        return pool.query(getSql, [job.id, 1]);
      case "Add": {
        const number = plateNumberAt(job.firstIndex + index);
        return pool.query(addSql, [number, number.slice(6), "CAR"]);
      }
      case "Generate": {
        const candidates = Array.from({ length: generateCandidates }, () => plateNumberAt(randomInt(20_000_000)));
        return pool.query(findStoredSql, [candidates]);
      }
    }
  };
  const worker = async () => {
    for (let index = next++; index < job.calls; index = next++) {
      const started = performance.now();
      try {
        await call(index);
        ok++;
      } catch (error) {
        countFailure(failures, (error as { code?: string }).code ?? String(error));
      }
      latencies[index] = performance.now() - started;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: job.inFlight }, worker));
  return summarize(latencies, (performance.now() - started) / 1000, ok, failures);
}

process.on("message", (job: PgJob) => {
  runJob(job).then(
    (result) => process.send?.({ result }),
    (error: unknown) => process.send?.({ error: String(error) }),
  );
});
process.on("SIGTERM", () => {
  void pool.end().finally(() => process.exit(0));
});
process.send?.({ ready: true, port: 0, pids: [process.pid] });
