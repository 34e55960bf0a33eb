import { Code, ConnectError } from "@connectrpc/connect";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KnexPlateStore, type NewPlate } from "../src/store/plate-store.ts";
import { connectClient } from "./support/clients.ts";
import { countPlates } from "./support/registry.ts";
import { backends, createTestDatabase, startTestServer, type TestDatabase, type TestServer } from "./support/server.ts";

interface PoolStats {
  numUsed(): number;
  numPendingAcquires(): number;
}

function poolOf(db: Knex): PoolStats {
  return (db.client as { pool: PoolStats }).pool;
}

function car(serial: number, regionCode = "36"): NewPlate {
  return { number: `К${String(serial).padStart(3, "0")}КК${regionCode}`, type: "CAR", regionCode };
}

describe("writes with a pool of 2 connections on postgres", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("postgres", { poolMax: 2 });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("finishes 30 failing and 30 succeeding reservations and frees the pool", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const full = { regionCodes: ["31"], series: "ВОР" };
    await client.generate({ ...full, amount: 999, reserve: true });
    const before = await countPlates(server.database.db);

    // Each failing call inserts nothing new, finds the space full and throws
    // inside its transaction; each succeeding one stores 5 numbers.
    const calls = Array.from({ length: 60 }, (_, index) => {
      const request = index % 2 === 0 ? { ...full, amount: 1, reserve: true } : { amount: 5, reserve: true, regionCodes: ["32"] };
      return client.generate(request, { timeoutMs: 30_000 }).then(
        (response) => ({ ok: true as const, count: response.plates.length }),
        (error: unknown) => ({ ok: false as const, code: ConnectError.from(error).code }),
      );
    });
    const results = await Promise.all(calls);

    const failed = results.filter((result) => !result.ok);
    const succeeded = results.filter((result) => result.ok);
    expect(failed).toHaveLength(30);
    expect(failed.every((result) => result.code === Code.ResourceExhausted)).toBe(true);
    expect(succeeded).toHaveLength(30);
    expect(succeeded.every((result) => result.count === 5)).toBe(true);
    expect(await countPlates(server.database.db)).toBe(before + 30 * 5);

    const pool = poolOf(server.database.db);
    expect(pool.numUsed()).toBe(0);
    expect(pool.numPendingAcquires()).toBe(0);
    const after = await client.generate({ amount: 3, reserve: true });
    expect(after.plates).toHaveLength(3);
  });
});

describe.each(backends)("store transactions on %s", (backend) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(backend, undefined, { poolMax: 2 });
  });

  afterAll(async () => {
    await database?.drop();
  });

  it("ends 30 throwing and 30 committing transactions", async () => {
    const store = new KnexPlateStore(database.db);
    const works = Array.from({ length: 60 }, (_, index) =>
      store
        .transaction(async (transaction) => {
          const inserted = await transaction.addNew([car(index + 1)], 1);
          expect(inserted).toHaveLength(1);
          await new Promise((resolve) => setTimeout(resolve, 2));
          if (index % 2 === 0) {
            throw new Error(`handler failure ${index}`);
          }
          return inserted;
        })
        .then(
          () => "committed",
          (error: unknown) => (error as Error).message,
        ),
    );
    const outcomes = await Promise.all(works);

    expect(outcomes.filter((outcome) => outcome === "committed")).toHaveLength(30);
    expect(outcomes.filter((outcome) => outcome.startsWith("handler failure"))).toHaveLength(30);
    const stored: { number: string }[] = await database.db("plates").select("number").where("region_code", "36");
    const expected = Array.from({ length: 30 }, (_, index) => car(2 * index + 2).number);
    expect(stored.map((row) => row.number).sort()).toEqual(expected.sort());

    if (backend === "postgres") {
      expect(poolOf(database.db).numUsed()).toBe(0);
      expect(poolOf(database.db).numPendingAcquires()).toBe(0);
    }
    expect(await store.findStored([car(2).number])).toEqual(new Set([car(2).number]));
  });

  // PostgreSQL at READ COMMITTED lets a transaction see rows that others
  // commit meanwhile, so this holds for the one connection of PGlite only.
  it.runIf(backend === "pglite")("serializes concurrent transactions", async () => {
    const store = new KnexPlateStore(database.db);
    const region = "37";
    // Each transaction counts the region's rows, inserts one, yields to the
    // event loop and counts again. Statements of another transaction run in
    // between on the one connection would change the second count.
    const works = Array.from({ length: 20 }, (_, index) =>
      store.transaction(async (transaction) => {
        const space = { type: "CAR", regionCodes: [region] };
        const before = await transaction.countStored(space);
        await transaction.addNew([car(index + 1, region)], 1);
        await new Promise((resolve) => setTimeout(resolve, 5));
        const own = await transaction.countStored(space);
        return { before, own };
      }),
    );
    const counts = await Promise.all(works);

    for (const { before, own } of counts) {
      expect(own).toBe(before + 1);
    }
    // Each transaction saw every transaction that committed before it.
    expect(counts.map((count) => count.before).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, index) => index));
  });

  it.runIf(backend === "postgres")("runs a transaction again after a deadlock", { timeout: 20_000 }, async () => {
    const store = new KnexPlateStore(database.db);
    const first = car(901, "38");
    const second = car(902, "38");
    let attempts = 0;
    let release: () => void = () => {};
    const bothInserted = new Promise<void>((resolve) => {
      let inserted = 0;
      release = () => {
        inserted++;
        if (inserted === 2) {
          resolve();
        }
      };
    });

    // Each transaction inserts one number, waits until the other has
    // inserted its own, then inserts the other's: a lock cycle that
    // PostgreSQL breaks by aborting one of them.
    const cross = (own: NewPlate, other: NewPlate) =>
      store.transaction(async (transaction) => {
        attempts++;
        const firstAttempt = attempts <= 2;
        await transaction.addNew([own], 1);
        if (firstAttempt) {
          release();
          await bothInserted;
        }
        await transaction.addNew([other], 1);
      });
    await Promise.all([cross(first, second), cross(second, first)]);

    expect(attempts).toBe(3);
    expect(await store.findStored([first.number, second.number])).toEqual(new Set([first.number, second.number]));
  });
});
