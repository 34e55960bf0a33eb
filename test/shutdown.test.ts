import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import knex, { type Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient } from "./support/clients.ts";
import { startTestServer, testDatabaseUrl, type TestServer } from "./support/server.ts";
import { killLeftovers, startService, waitForAddress, type ServiceProcess } from "./support/service-process.ts";

// SIGTERM while a client holds an idle HTTP/2 connection and a call waits on
// a table lock: the call must finish and be committed, new calls rejected, the
// idle session sent GOAWAY, and the process must exit 0 in the grace period.
describe("shutdown with calls in flight", () => {
  const token = randomBytes(16).toString("hex");
  const databaseName = `plates_shutdown_${randomBytes(4).toString("hex")}`;
  let admin: Knex;
  let db: Knex;
  let dataDir: string;
  let service: ServiceProcess;
  let baseUrl: string;

  beforeAll(async () => {
    admin = knex({ client: "pg", connection: testDatabaseUrl, pool: { min: 0, max: 1 } });
    await admin.raw("create database ??", [databaseName]);
    const url = new URL(testDatabaseUrl);
    url.pathname = `/${databaseName}`;
    db = knex({ client: "pg", connection: url.toString(), pool: { min: 0, max: 2 } });
    dataDir = await mkdtemp(path.join(tmpdir(), "plates-shutdown-"));
    service = startService({
      DATABASE_URL: url.toString(),
      API_TOKENS: token,
      DATA_DIR: dataDir,
      SHUTDOWN_GRACE_MS: "8000",
    });
    baseUrl = `http://${await waitForAddress(service)}`;
  });

  afterAll(async () => {
    await killLeftovers();
    await db?.destroy();
    await admin?.raw("drop database if exists ?? with (force)", [databaseName]);
    await admin?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("finishes the call in flight and exits 0", { timeout: 60_000 }, async () => {
    const idle = http2.connect(baseUrl);
    await new Promise<void>((resolve, reject) => idle.once("connect", () => resolve()).once("error", reject));
    const goaway = new Promise<void>((resolve) => idle.once("goaway", () => resolve()));

    // Hold a lock so that the Add below stays in flight until it is released.
    let release = () => {};
    let markLocked = () => {};
    const locked = new Promise<void>((resolve) => (markLocked = resolve));
    const lockHeld = db.transaction(async (trx) => {
      await trx.raw("lock table plates in access exclusive mode");
      markLocked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await locked;

    const inFlight = connectClient("grpc", baseUrl, token).add({ number: "Т777ТТ77" });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const signalled = performance.now();
    service.child.kill("SIGTERM");
    await service.waitForLog((line) => line.msg === "shutting down");

    await goaway;
    const refused = await connectClient("connect", baseUrl, token)
      .list({}, { timeoutMs: 3_000 })
      .then(
        () => undefined,
        (error: unknown) => ConnectError.from(error),
      );
    expect(refused?.code).toBe(Code.Unavailable);

    release();
    await lockHeld;
    const added = await inFlight;
    expect(added.plate?.number).toBe("Т777ТТ77");

    const status = await service.exited;
    expect(status.code).toBe(0);
    expect(performance.now() - signalled).toBeLessThan(8_000);
    const stored = await db("plates").where({ number: "Т777ТТ77" });
    expect(stored).toHaveLength(1);
    idle.destroy();
  });
});

describe("shutdown with an idle HTTP/1.1 connection", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("pglite");
  });

  afterAll(async () => {
    await server?.database.drop();
  });

  it("closes the idle connection at once", async () => {
    // One keep-alive request, after which the connection stays open and idle.
    const socket = net.connect(server.port, "127.0.0.1");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    let received = "";
    const responded = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString("latin1");
        if (received.includes("\r\n\r\n")) {
          resolve();
        }
      });
    });
    socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n");
    await responded;
    expect(received).toMatch(/^HTTP\/1\.1 200/);

    const started = performance.now();
    await server.server.close(10_000);
    await closed;
    // Node's keep-alive timeout is 5 s; the grace period here is 10 s.
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
