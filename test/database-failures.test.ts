import { randomUUID } from "node:crypto";
import net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Knex } from "knex";
import pg from "pg";
import pino, { type Logger } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/database.ts";
import { createPlatesServer, type PlatesServer } from "../src/server.ts";
import { KnexPlateStore } from "../src/store/plate-store.ts";
import { connectClient } from "./support/clients.ts";
import { backends, createTestDatabase, startTestServer, testDatabaseUrl, type TestDatabase, type TestServer } from "./support/server.ts";

type LogLine = Record<string, unknown>;

const token = "database-failures-token";
// Deadline of each call in these tests, so a call that hangs on the database
// ends with DEADLINE_EXCEEDED instead of the expected code.
const callTimeoutMs = 10_000;

/** Creates a logger that keeps its lines in `lines`. */
function collectingLogger(lines: LogLine[]): Logger {
  return pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
}

/** Returns a loopback TCP port on which nothing listens. */
async function findFreePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Awaits a call that must fail and returns its error as a ConnectError. */
async function callError(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    return ConnectError.from(error);
  }
  throw new Error("call succeeded, expected an error");
}

/** Checks that a client-visible message leaks no database detail. */
function expectNoDatabaseDetail(message: string, hidden: string[]): void {
  for (const text of hidden) {
    expect(message.toLowerCase()).not.toContain(text.toLowerCase());
  }
  expect(message).not.toMatch(/\bat .+:\d+:\d+/);
}

type MethodCall = [string, (client: ReturnType<typeof connectClient>) => Promise<unknown>];

const everyMethod: MethodCall[] = [
  ["Add", (client) => client.add({ number: "а123вс77" }, { timeoutMs: callTimeoutMs })],
  ["Get", (client) => client.get({ id: randomUUID() }, { timeoutMs: callTimeoutMs })],
  ["Generate", (client) => client.generate({ amount: 3 }, { timeoutMs: callTimeoutMs })],
  ["List", (client) => client.list({}, { timeoutMs: callTimeoutMs })],
];

