import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Knex } from "knex";
import pino, { type Logger } from "pino";
import { migrateToLatest, openDatabase, type DatabaseOptions } from "../../src/db/database.ts";
import { createMetrics } from "../../src/metrics.ts";
import { TokenStore } from "../../src/tokens/token-store.ts";
import { createPlatesServer, type PlatesServer, type PlatesServerOptions } from "../../src/server.ts";
import { KnexPlateStore, type PlateStore } from "../../src/store/plate-store.ts";

/** PostgreSQL database of the tests; a local trust-auth server by default. */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export type Backend = "postgres" | "pglite";
export const backends: Backend[] = ["postgres", "pglite"];

/** A database of one test suite: its own schema on PostgreSQL, its own folder for PGlite. */
export interface TestDatabase {
  db: Knex;
  options: DatabaseOptions;
  /** Drops the schema or deletes the folder and closes the connections. */
  drop(): Promise<void>;
}

/**
 * Opens and migrates a fresh database of the given backend. `poolMax` sets
 * the PostgreSQL pool size, 10 by default; PGlite always has one connection.
 */
export async function createTestDatabase(
  backend: Backend,
  directory?: string,
  settings: { poolMax?: number; acquireTimeoutMs?: number } = {},
): Promise<TestDatabase> {
  if (backend === "postgres") {
    const schema = `plates_test_${randomBytes(6).toString("hex")}`;
    const options: DatabaseOptions = {
      kind: "postgres",
      url: testDatabaseUrl,
      poolMax: settings.poolMax ?? 10,
      acquireTimeoutMs: settings.acquireTimeoutMs,
      schema,
    };
    const db = openDatabase(options);
    await migrateToLatest(db, schema);
    return {
      db,
      options,
      drop: async () => {
        await db.raw("drop schema if exists ?? cascade", [schema]);
        await db.destroy();
      },
    };
  }
  const folder = directory ?? (await mkdtemp(path.join(tmpdir(), "plates-test-")));
  const options: DatabaseOptions = { kind: "pglite", directory: folder };
  const db = openDatabase(options);
  await migrateToLatest(db);
  return {
    db,
    options,
    drop: async () => {
      await db.destroy();
      if (directory === undefined) {
        await rm(folder, { recursive: true, force: true });
      }
    },
  };
}

/** A running server on a loopback port with its database. */
export interface TestServer {
  baseUrl: string;
  port: number;
  token: string;
  database: TestDatabase;
  server: PlatesServer;
  /** Stops the server and drops its database. */
  close(): Promise<void>;
}

/** Options of startTestServer; each is optional and keeps the default behaviour when absent. */
export interface TestServerOptions {
  maxRequestBytes?: number;
  randomInt?: (maxExclusive: number) => number;
  /** Maximum count of PostgreSQL connections, 10 by default. */
  poolMax?: number;
  /** Wraps the store that the server uses, so that a test can count or delay its calls. */
  wrapStore?: (store: PlateStore) => PlateStore;
  /** Whether server reflection needs the token; false by default. */
  reflectionRequiresToken?: boolean;
  /** Origins allowed by CORS; none by default. */
  corsOrigins?: readonly string[];
  /** Logger of the server; a silent one by default. */
  logger?: Logger;
  /** Milliseconds a query waits for a pooled PostgreSQL connection; 5000 by default. */
  acquireTimeoutMs?: number;
  /** Whether the server also accepts tokens stored in the suite's database. */
  storedTokens?: boolean;
  /** Whether the server records metrics and serves GET /metrics. */
  metrics?: boolean;
  /** Further server options, such as limits; they win over the ones above. */
  server?: Partial<PlatesServerOptions>;
}

/** Starts the real server on 127.0.0.1 and a free port, on a fresh database. */
export async function startTestServer(backend: Backend, options: TestServerOptions = {}): Promise<TestServer> {
  const database = await createTestDatabase(backend, undefined, {
    poolMax: options.poolMax,
    acquireTimeoutMs: options.acquireTimeoutMs,
  });
  const token = randomBytes(16).toString("hex");
  const store = new KnexPlateStore(database.db);
  const server = createPlatesServer({
    store: options.wrapStore === undefined ? store : options.wrapStore(store),
    tokens: [{ name: "test", value: token }],
    logger: options.logger ?? pino({ level: "silent" }),
    maxRequestBytes: options.maxRequestBytes ?? 65_536,
    randomInt: options.randomInt,
    checkDatabase: async () => {
      await database.db.raw("select 1");
    },
    reflectionRequiresToken: options.reflectionRequiresToken,
    corsOrigins: options.corsOrigins,
    tokenStore: options.storedTokens === true ? new TokenStore(database.db) : undefined,
    metrics: options.metrics === true ? createMetrics(database.db) : undefined,
    serveMetrics: options.metrics === true,
    ...options.server,
  });
  const address = await server.listen(0, "127.0.0.1");
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    port: address.port,
    token,
    database,
    server,
    close: async () => {
      await server.close(1_000);
      await database.drop();
    },
  };
}
