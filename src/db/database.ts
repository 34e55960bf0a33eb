import path from "node:path";
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import knex, { type Knex } from "knex";
import type { Logger } from "pino";
import ClientPgLite from "knex-pglite";
import type { Config } from "../config.ts";
import { CancellablePgClient } from "./call-signal.ts";
import * as createPlates from "./migrations/20261204000000_create_plates.ts";
import * as addPlateTypeAndRegion from "./migrations/20261204010000_add_plate_type_and_region.ts";
import * as createApiTokens from "./migrations/20261204020000_create_api_tokens.ts";

/** Location of the service's data: a PostgreSQL server or an embedded PGlite folder. */
export type DatabaseOptions =
  | {
      kind: "postgres";
      url: string;
      /** Maximum count of pooled connections. */
      poolMax: number;
      /** Milliseconds a query waits for a pooled connection; 5000 by default. */
      acquireTimeoutMs?: number;
      /** Schema to create and use instead of "public"; tests give each suite its own. */
      schema?: string;
    }
  | {
      kind: "pglite";
      /** Folder of the embedded database files; created when missing. */
      directory: string;
    };

// Migrations are listed here rather than read from a folder, so that they load
// the same way under tsx, Vitest and a compiled build. Names must sort in the
// order the migrations apply; add new ones at the end.
const migrations: Record<string, Knex.Migration> = {
  "20261204000000_create_plates": createPlates,
  "20261204010000_add_plate_type_and_region": addPlateTypeAndRegion,
  "20261204020000_create_api_tokens": createApiTokens,
};

/** The migrations above, for Knex's migrate API; tests use it to apply them one at a time. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const migration = migrations[name];
    if (migration === undefined) {
      throw new Error(`migration not found: ${name}`);
    }
    return migration;
  },
};

/** Opens a Knex instance on PostgreSQL or on an embedded PGlite database. */
export function openDatabase(options: DatabaseOptions, logger?: Logger): Knex {
  // Knex prints its warnings (a failed connection attempt, say) as plain text
  // with a stack; with a logger they become JSON lines like the rest.
  const log: Knex.Config["log"] =
    logger === undefined
      ? undefined
      : {
          warn: (message: unknown) => logger.warn({ knex: String(message) }, "database client warning"),
          error: (message: unknown) => logger.error({ knex: String(message) }, "database client error"),
          deprecate: (method: string, alternative: string) =>
            logger.warn({ method, alternative }, "deprecated Knex call"),
          debug: (message: unknown) => logger.debug({ knex: String(message) }, "database client debug"),
        };
  if (options.kind === "pglite") {
    mkdirSync(options.directory, { recursive: true });
    lockDirectory(options.directory);
    return knex({
      client: ClientPgLite,
      dialect: "postgres",
      connection: { filename: path.resolve(options.directory) },
      log,
    } as Knex.Config);
  }
  return knex({
    client: CancellablePgClient as unknown as typeof Knex.Client,
    log,
    connection: {
      connectionString: options.url,
      application_name: "plates",
    },
    searchPath: options.schema === undefined ? undefined : [options.schema],
    pool: {
      min: 0,
      max: options.poolMax,
      // Fail a call quickly when the database is down instead of queueing it.
      propagateCreateError: true,
    },
    // Fail a call quickly when every connection is busy, instead of letting
    // callers queue without bound.
    acquireConnectionTimeout: options.acquireTimeoutMs ?? 5_000,
  });
}

/** Error raised when another live process has the embedded database folder locked. */
export class DatabaseInUseError extends Error {
  override name = "DatabaseInUseError";
}

/**
 * Marks an embedded database folder as used by this process until it exits.
 * PGlite serves one process only, and a second one writing to the same files
 * (the server and the tokens command, say) would corrupt them, so this throws
 * while another live process holds the folder.
 */
function lockDirectory(directory: string): void {
  const lockFile = `${path.resolve(directory)}.lock`;
  for (;;) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: "wx" });
      process.once("exit", () => {
        try {
          unlinkSync(lockFile);
        } catch {
          // Already removed: nothing to release.
        }
      });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw error;
      }
    }
    const owner = Number(readFileSync(lockFile, "utf8"));
    if (owner === process.pid) {
      return;
    }
    if (Number.isSafeInteger(owner) && owner > 0 && isAlive(owner)) {
      throw new DatabaseInUseError(
        `embedded database ${directory} is in use by process ${owner}: stop that process first, or set DATABASE_URL`,
      );
    }
    // The process that held the lock is gone: take the folder over.
    unlinkSync(lockFile);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  // kill(pid, 0) succeeds for a killed process that its parent has not
  // reaped yet, but such a zombie (state Z) has released every file.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

// Milliseconds between attempts while another process holds the migration
// lock, and the count of attempts before giving up (about a minute in all).
const migrationLockRetryMs = 500;
const migrationLockAttempts = 120;

/**
 * Applies every migration that has not run yet; returns the names applied.
 * When replicas start together, Knex lets one of them migrate and fails the
 * others with MigrationLocked, so those wait and try again. The first start
 * can also race on creating Knex's own tables (42P07 duplicate table, 23505
 * on the catalog), which the next attempt finds created.
 */
export async function migrateToLatest(db: Knex, schema?: string): Promise<string[]> {
  if (schema !== undefined) {
    await db.raw("create schema if not exists ??", [schema]);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const [, applied] = (await db.migrate.latest({
        migrationSource,
        schemaName: schema,
      })) as [number, string[]];
      return applied;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const retryable = (error as Error).name === "MigrationLocked" || code === "42P07" || code === "23505";
      if (!retryable || attempt >= migrationLockAttempts) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, migrationLockRetryMs));
    }
  }
}

/** Describes the database for logs: its kind and location, never a password. */
export function describeDatabase(options: DatabaseOptions): string {
  if (options.kind === "pglite") {
    return `pglite:${path.resolve(options.directory)}`;
  }
  const url = new URL(options.url);
  return `postgres://${url.host}${url.pathname}`;
}

/** Returns where the configured service keeps its data. */
export function databaseOptions(config: Config): DatabaseOptions {
  if (config.databaseUrl !== undefined) {
    return {
      kind: "postgres",
      url: config.databaseUrl,
      poolMax: config.dbPoolMax,
      acquireTimeoutMs: config.dbAcquireTimeoutMs,
    };
  }
  return { kind: "pglite", directory: path.join(config.dataDir, "pglite") };
}