describe("database that refuses connections", () => {
  const logs: LogLine[] = [];
  let db: Knex;
  let server: PlatesServer;
  let databasePort: number;
  let baseUrl: string;

  beforeAll(async () => {
    databasePort = await findFreePort();
    db = openDatabase({ kind: "postgres", url: `postgres://postgres@127.0.0.1:${databasePort}/test`, poolMax: 2 });
    server = createPlatesServer({
      store: new KnexPlateStore(db),
      tokens: [{ name: "test", value: token }],
      logger: collectingLogger(logs),
      maxRequestBytes: 65_536,
    });
    const address = await server.listen(0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    await server?.close(1_000);
    await db?.destroy();
  });

  it.each(everyMethod)("fails %s with UNAVAILABLE", async (_method, call) => {
    const started = performance.now();
    const error = await callError(call(connectClient("connect", baseUrl, token)));
    const elapsedMs = performance.now() - started;

    expect(error.code).toBe(Code.Unavailable);
    expect(elapsedMs).toBeLessThan(callTimeoutMs);
    expectNoDatabaseDetail(error.rawMessage, ["ECONNREFUSED", "select", "insert", "plates", String(databasePort)]);
  });

  it("fails Add with UNAVAILABLE over gRPC", async () => {
    const client = connectClient("grpc", baseUrl, token);
    const error = await callError(client.add({ number: "а123вс77" }, { timeoutMs: callTimeoutMs }));
    expect(error.code).toBe(Code.Unavailable);
    expectNoDatabaseDetail(error.rawMessage, ["ECONNREFUSED", "insert", "plates", String(databasePort)]);
  });

  it("logs original connection error", () => {
    const line = logs.find((log) => log.msg === "database unavailable");
    expect(line).toBeDefined();
    expect(JSON.stringify(line?.err)).toContain("ECONNREFUSED");
  });

  it("still checks token first", async () => {
    const error = await callError(connectClient("connect", baseUrl, "wrong").add({ number: "а123вс77" }));
    expect(error.code).toBe(Code.Unauthenticated);
  });
});

describe("database connections terminated by server", () => {
  let testServer: TestServer;
  let admin: pg.Client;

  beforeAll(async () => {
    testServer = await startTestServer("postgres");
    admin = new pg.Client({ connectionString: testDatabaseUrl, application_name: "plates-test-admin" });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await testServer?.close();
  });

  it("recovers after pg_terminate_backend", async () => {
    const client = connectClient("connect", testServer.baseUrl, testServer.token);
    const added = await client.add({ number: "а123вс77" });
    expect(added.plate?.number).toBe("А123ВС77");

    // Other test files run their own servers with application_name "plates"
    // at the same time, so only this pool's connections may be terminated.
    // Each of poolMax concurrent queries holds its own pooled connection, so
    // together they report every connection the pool has.
    const { db, options } = testServer.database;
    const poolMax = options.kind === "postgres" ? options.poolMax : 1;
    const results = await Promise.all(
      Array.from({ length: poolMax }, () => db.raw<{ rows: { pid: number }[] }>("select pg_backend_pid() as pid from pg_sleep(0.5)")),
    );
    const pids = [...new Set(results.map((result) => result.rows[0]!.pid))];
    expect(pids).toHaveLength(poolMax);

    // PostgreSQL may evaluate WHERE conditions in any order, so a
    // pg_terminate_backend call there could end sessions that a later
    // condition rejects. In the select list it runs only for returned rows.
    const terminated = await admin.query<{ pid: number; terminated: boolean }>(
      `select pid, pg_terminate_backend(pid) as terminated from pg_stat_activity
       where application_name = 'plates' and pid <> pg_backend_pid() and pid = any($1::int[])`,
      [pids],
    );
    expect(terminated.rows.map((row) => row.pid).sort((a, b) => a - b)).toEqual([...pids].sort((a, b) => a - b));
    expect(terminated.rows.every((row) => row.terminated)).toBe(true);

    // Let the idle connections see the end of their sessions before the next call.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const failedCodes: Code[] = [];
    let fetched: Awaited<ReturnType<typeof client.get>> | undefined;
    for (let attempt = 0; attempt < 5 && fetched === undefined; attempt++) {
      try {
        fetched = await client.get({ id: added.plate!.id }, { timeoutMs: callTimeoutMs });
      } catch (error) {
        failedCodes.push(ConnectError.from(error).code);
      }
    }
    expect(fetched?.plate?.id).toBe(added.plate?.id);
    for (const code of failedCodes) {
      expect(code).toBe(Code.Unavailable);
    }
  });

  it("fails in-flight call with UNAVAILABLE", async () => {
    const client = connectClient("connect", testServer.baseUrl, testServer.token);
    const added = await client.add({ number: "в456ок99" });
    const { options } = testServer.database;
    expect(options.kind).toBe("postgres");
    const schema = options.kind === "postgres" ? options.schema : undefined;

    // The admin session locks the table, so the call's query waits on the lock
    // until its backend, found as one that the admin session blocks, is
    // terminated.
    let call: Promise<ConnectError> | undefined;
    await admin.query("begin");
    try {
      await admin.query(`lock table ${admin.escapeIdentifier(schema ?? "")}.plates in access exclusive mode`);
      call = callError(client.get({ id: added.plate!.id }, { timeoutMs: callTimeoutMs }));

      let blocked: number[] = [];
      for (let poll = 0; poll < 100 && blocked.length === 0; poll++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const result = await admin.query<{ pid: number }>(
          "select pid from pg_stat_activity where pg_backend_pid() = any(pg_blocking_pids(pid))",
        );
        blocked = result.rows.map((row) => row.pid);
      }
      expect(blocked).toHaveLength(1);

      await admin.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where pid = any($1::int[]) and application_name = 'plates'",
        [blocked],
      );
    } finally {
      await admin.query("rollback");
    }

    const error = await call;
    expect(error.code).toBe(Code.Unavailable);
    expectNoDatabaseDetail(error.rawMessage, ["terminat", "administrator", "select", "plates"]);

    // Let Knex see the closed socket and drop that connection; a call that
    // gets it earlier meets the error that the proxy test below covers.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const fetched = await client.get({ id: added.plate!.id }, { timeoutMs: callTimeoutMs });
    expect(fetched.plate?.number).toBe("В456ОК99");
  });
});

/**
 * A TCP proxy to the test PostgreSQL server that can close a client
 * connection when the client sends its next message, as a server that goes
 * away in the middle of a query does.
 */
interface DroppingProxy {
  url: string;
  /** Closes the connection that sends the next message, without forwarding it. */
  dropOnNextMessage(): void;
  close(): Promise<void>;
}

