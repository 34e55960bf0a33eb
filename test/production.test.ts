import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Knex } from "knex";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { signalContext } from "../src/db/call-signal.ts";
import { openDatabase, type DatabaseOptions } from "../src/db/database.ts";
import { TokenStore } from "../src/tokens/token-store.ts";
import { connectClient, grpcJsClient, repoRoot } from "./support/clients.ts";
import { startTestServer, testDatabaseUrl, type TestServer } from "./support/server.ts";
import { killLeftovers, startService, stopService, waitForAddress } from "./support/service-process.ts";

const run = promisify(execFile);

async function errorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

/** Collects the JSON lines that a pino logger writes. */
function capturedLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        }
      }
      callback();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

/** Sends one raw gRPC call with a grpc-timeout header; returns its grpc-status. */
function grpcStatusOf(
  session: http2.ClientHttp2Session,
  method: string,
  token: string,
  timeout: string,
  body: Buffer,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": `/plates.v1.PlateService/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${token}`,
      "grpc-timeout": timeout,
    });
    let grpcStatus: string | undefined;
    stream.on("response", (headers) => (grpcStatus ??= headers["grpc-status"] as string | undefined));
    stream.on("trailers", (trailers) => (grpcStatus ??= trailers["grpc-status"] as string | undefined));
    stream.on("data", () => {});
    stream.on("close", () => resolve(grpcStatus));
    stream.on("error", reject);
    stream.end(body);
  });
}

/**
 * Holds an exclusive lock on the suite's plates table from a transaction of
 * its own, so that calls touching the table wait until it is released.
 */
