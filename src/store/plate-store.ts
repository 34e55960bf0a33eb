import type { Knex } from "knex";

/** A plate as the store keeps it. */
export interface PlateRecord {
  id: string;
  /** Canonical number: Cyrillic capitals without spaces. */
  number: string;
  createTime: Date;
  /** Plate type as the correction engine names it, for example "CAR". */
  type: string;
  /** Region code as printed; empty for types without a region. */
  regionCode: string;
}

/** A plate to store: its canonical number and how it was read. */
export type NewPlate = Pick<PlateRecord, "number" | "type" | "regionCode">;

/** Position in the newest-first order of plates; a page starts after it. */
export interface PlateCursor {
  createTime: Date;
  id: string;
}

/** Storage of plates; the handlers see only this interface, never Knex. */
export interface PlateStore {
  /** Inserts a plate; returns undefined when its number is stored already. */
  add(plate: NewPlate): Promise<PlateRecord | undefined>;
  /** Returns the plate with this id, or undefined. The id must be a UUID. */
  get(id: string): Promise<PlateRecord | undefined>;
  /** Returns up to `limit` plates, newest first, after `after` when it is given. */
  list(options: { limit: number; after?: PlateCursor }): Promise<PlateRecord[]>;
  /** Returns the subset of `numbers` that is stored. */
  findStored(numbers: readonly string[]): Promise<Set<string>>;
}

interface DbPlateRow {
  id: string;
  number: string;
  created_at: Date;
  type: string;
  region_code: string;
}

const columns = ["id", "number", "created_at", "type", "region_code"] as const;

function toRecord(row: DbPlateRow): PlateRecord {
  return {
    id: row.id,
    number: row.number,
    createTime: new Date(row.created_at),
    type: row.type,
    regionCode: row.region_code,
  };
}

/** PlateStore on PostgreSQL or PGlite through Knex. */
export class KnexPlateStore implements PlateStore {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async add(plate: NewPlate): Promise<PlateRecord | undefined> {
    // ON CONFLICT DO NOTHING lets the unique index settle concurrent adds of
    // one number: the first insert wins and the others return no row.
    const rows: DbPlateRow[] = await this.db("plates")
      .insert({ number: plate.number, type: plate.type, region_code: plate.regionCode })
      .onConflict("number")
      .ignore()
      .returning(columns);
    const row = rows[0];
    return row === undefined ? undefined : toRecord(row);
  }

  async get(id: string): Promise<PlateRecord | undefined> {
    const row: DbPlateRow | undefined = await this.db("plates").select(columns).where({ id }).first();
    return row === undefined ? undefined : toRecord(row);
  }

  async list(options: { limit: number; after?: PlateCursor }): Promise<PlateRecord[]> {
    const query = this.db("plates")
      .select(columns)
      .orderBy([
        { column: "created_at", order: "desc" },
        { column: "id", order: "desc" },
      ])
      .limit(options.limit);
    if (options.after !== undefined) {
      query.whereRaw("(created_at, id) < (?, ?)", [options.after.createTime, options.after.id]);
    }
    const rows: DbPlateRow[] = await query;
    return rows.map(toRecord);
  }

  async findStored(numbers: readonly string[]): Promise<Set<string>> {
    if (numbers.length === 0) {
      return new Set();
    }
    const rows: { number: string }[] = await this.db("plates").select("number").whereIn("number", numbers);
    return new Set(rows.map((row) => row.number));
  }
}