async function startDroppingProxy(): Promise<DroppingProxy> {
  const target = new URL(testDatabaseUrl);
  const targetPort = Number(target.port || "5432");
  const sockets = new Set<net.Socket>();
  let dropNext = false;

  const proxy = net.createServer((client) => {
    const upstream = net.connect(targetPort, target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk: Buffer) => {
      if (dropNext) {
        dropNext = false;
        upstream.destroy();
        client.end();
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    upstream.once("end", () => client.end());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));

  const url = new URL(testDatabaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String((proxy.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    dropOnNextMessage: () => {
      dropNext = true;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => proxy.close(() => resolve()));
      for (const socket of sockets) {
        socket.destroy();
      }
      await closed;
    },
  };
}

describe("database connection closed during query", () => {
  const logs: LogLine[] = [];
  let database: TestDatabase;
  let proxy: DroppingProxy;
  let db: Knex;
  let server: PlatesServer;
  let baseUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase("postgres");
    proxy = await startDroppingProxy();
    const schema = database.options.kind === "postgres" ? database.options.schema : undefined;
    db = openDatabase({ kind: "postgres", url: proxy.url, poolMax: 2, schema });
    server = createPlatesServer({
      store: new KnexPlateStore(db),
      tokens: [{ name: "test", value: token }],
      logger: collectingLogger(logs),
      maxRequestBytes: 65_536,
    });
    const address = await server.listen(0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    await server?.close(1_000);
    await db?.destroy();
    await proxy?.close();
    await database?.drop();
  });

  // node-postgres raises "Connection terminated unexpectedly" without a code,
  // and Knex puts the SQL in front of that message.
  it("fails Get with UNAVAILABLE", async () => {
    const client = connectClient("connect", baseUrl, token);
    const added = await client.add({ number: "е789кх50" }, { timeoutMs: callTimeoutMs });
    expect(added.plate?.number).toBe("Е789КХ50");

    proxy.dropOnNextMessage();
    const error = await callError(client.get({ id: added.plate!.id }, { timeoutMs: callTimeoutMs }));
    expect(error.code).toBe(Code.Unavailable);
  });

  it("hides error detail from client", async () => {
    const client = connectClient("connect", baseUrl, token);
    proxy.dropOnNextMessage();
    const error = await callError(client.get({ id: randomUUID() }, { timeoutMs: callTimeoutMs }));
    expectNoDatabaseDetail(error.rawMessage, ["terminated", "select", "plates"]);
  });

  it("logs original error", () => {
    const logged = logs.filter((log) => JSON.stringify(log.err ?? "").includes("Connection terminated unexpectedly"));
    expect(logged).not.toEqual([]);
  });

  it("serves next call on new connection", async () => {
    const client = connectClient("connect", baseUrl, token);
    const listed = await client.list({}, { timeoutMs: callTimeoutMs });
    expect(listed.plates.map((plate) => plate.number)).toEqual(["Е789КХ50"]);
  });
});

describe.each(backends)("unexpected database error on %s", (backend) => {
  const logs: LogLine[] = [];
  let database: TestDatabase;
  let server: PlatesServer;
  let baseUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    server = createPlatesServer({
      store: new KnexPlateStore(database.db),
      tokens: [{ name: "test", value: token }],
      logger: collectingLogger(logs),
      maxRequestBytes: 65_536,
    });
    const address = await server.listen(0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${address.port}`;
    await database.db.schema.dropTable("plates");
  });

  afterEach(() => {
    logs.length = 0;
  });

  afterAll(async () => {
    await server?.close(1_000);
    await database?.drop();
  });

  it("fails Get with INTERNAL", async () => {
    const client = connectClient("connect", baseUrl, token);
    const requestId = `report-${randomUUID()}`;
    const error = await callError(
      client.get({ id: randomUUID() }, { timeoutMs: callTimeoutMs, headers: { "x-request-id": requestId } }),
    );
    expect(error.code).toBe(Code.Internal);
    // The request id lets a user's report be matched to the server's log.
    expect(error.rawMessage).toBe(`internal error (request id ${requestId})`);
    expect(error.metadata.get("x-request-id")).toBe(requestId);
    expectNoDatabaseDetail(error.rawMessage, ["plates", "relation", "select"]);
  });

  it("fails Add with INTERNAL over gRPC", async () => {
    const client = connectClient("grpc", baseUrl, token);
    const error = await callError(client.add({ number: "а123вс77" }, { timeoutMs: callTimeoutMs }));
    expect(error.code).toBe(Code.Internal);
    expectNoDatabaseDetail(error.rawMessage, ["plates", "relation", "insert"]);
  });

  it("logs original error", async () => {
    const client = connectClient("connect", baseUrl, token);
    await callError(client.list({}, { timeoutMs: callTimeoutMs }));
    const line = logs.find((log) => log.msg === "unexpected error in handler");
    expect(line).toBeDefined();
    expect(JSON.stringify(line?.err)).toContain("plates");
  });
});