async function lockPlates(server: TestServer): Promise<{ release: () => Promise<void> }> {
  // A pool of its own, so that the lock never takes one of the server's connections.
  const db: Knex = openDatabase({ ...server.database.options, poolMax: 1 } as DatabaseOptions);
  let markLocked = () => {};
  let release = () => {};
  const locked = new Promise<void>((resolve) => (markLocked = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const done = db.transaction(async (trx) => {
    await trx.raw("lock table plates in access exclusive mode");
    markLocked();
    await released;
  });
  await locked;
  return {
    release: async () => {
      release();
      await done;
      await db.destroy();
    },
  };
}

describe("stored tokens", () => {
  let server: TestServer;
  let store: TokenStore;

  beforeAll(async () => {
    server = await startTestServer("postgres", { storedTokens: true, server: { tokenCacheTtlMs: 200 } });
    store = new TokenStore(server.database.db);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("grants read, denies write, and stops after revocation", async () => {
    const created = await store.create("reader", ["plates.read"]);
    const client = connectClient("connect", server.baseUrl, created?.token);

    const listed = await client.list({});
    expect(listed.plates).toEqual([]);
    const validated = await client.validate({ number: "а123вс77" });
    expect(validated.valid).toBe(true);
    const generated = await client.generate({ amount: 1 });
    expect(generated.plates).toHaveLength(1);

    const denied = await errorOf(client.add({ number: "А123ВС77" }));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(denied.rawMessage).toBe('token "reader" lacks scope plates.write, which Add needs');
    const reserveDenied = await errorOf(client.generate({ amount: 1, reserve: true }));
    expect(reserveDenied.code).toBe(Code.PermissionDenied);

    expect(await store.revoke("reader")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const revoked = await errorOf(client.list({}));
    expect(revoked.code).toBe(Code.Unauthenticated);

    const record = (await store.list()).find((token) => token.name === "reader");
    expect(record?.lastUseTime).toBeInstanceOf(Date);
    expect(record?.revokeTime).toBeInstanceOf(Date);
  });

  it("lets a writer add", async () => {
    const created = await store.create("writer", ["plates.read", "plates.write"]);
    const client = connectClient("grpc", server.baseUrl, created?.token);
    const added = await client.add({ number: "А124ВС77" });
    expect(added.plate?.number).toBe("А124ВС77");
  });

  it("maps a missing scope to PERMISSION_DENIED over grpc-js", async () => {
    const created = await store.create("grpc-reader", ["plates.read"]);
    const client = grpcJsClient(`127.0.0.1:${server.port}`, created?.token);
    try {
      const failure = await client.call("Delete", { id: randomUUID() }).then(
        () => undefined,
        (error: { code: number }) => error,
      );
      expect(failure?.code).toBe(7);
    } finally {
      client.close();
    }
  });

  it("never stores the token itself", async () => {
    const created = await store.create("stored-as-hash", ["plates.read", "plates.write"]);
    const rows: Record<string, unknown>[] = await server.database.db("api_tokens").select("*");
    expect(JSON.stringify(rows)).not.toContain(created?.token ?? "missing");
  });
});

describe("tokens command", () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "plates-tokens-"));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const tokensCommand = (args: string[]) =>
    run(path.join(repoRoot, "node_modules/.bin/tsx"), ["src/tokens/cli.ts", ...args], {
      cwd: repoRoot,
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", ENV_FILE: "" },
      timeout: 60_000,
    });

  // Each command starts tsx and opens PGlite, which takes seconds on a busy machine.
  it("creates, lists and revokes a token", { timeout: 180_000 }, async () => {
    const created = await tokensCommand(["create", "--name", "ci", "--scopes", "plates.read"]);
    const token = created.stdout.trim();
    expect(token).toMatch(/^plt_[A-Za-z0-9_-]{43}$/);

    const listed = await tokensCommand(["list"]);
    expect(listed.stdout).toContain("ci\tplates.read\t");
    expect(listed.stdout).not.toContain(token);

    await tokensCommand(["revoke", "ci"]);
    const after = await tokensCommand(["list"]);
    const row = after.stdout.split("\n").find((line) => line.startsWith("ci\t")) ?? "";
    expect(row.split("\t")[4]).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("rejects an unknown scope", { timeout: 60_000 }, async () => {
    const failure = await tokensCommand(["create", "--name", "x", "--scopes", "plates.admin"]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('invalid scope "plates.admin"');
  });
});

describe("metrics and request ids", () => {
  const captured = capturedLogger();
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("postgres", { logger: captured.logger, metrics: true });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("counts calls by procedure, code and token", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    await client.add({ number: "Е001КХ77" });
    await errorOf(client.add({ number: "Е001КХ77" }));
    const response = await fetch(`${server.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    expect(text).toContain('plates_rpc_calls_total{procedure="plates.v1.PlateService/Add",code="ok"} 1');
    expect(text).toContain('plates_rpc_calls_total{procedure="plates.v1.PlateService/Add",code="already_exists"} 1');
    expect(text).toContain('plates_token_calls_total{token="test"} 2');
    expect(text).toMatch(/plates_rpc_duration_seconds_bucket\{le="0.005",procedure="plates.v1.PlateService\/Add"\} \d+/);
    expect(text).toMatch(/plates_db_pool_connections\{state="used"\} \d+/);
    expect(text).toMatch(/plates_stored \d+/);
    expect(text).not.toContain(server.token);
  });

  it("keeps the caller's request id", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    let echoed: string | null = null;
    await client.list({}, { headers: { "x-request-id": "caller-id-42" }, onHeader: (headers) => (echoed = headers.get("x-request-id")) });
    expect(echoed).toBe("caller-id-42");
    const line = captured.lines.find((entry) => entry.msg === "call" && entry.requestId === "caller-id-42");
    expect(line?.procedure).toBe("plates.v1.PlateService/List");
  });

  it("makes a request id when the caller sends none", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    let echoed: string | null = null;
    await client.list({}, { onHeader: (headers) => (echoed = headers.get("x-request-id")) });
    expect(echoed).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("replaces an unusable request id", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    let echoed: string | null = null;
    await client.list({}, { headers: { "x-request-id": "x".repeat(200) }, onHeader: (headers) => (echoed = headers.get("x-request-id")) });
    expect(echoed).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("echoes the request id on errors", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await errorOf(client.get({ id: "nope" }, { headers: { "x-request-id": "failing-call" } }));
    expect(error.metadata.get("x-request-id")).toBe("failing-call");
  });
});

describe("deadlines", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("postgres", { poolMax: 2, server: { defaultDeadlineMs: 700 } });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("closes the connection of a cancelled query", async () => {
    // pg_cancel_backend cancels whatever the backend runs when the request
    // lands, so a connection whose query was cancelled must not serve
    // another call's query: the cancel could land on that one instead.
    const db = openDatabase({ kind: "postgres", url: testDatabaseUrl, poolMax: 1 });
    try {
      // The pool's one connection serves this query and then the slow one.
      const first = await db.raw<{ rows: { pid: number }[] }>("select pg_backend_pid() as pid");
      const controller = new AbortController();
      const slow = db.raw("select pg_sleep(5)").queryContext(signalContext(controller.signal));
      const settled = slow.then(
        () => "completed",
        (error: { code?: string }) => error.code ?? "failed",
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      controller.abort(new ConnectError("deadline", Code.DeadlineExceeded));
      // 57014 is query_canceled.
      expect(await settled).toBe("57014");
      const next = await db.raw<{ rows: { pid: number }[] }>("select pg_backend_pid() as pid");
      expect(next.rows[0]?.pid).not.toBe(first.rows[0]?.pid);
    } finally {
      await db.destroy();
    }
  });

  it("cancels the query at the client's deadline", async () => {
    const lock = await lockPlates(server);
    try {
      const client = connectClient("grpc", server.baseUrl, server.token);
      const started = performance.now();
      const error = await errorOf(client.add({ number: "М500ММ50" }, { timeoutMs: 300 }));
      const elapsed = performance.now() - started;
      expect(error.code).toBe(Code.DeadlineExceeded);
      expect(elapsed).toBeLessThan(2_000);

      // The waiting insert was cancelled, so nothing of the server's waits on the lock now.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const waiting: { rows: unknown[] } = await server.database.db.raw(
        "select pid from pg_stat_activity where application_name = 'plates' and wait_event_type = 'Lock' and query ilike 'insert into%plates%М500ММ50%'",
      );
      expect(waiting.rows).toHaveLength(0);
    } finally {
      await lock.release();
    }
    const stored = await server.database.db("plates").where({ number: "М500ММ50" });
    expect(stored).toHaveLength(0);
  });

  it("applies the server's deadline when the client sends none", async () => {
    const lock = await lockPlates(server);
    try {
      const client = connectClient("connect", server.baseUrl, server.token);
      const started = performance.now();
      const error = await errorOf(client.add({ number: "М501ММ50" }));
      expect(error.code).toBe(Code.DeadlineExceeded);
      expect(error.rawMessage).toContain("700 ms");
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      await lock.release();
    }
  });

  it("ends calls whose deadline passed on arrival", async () => {
    // An unhandled rejection of the abandoned handler would fail this run.
    const session = http2.connect(server.baseUrl);
    try {
      const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 38, 10, 36]), Buffer.from(randomUUID())]);
      const deadlineExceeded = String(Code.DeadlineExceeded);
      for (const timeout of ["0n", "0S"]) {
        const status = await grpcStatusOf(session, "Get", server.token, timeout, body);
        expect({ timeout, status }).toEqual({ timeout, status: deadlineExceeded });
      }
      // A deadline of a nanosecond or a microsecond may pass before the call
      // starts or during its query, which then finds no plate.
      for (const timeout of ["1n", "1u"]) {
        const status = await grpcStatusOf(session, "Get", server.token, timeout, body);
        expect([deadlineExceeded, String(Code.NotFound)]).toContain(status);
      }
    } finally {
      session.close();
    }
    const client = connectClient("connect", server.baseUrl, server.token);
    expect((await client.list({})).plates.length).toBeGreaterThanOrEqual(0);
  });

  it.each(["597H", "99999999H", "99999999S"])("serves a call with grpc-timeout %s", async (timeout) => {
    // Longer than Node's timers hold; such deadlines used to fire at once.
    const session = http2.connect(server.baseUrl);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const status = await grpcStatusOf(session, "List", server.token, timeout, Buffer.from([0, 0, 0, 0, 0]));
        expect({ attempt, status }).toEqual({ attempt, status: "0" });
      }
    } finally {
      session.close();
    }
  });

  it("leaves the pool usable after cancellations", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    for (let index = 0; index < 4; index++) {
      const added = await client.add({ number: `М${510 + index}ММ50` });
      expect(added.plate?.id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it.each(["abc", "99999999999H", "-1S"])("rejects malformed grpc-timeout %s", async (value) => {
    const started = performance.now();
    // gRPC-Web carries grpc-timeout over HTTP/1.1; the body is one empty message.
    const response = await fetch(`${server.baseUrl}/plates.v1.PlateService/List`, {
      method: "POST",
      headers: {
        "content-type": "application/grpc-web+proto",
        authorization: `Bearer ${server.token}`,
        "grpc-timeout": value,
      },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    const trailer = Buffer.from(await response.arrayBuffer()).subarray(5).toString("utf8");
    expect(trailer).toContain("grpc-status: 3");
    expect(decodeURIComponent(trailer)).toContain(`invalid grpc timeout value: ${value}`);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it.each(["-5", "soon", "12345678901"])("rejects malformed connect-timeout-ms %s", async (value) => {
    const started = performance.now();
    const response = await fetch(`${server.baseUrl}/plates.v1.PlateService/List`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${server.token}`,
        "connect-timeout-ms": value,
      },
      body: "{}",
    });
    const body = (await response.json()) as { code?: string };
    expect(response.status).toBe(400);
    expect(body.code).toBe("invalid_argument");
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe("limits", () => {
  let server: TestServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("rejects calls beyond the concurrency limit at once", async () => {
    server = await startTestServer("postgres", { poolMax: 4, server: { maxConcurrentCalls: 2 } });
    const lock = await lockPlates(server);
    const client = connectClient("connect", server.baseUrl, server.token);
    const slow = [client.add({ number: "Р600РР60" }), client.add({ number: "Р601РР60" })];
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    const error = await errorOf(client.list({}));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(performance.now() - started).toBeLessThan(500);
    await lock.release();
    const finished = await Promise.all(slow);
    expect(finished.map((response) => response.plate?.number)).toEqual(["Р600РР60", "Р601РР60"]);
  });

  it("answers UNAVAILABLE when no pooled connection frees up", async () => {
    server = await startTestServer("postgres", { poolMax: 1, acquireTimeoutMs: 300 });
    const lock = await lockPlates(server);
    const client = connectClient("connect", server.baseUrl, server.token);
    // The first call holds the only server connection while it waits on the lock.
    const holding = client.add({ number: "Р602РР60" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    const error = await errorOf(client.get({ id: randomUUID() }));
    expect(error.code).toBe(Code.Unavailable);
    expect(performance.now() - started).toBeLessThan(2_000);
    await lock.release();
    expect((await holding).plate?.number).toBe("Р602РР60");
  });
});

describe("metrics on a port of their own", () => {
  afterAll(async () => {
    await killLeftovers();
  });

  it("serves /metrics on METRICS_PORT only", { timeout: 90_000 }, async () => {
    const folder = await mkdtemp(path.join(tmpdir(), "plates-metrics-"));
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve()));
    const metricsPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    try {
      const service = startService({ DATA_DIR: folder, API_TOKENS: "metrics-port-token", METRICS_PORT: String(metricsPort) });
      const address = await waitForAddress(service);
      await service.waitForLog((line) => line.msg === "metrics listening");

      const separate = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(separate.status).toBe(200);
      expect(await separate.text()).toContain("plates_rpc_calls_total");
      const main = await fetch(`http://${address}/metrics`);
      expect(main.status).toBe(404);

      const status = await stopService(service);
      expect(status.code).toBe(0);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe("settings file", () => {
  afterAll(async () => {
    await killLeftovers();
  });

  it("stops the start on a bad value from ENV_FILE", async () => {
    const folder = await mkdtemp(path.join(tmpdir(), "plates-env-"));
    try {
      const envFile = path.join(folder, "plates.env");
      await writeFile(envFile, "MAX_CONCURRENT_CALLS=lots\n");
      const service = startService({ ENV_FILE: envFile, DATA_DIR: folder });
      const status = await service.exited;
      expect(status.code).toBe(2);
      expect(service.stderr()).toContain('invalid MAX_CONCURRENT_CALLS "lots"');
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
