import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Knex } from "knex";
import { afterEach, describe, expect, it } from "vitest";
import { migrationSource, openDatabase } from "../src/db/database.ts";
import { backends, testDatabaseUrl, type Backend } from "./support/server.ts";

const migrationName = "20261204010000_add_plate_type_and_region";

interface RawDatabase {
  db: Knex;
  schema?: string;
  drop(): Promise<void>;
}

/** Opens an empty database with no migration applied. */
async function openEmptyDatabase(backend: Backend): Promise<RawDatabase> {
  if (backend === "postgres") {
    const schema = `plates_migration_${randomBytes(6).toString("hex")}`;
    const db = openDatabase({ kind: "postgres", url: testDatabaseUrl, poolMax: 2, schema });
    await db.raw("create schema ??", [schema]);
    return {
      db,
      schema,
      drop: async () => {
        await db.raw("drop schema if exists ?? cascade", [schema]);
        await db.destroy();
      },
    };
  }
  const folder = await mkdtemp(path.join(tmpdir(), "plates-migration-"));
  const db = openDatabase({ kind: "pglite", directory: folder });
  return {
    db,
    drop: async () => {
      await db.destroy();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** Applies migrations one at a time up to, and not including, `name`. */
async function migrateUpTo(database: RawDatabase, name: string): Promise<void> {
  const names = await migrationSource.getMigrations([]);
  for (const next of names) {
    if (next === name) {
      return;
    }
    await database.db.migrate.up({ migrationSource, schemaName: database.schema });
  }
  throw new Error(`migration ${name} is not in the list`);
}

describe.each(backends)("migration %s on %s", (backend) => {
  let database: RawDatabase | undefined;

  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  it("fills in type and region code of stored rows", async () => {
    database = await openEmptyDatabase(backend);
    await migrateUpTo(database, migrationName);
    const { db } = database;

    const known: [string, string, string][] = [
      ["А123ВС77", "CAR", "77"],
      ["А123ВС777", "CAR", "777"],
      ["АВ12377", "TAXI", "77"],
      // Stored before a rule that now rejects it: kept and marked.
      ["А000ВС77", "UNSPECIFIED", ""],
    ];
    // More rows than one round of the backfill reads (1000).
    const bulk = Array.from({ length: 1200 }, (_, index) => `Е${String((index % 999) + 1).padStart(3, "0")}${index < 999 ? "КХ" : "МР"}50`);
    await db("plates").insert([...known.map(([number]) => ({ number })), ...bulk.map((number) => ({ number }))]);

    await db.migrate.up({ migrationSource, schemaName: database.schema });

    const [, pending] = (await db.migrate.list({ migrationSource, schemaName: database.schema })) as [unknown, string[]];
    expect(pending).not.toContain(migrationName);
    const rows: { number: string; type: string; region_code: string }[] = await db("plates").select("number", "type", "region_code");
    const byNumber = new Map(rows.map((row) => [row.number, row]));
    expect(rows).toHaveLength(known.length + bulk.length);
    for (const [number, type, regionCode] of known) {
      expect(byNumber.get(number)).toEqual({ number, type, region_code: regionCode });
    }
    for (const number of bulk) {
      expect(byNumber.get(number)).toEqual({ number, type: "CAR", region_code: "50" });
    }

    // The columns are required from now on.
    await expect(db("plates").insert({ number: "А124ВС77" })).rejects.toThrow(/null/);
  });
});
