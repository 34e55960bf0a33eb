import path from "node:path";
import { mkdirSync } from "node:fs";
import knex, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";
import type { Config } from "../config.ts";
import * as createPlates from "./migrations/20261204000000_create_plates.ts";
import * as addPlateTypeAndRegion from "./migrations/20261204010000_add_plate_type_and_region.ts";

/** Where the service keeps its data. */
export type DatabaseOptions =
  | {
      kind: "postgres";
      url: string;
      /** Maximum count of pooled connections. */
      poolMax: number;
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
};

const migrationSource: Knex.MigrationSource<string> = {
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
export function openDatabase(options: DatabaseOptions): Knex {
  if (options.kind === "pglite") {
    mkdirSync(options.directory, { recursive: true });
    return knex({
      client: ClientPgLite,
      dialect: "postgres",
      connection: { filename: path.resolve(options.directory) },
    } as Knex.Config);
  }
  return knex({
    client: "pg",
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
    // Milliseconds a call may wait for a free pooled connection.
    acquireConnectionTimeout: 5_000,
  });
}

/** Applies every migration that has not run yet; returns the names applied. */
export async function migrateToLatest(db: Knex, schema?: string): Promise<string[]> {
  if (schema !== undefined) {
    await db.raw("create schema if not exists ??", [schema]);
  }
  const [, applied] = (await db.migrate.latest({
    migrationSource,
    schemaName: schema,
  })) as [number, string[]];
  return applied;
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
    return { kind: "postgres", url: config.databaseUrl, poolMax: config.dbPoolMax };
  }
  return { kind: "pglite", directory: path.join(config.dataDir, "pglite") };
}
