import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import knex, { type Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient } from "./support/clients.ts";
import { testDatabaseUrl } from "./support/server.ts";
import { killLeftovers, startService, stopService, waitForAddress, type ServiceProcess } from "./support/service-process.ts";

// Two server processes on one PostgreSQL database, as replicas behind a load
// balancer would run. The database is created for this suite and dropped.
describe("two replicas on one database", () => {
  const token = randomBytes(16).toString("hex");
  const databaseName = `plates_replicas_${randomBytes(4).toString("hex")}`;
  let admin: Knex;
  let db: Knex;
  let dataDir: string;
  const replicas: ServiceProcess[] = [];
  const baseUrls: string[] = [];

  beforeAll(async () => {
    admin = knex({ client: "pg", connection: testDatabaseUrl, pool: { min: 0, max: 1 } });
    await admin.raw("create database ??", [databaseName]);
    const url = new URL(testDatabaseUrl);
    url.pathname = `/${databaseName}`;
    db = knex({ client: "pg", connection: url.toString(), pool: { min: 0, max: 2 } });
    dataDir = await mkdtemp(path.join(tmpdir(), "plates-replicas-"));

    // Both start at once, so both run the migrations and race for their lock.
    for (const name of ["a", "b"]) {
      replicas.push(
        startService({
          DATABASE_URL: url.toString(),
          API_TOKENS: token,
          DATA_DIR: path.join(dataDir, name),
          DB_POOL_MAX: "4",
        }),
      );
    }
    for (const replica of replicas) {
      baseUrls.push(`http://${await waitForAddress(replica)}`);
    }
  });

  afterAll(async () => {
    for (const replica of replicas) {
      await stopService(replica);
    }
    await killLeftovers();
    await db?.destroy();
    await admin?.raw("drop database if exists ?? with (force)", [databaseName]);
    await admin?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("both replicas start on fresh database", () => {
    expect(baseUrls).toHaveLength(2);
  });

  it("stores each number once across replicas", async () => {
    const numbers = Array.from({ length: 20 }, (_, index) => `К${String(100 + index)}МР77`);
    const spellings = (number: string) => [number, number.toLowerCase(), number.replace("К", "K").replace("М", "M")];
    const calls = numbers.flatMap((number) =>
      spellings(number).flatMap((spelling, index) =>
        baseUrls.map((baseUrl) =>
          connectClient(index % 2 === 0 ? "grpc" : "connect", baseUrl, token)
            .add({ number: spelling })
            .then(
              (response) => ({ number, ok: true, code: undefined as Code | undefined, id: response.plate?.id }),
              (error: unknown) => ({ number, ok: false, code: ConnectError.from(error).code, id: undefined }),
            ),
        ),
      ),
    );
    const results = await Promise.all(calls);

    for (const number of numbers) {
      const forNumber = results.filter((result) => result.number === number);
      expect(forNumber.filter((result) => result.ok)).toHaveLength(1);
      expect(forNumber.filter((result) => !result.ok).every((result) => result.code === Code.AlreadyExists)).toBe(true);
    }
    const stored: { number: string }[] = await db("plates").select("number").whereIn("number", numbers);
    expect(stored.map((row) => row.number).sort()).toEqual([...numbers].sort());
  });

  it("never reserves one number twice across replicas", async () => {
    // Region 77 and series АВС hold 999 car numbers; 800 are reserved in 16
    // concurrent calls spread over both replicas.
    const calls = Array.from({ length: 16 }, (_, index) =>
      connectClient("grpc", baseUrls[index % 2] ?? "", token).generate({
        amount: 50,
        reserve: true,
        regionCodes: ["77"],
        series: "АВС",
      }),
    );
    const responses = await Promise.all(calls);
    const numbers = responses.flatMap((response) => response.plates.map((plate) => plate.number));
    expect(numbers).toHaveLength(800);
    expect(new Set(numbers).size).toBe(800);
    for (const plate of responses.flatMap((response) => response.plates)) {
      expect(plate.id).not.toBe("");
    }
    const stored: { number: string }[] = await db("plates").select("number").whereIn("number", numbers);
    expect(stored).toHaveLength(800);
  });
});
