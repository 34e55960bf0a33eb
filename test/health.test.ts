import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { Knex } from "knex";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/health/v1/health_pb.ts";
import { openDatabase } from "../src/db/database.ts";
import { createPlatesServer, type PlatesServer } from "../src/server.ts";
import { KnexPlateStore } from "../src/store/plate-store.ts";
import { startPgInstance, type PgInstance } from "./support/pg-instance.ts";

// Milliseconds between database checks while a Watch call is open. It is
// short, so that Watch reports changes to the test quickly.
const watchIntervalMs = 200;
const waitTimeoutMs = 15_000;

/** Collects the statuses of one Watch call as they arrive. */
interface WatchRecorder {
  statuses: ServingStatus[];
  /** Resolves once the call has ended, with its error if it failed. */
  ended: Promise<ConnectError | undefined>;
  /** Resolves when a status equal to `status` has arrived after the first `after` statuses. */
  waitFor(status: ServingStatus, after: number): Promise<void>;
  abort(): void;
}

function watch(baseUrl: string, service: string): WatchRecorder {
  const client = createClient(Health, createGrpcTransport({ baseUrl }));
  const aborted = new AbortController();
  const statuses: ServingStatus[] = [];
  const waiters = new Set<() => void>();
  const ended = (async () => {
    try {
      for await (const response of client.watch({ service }, { signal: aborted.signal })) {
        statuses.push(response.status);
        waiters.forEach((waiter) => waiter());
      }
      return undefined;
    } catch (error) {
      return ConnectError.from(error);
    } finally {
      waiters.forEach((waiter) => waiter());
    }
  })();
  return {
    statuses,
    ended,
    abort: () => aborted.abort(),
    waitFor: (status, after) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`Watch of "${service}" sent no ${ServingStatus[status]} after ${after} messages; got ${statuses.map((s) => ServingStatus[s]).join(", ")}`));
        }, waitTimeoutMs);
        const check = () => {
          if (statuses.slice(after).includes(status)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

/** Calls Check until it returns `expected`, since the pool may need a failed query to notice a restart. */
async function checkUntil(baseUrl: string, service: string, expected: ServingStatus): Promise<ServingStatus> {
  const client = createClient(Health, createGrpcTransport({ baseUrl }));
  const deadline = Date.now() + waitTimeoutMs;
  let status = ServingStatus.UNKNOWN;
  while (Date.now() < deadline) {
    status = (await client.check({ service }, { timeoutMs: 5_000 })).status;
    if (status === expected) {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return status;
}

describe("health with database that stops", () => {
  let pg: PgInstance;
  let db: Knex;
  let server: PlatesServer;
  let baseUrl: string;
  let overall: WatchRecorder;
  let plates: WatchRecorder;

  beforeAll(async () => {
    pg = await startPgInstance();
    db = openDatabase({ kind: "postgres", url: pg.url(), poolMax: 2 });
    server = createPlatesServer({
      store: new KnexPlateStore(db),
      tokens: [{ name: "test", value: "health-test-token" }],
      logger: pino({ level: "silent" }),
      maxRequestBytes: 65_536,
      checkDatabase: async () => {
        await db.raw("select 1");
      },
      healthCheckTimeoutMs: 2_000,
      healthWatchIntervalMs: watchIntervalMs,
    });
    const address = await server.listen(0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${address.port}`;
  }, 120_000);

  afterAll(async () => {
    overall?.abort();
    plates?.abort();
    await server?.close(1_000);
    await db?.destroy();
    await pg?.destroy();
  });

  it("reports SERVING without token", async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl }));
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await client.check({ service: "plates.v1.PlateService" })).status).toBe(ServingStatus.SERVING);
  });

  it("answers Check over Connect JSON", async () => {
    const client = createClient(Health, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }));
    expect((await client.check({})).status).toBe(ServingStatus.SERVING);
  });

  it("lists both services", async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl }));
    const response = await client.list({});
    expect(Object.keys(response.statuses).sort()).toEqual(["", "plates.v1.PlateService"]);
    expect(response.statuses[""]?.status).toBe(ServingStatus.SERVING);
  });

  it("fails Check of unknown service", async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl }));
    let error: ConnectError | undefined;
    try {
      await client.check({ service: "no.such.Service" });
    } catch (caught) {
      error = ConnectError.from(caught);
    }
    expect(error?.code).toBe(Code.NotFound);
  });

  it("answers probes while database runs", async () => {
    const live = await fetch(`${baseUrl}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "SERVING" });
    const ready = await fetch(`${baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "SERVING" });
  });

  it("starts Watch with SERVING", async () => {
    overall = watch(baseUrl, "");
    plates = watch(baseUrl, "plates.v1.PlateService");
    await overall.waitFor(ServingStatus.SERVING, 0);
    await plates.waitFor(ServingStatus.SERVING, 0);
    expect(overall.statuses).toEqual([ServingStatus.SERVING]);
  });

  it("flips to NOT_SERVING when database stops", async () => {
    const before = overall.statuses.length;
    await pg.stop("immediate");

    await overall.waitFor(ServingStatus.NOT_SERVING, before);
    await plates.waitFor(ServingStatus.NOT_SERVING, before);
    expect(await checkUntil(baseUrl, "", ServingStatus.NOT_SERVING)).toBe(ServingStatus.NOT_SERVING);

    const ready = await fetch(`${baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "NOT_SERVING" });
    const live = await fetch(`${baseUrl}/healthz`);
    expect(live.status).toBe(200);
  }, 60_000);

  it("sends each status once", () => {
    expect(overall.statuses).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
  });

  it("flips back when database returns", async () => {
    const before = overall.statuses.length;
    await pg.start();

    await overall.waitFor(ServingStatus.SERVING, before);
    await plates.waitFor(ServingStatus.SERVING, before);
    expect(await checkUntil(baseUrl, "plates.v1.PlateService", ServingStatus.SERVING)).toBe(ServingStatus.SERVING);
    const ready = await fetch(`${baseUrl}/readyz`);
    expect(ready.status).toBe(200);
  }, 60_000);

  it("keeps Watch of unknown service open", async () => {
    const unknown = watch(baseUrl, "no.such.Service");
    await unknown.waitFor(ServingStatus.SERVICE_UNKNOWN, 0);
    const result = await Promise.race([unknown.ended.then(() => "ended"), new Promise((resolve) => setTimeout(() => resolve("open"), 500))]);
    expect(result).toBe("open");
    unknown.abort();
    await unknown.ended;
  });

  it("ends Watch with NOT_SERVING on shutdown", async () => {
    const before = overall.statuses.length;
    await server.close(1_000);
    await overall.waitFor(ServingStatus.NOT_SERVING, before);
    expect(await overall.ended).toBeUndefined();
  }, 30_000);
});
