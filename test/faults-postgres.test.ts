import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Knex } from "knex";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { plateNumberAt } from "../bench/plate-numbers.ts";
import { migrateToLatest, openDatabase } from "../src/db/database.ts";
import { createPlatesServer, type PlatesServer } from "../src/server.ts";
import { KnexPlateStore } from "../src/store/plate-store.ts";
import { connectClient } from "./support/clients.ts";
import { startPgInstance, type PgInstance } from "./support/pg-instance.ts";

// Client deadline of each Add. A call that waits on a stopped database ends
// with DEADLINE_EXCEEDED at this point, which the test counts as a hang.
const callTimeoutMs = 5_000;
// A call made while the database is down must fail within this many
// milliseconds to count as failing fast.
const failFastMs = 1_000;
// After the restart, the first successful Add must come within this time.
const recoveryLimitMs = 5_000;
const workers = 8;

/** Outcome of one Add of the load. */
interface AddResult {
  number: string;
  startedAt: number;
  endedAt: number;
  code: Code | "ok";
  id?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("PostgreSQL stopped under load", () => {
  const token = randomBytes(16).toString("hex");
  let instance: PgInstance;
  let db: Knex;
  let server: PlatesServer;
  let baseUrl: string;

  beforeAll(async () => {
    instance = await startPgInstance();
    db = openDatabase({ kind: "postgres", url: instance.url(), poolMax: 4 });
    await migrateToLatest(db);
    server = createPlatesServer({
      store: new KnexPlateStore(db),
      tokens: [{ name: "test", value: token }],
      logger: pino({ level: "silent" }),
      maxRequestBytes: 65_536,
    });
    const address = await server.listen(0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    await server?.close(1_000);
    await db?.destroy();
    await instance?.destroy();
  });

  it("fails fast, recovers, loses no Add", { timeout: 60_000 }, async () => {
    const client = connectClient("grpc", baseUrl, token);
    const results: AddResult[] = [];
    let nextIndex = 0;
    let loading = true;

    const worker = async () => {
      while (loading) {
        const number = plateNumberAt(nextIndex++);
        const startedAt = performance.now();
        try {
          const response = await client.add({ number }, { timeoutMs: callTimeoutMs });
          results.push({ number, startedAt, endedAt: performance.now(), code: "ok", id: response.plate?.id });
        } catch (error) {
          results.push({ number, startedAt, endedAt: performance.now(), code: ConnectError.from(error).code });
          // Keep a failing loop from spinning at full speed.
          await sleep(10);
        }
      }
    };
    const load = Promise.all(Array.from({ length: workers }, worker));

    await sleep(1_500);
    const stopStartedAt = performance.now();
    await instance.stop("fast");
    const stoppedAt = performance.now();
    await sleep(3_000);
    const restartStartedAt = performance.now();
    await instance.start();
    const restartedAt = performance.now();

    // Keep loading until an Add started after the restart has succeeded for 2 s,
    // or until the recovery limit has passed.
    const loadLimit = restartedAt + recoveryLimitMs + 2_000;
    for (;;) {
      const firstOk = results.find((result) => result.code === "ok" && result.startedAt > restartedAt);
      if ((firstOk !== undefined && performance.now() > firstOk.endedAt + 2_000) || performance.now() > loadLimit) {
        break;
      }
      await sleep(100);
    }
    loading = false;
    await load;

    const before = results.filter((result) => result.endedAt < stopStartedAt);
    expect(before.length).toBeGreaterThan(0);
    expect(before.filter((result) => result.code !== "ok")).toEqual([]);

    // Calls made wholly while the server was down.
    const down = results.filter((result) => result.startedAt > stoppedAt && result.endedAt < restartStartedAt);
    expect(down.length).toBeGreaterThanOrEqual(10);
    expect(down.filter((result) => result.code !== Code.Unavailable)).toEqual([]);
    const slowest = Math.max(...down.map((result) => result.endedAt - result.startedAt));
    expect(slowest).toBeLessThan(failFastMs);

    // No call at any time ends with anything but OK or UNAVAILABLE: a
    // DEADLINE_EXCEEDED would be a call that hung on the database.
    const otherCodes = results.filter((result) => result.code !== "ok" && result.code !== Code.Unavailable);
    expect(otherCodes).toEqual([]);

    const firstOkAfter = results
      .filter((result) => result.code === "ok" && result.startedAt > restartedAt)
      .sort((a, b) => a.endedAt - b.endedAt)[0];
    expect(firstOkAfter).toBeDefined();
    expect(firstOkAfter!.endedAt - restartedAt).toBeLessThan(recoveryLimitMs);
    const settled = results.filter((result) => result.startedAt > firstOkAfter!.endedAt + 500);
    expect(settled.length).toBeGreaterThan(0);
    expect(settled.filter((result) => result.code !== "ok")).toEqual([]);

    const acknowledged = results.filter((result) => result.code === "ok");
    const ids = acknowledged.map((result) => result.id);
    expect(ids.every((id) => typeof id === "string")).toBe(true);
    const stored: { id: string; number: string }[] = await db("plates").select("id", "number").whereIn("id", ids as string[]);
    const storedNumbers = new Map(stored.map((row) => [row.id, row.number]));
    const missing = acknowledged.filter((result) => storedNumbers.get(result.id!) !== result.number);
    expect(missing).toEqual([]);
  });
});
