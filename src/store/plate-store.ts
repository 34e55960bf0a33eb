import type { Knex } from "knex";
import { signalContext } from "../db/call-signal.ts";

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

/** Conditions of List. They combine with AND, and an absent or empty one matches every plate. */
export interface PlateFilter {
  regionCodes?: readonly string[];
  /** Engine type names, for example "CAR". */
  types?: readonly string[];
  /** Only plates stored at or after this time. */
  createdFrom?: Date;
  /** Only plates stored before this time. */
  createdBefore?: Date;
}

/** Numbers of one type in some regions, optionally of one series. */
export interface NumberSpace {
  /** Engine type name, for example "CAR". */
  type: string;
  regionCodes: readonly string[];
  /** Letters of the number in reading order, for example "АВС" for А123ВС77, or absent for any series. */
  series?: string;
}

/**
 * Storage of plates; the handlers see only this interface, never Knex.
 *
 * Each method that writes is one SQL statement, which PostgreSQL runs as a
 * transaction of its own. Work of several statements goes through
 * `transaction`.
 */
export interface PlateStore {
  /** Inserts a plate; returns undefined when its number is stored already. */
  add(plate: NewPlate): Promise<PlateRecord | undefined>;
  /** Returns the plate with this id, or undefined. The id must be a UUID. */
  get(id: string): Promise<PlateRecord | undefined>;
  /** Returns the plate with this canonical number, or undefined. */
  findByNumber(number: string): Promise<PlateRecord | undefined>;
  /** Deletes the plate with this id and returns whether it existed. The id must be a UUID. */
  delete(id: string): Promise<boolean>;
  /** Returns up to `limit` plates that match `filter`, newest first, after `after` when it is given. */
  list(options: { limit: number; after?: PlateCursor; filter?: PlateFilter }): Promise<PlateRecord[]>;
  /** Returns the subset of `numbers` that is stored. */
  findStored(numbers: readonly string[]): Promise<Set<string>>;
  /**
   * Counts the stored plates whose numbers lie in `space`.
   *
   * NOTE: rows are matched by their stored type. A string that reads as two
   * types (a TRACTOR number is also a valid MOTORCYCLE number) is stored
   * under the type it was added or reserved as, so the other type's count
   * misses it, and the count of free numbers derived from it is then too high.
   */
  countStored(space: NumberSpace): Promise<number>;
  /**
   * Inserts up to `limit` of the plates whose numbers are not stored yet, in
   * one statement, and returns the inserted ones. The plates are taken in the
   * order given. A number that a concurrent transaction inserts first is
   * skipped, so fewer than `limit` may come back even when enough were free.
   */
  addNew(plates: readonly NewPlate[], limit: number): Promise<PlateRecord[]>;
  /**
   * Waits until no other transaction holds the lock of `space`'s type and
   * series, and holds it until the current transaction ends. Call it only in
   * `transaction`: outside one, the lock ends with the statement. Regions do
   * not take part, so spaces of one series in other regions share the lock.
   */
  lockSeries(space: NumberSpace): Promise<void>;
  /**
   * Runs `work` in one transaction on a store bound to it: commits when `work`
   * resolves and rolls back when it throws, and in both cases returns the
   * connection to the pool. When PostgreSQL aborts the transaction for a
   * deadlock or a serialization failure, `work` runs again in a new
   * transaction, up to 3 times in all, so it must not change anything outside
   * the store that it is given.
   */
  transaction<T>(work: (store: PlateStore) => Promise<T>): Promise<T>;
  /**
   * Returns this store with its queries bound to a call's signal: a query
   * that runs when the signal aborts is cancelled on the server, and one not
   * yet started fails with CallAbortedError.
   */
  withSignal(signal: AbortSignal): PlateStore;
}

interface DbPlateRow {
  id: string;
  number: string;
  created_at: Date;
  type: string;
  region_code: string;
}

const columns = ["id", "number", "created_at", "type", "region_code"] as const;

// SQLSTATE 40P01 is deadlock_detected and 40001 serialization_failure; both
// mean that the same transaction may succeed when it runs again.
const retryableSqlStates = new Set(["40P01", "40001"]);
const maxTransactionAttempts = 3;

function toRecord(row: DbPlateRow): PlateRecord {
  return {
    id: row.id,
    number: row.number,
    createTime: new Date(row.created_at),
    type: row.type,
    regionCode: row.region_code,
  };
}

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && retryableSqlStates.has(code);
}

/** PlateStore on PostgreSQL or PGlite through Knex. */
export class KnexPlateStore implements PlateStore {
  // A store bound to a transaction must run every query on it. On PGlite the
  // transaction keeps the only connection until it ends, so a query on the
  // outer Knex instance would wait for that connection forever.
  constructor(
    private readonly db: Knex | Knex.Transaction,
    private signal?: AbortSignal,
  ) {}

  withSignal(signal: AbortSignal): PlateStore {
    // A new object on top of this one, so that a wrapper of this store, such
    // as one that counts calls, stays in effect.
    const bound = Object.create(this) as KnexPlateStore;
    bound.signal = signal;
    return bound;
  }

  /** Starts a query on the plates table, bound to the store's signal. */
  private plates(): Knex.QueryBuilder {
    const query = this.db("plates");
    return this.signal === undefined ? query : query.queryContext(signalContext(this.signal));
  }

  /** Runs a raw statement, bound to the store's signal. */
  private raw<T>(sql: string, bindings: readonly Knex.RawBinding[]): Knex.Raw<T> {
    const query = this.db.raw<T>(sql, bindings);
    return this.signal === undefined ? query : query.queryContext(signalContext(this.signal));
  }

  async add(plate: NewPlate): Promise<PlateRecord | undefined> {
    // ON CONFLICT DO NOTHING lets the unique index settle concurrent adds of
    // one number: the first insert wins and the others return no row.
    const rows: DbPlateRow[] = await this.plates()
      .insert({ number: plate.number, type: plate.type, region_code: plate.regionCode })
      .onConflict("number")
      .ignore()
      .returning(columns);
    const row = rows[0];
    return row === undefined ? undefined : toRecord(row);
  }

  async get(id: string): Promise<PlateRecord | undefined> {
    const row: DbPlateRow | undefined = await this.plates().select(columns).where({ id }).first();
    return row === undefined ? undefined : toRecord(row);
  }

  async findByNumber(number: string): Promise<PlateRecord | undefined> {
    const row: DbPlateRow | undefined = await this.plates().select(columns).where({ number }).first();
    return row === undefined ? undefined : toRecord(row);
  }

  async delete(id: string): Promise<boolean> {
    // RETURNING instead of the affected row count, which knex-pglite does not
    // report for DELETE.
    const rows: { id: string }[] = await this.plates().where({ id }).delete().returning("id");
    return rows.length > 0;
  }

  async list(options: { limit: number; after?: PlateCursor; filter?: PlateFilter }): Promise<PlateRecord[]> {
    const query = this.plates()
      .select(columns)
      .orderBy([
        { column: "created_at", order: "desc" },
        { column: "id", order: "desc" },
      ])
      .limit(options.limit);
    if (options.after !== undefined) {
      query.whereRaw("(created_at, id) < (?, ?)", [options.after.createTime, options.after.id]);
    }
    const filter = options.filter ?? {};
    if (filter.regionCodes !== undefined && filter.regionCodes.length > 0) {
      query.whereIn("region_code", filter.regionCodes);
    }
    if (filter.types !== undefined && filter.types.length > 0) {
      query.whereIn("type", filter.types);
    }
    if (filter.createdFrom !== undefined) {
      query.where("created_at", ">=", filter.createdFrom);
    }
    if (filter.createdBefore !== undefined) {
      query.where("created_at", "<", filter.createdBefore);
    }
    const rows: DbPlateRow[] = await query;
    return rows.map(toRecord);
  }

  async findStored(numbers: readonly string[]): Promise<Set<string>> {
    if (numbers.length === 0) {
      return new Set();
    }
    // One array parameter instead of one parameter per number keeps the
    // statement the same size for any batch.
    const rows: { number: string }[] = await this.plates()
      .select("number")
      .whereRaw("number = any(?::text[])", [[...numbers]]);
    return new Set(rows.map((row) => row.number));
  }

  async countStored(space: NumberSpace): Promise<number> {
    if (space.regionCodes.length === 0) {
      return 0;
    }
    const query = this.plates()
      .where("type", space.type)
      .whereIn("region_code", space.regionCodes)
      .count<{ count: string | number }[]>("* as count");
    if (space.series !== undefined) {
      // The series is the letters of the number in reading order, which is
      // what remains after the digits are removed.
      query.whereRaw("translate(number, '0123456789', '') = ?", [space.series]);
    }
    const rows = await query;
    return Number(rows[0]?.count ?? 0);
  }

  async addNew(plates: readonly NewPlate[], limit: number): Promise<PlateRecord[]> {
    if (plates.length === 0 || limit <= 0) {
      return [];
    }
    // The inner query picks the first `limit` plates, in the order given, whose
    // numbers are not stored. The insert then takes them sorted by number, so
    // that two transactions that insert some of the same numbers take their
    // row locks in the same order and do not deadlock each other within one
    // statement. ON CONFLICT skips numbers that a concurrent transaction
    // inserted after the NOT EXISTS check.
    const result = await this.raw<{ rows: DbPlateRow[] }>(
      `insert into plates (number, type, region_code)
       select number, type, region_code from (
         select candidate.number, candidate.type, candidate.region_code
         from unnest(?::text[], ?::text[], ?::text[]) with ordinality
           as candidate(number, type, region_code, position)
         where not exists (select 1 from plates stored where stored.number = candidate.number)
         order by candidate.position
         limit ?
       ) as chosen
       order by number
       on conflict (number) do nothing
       returning ${columns.join(", ")}`,
      [plates.map((plate) => plate.number), plates.map((plate) => plate.type), plates.map((plate) => plate.regionCode), limit],
    );
    return result.rows.map(toRecord);
  }

  async lockSeries(space: NumberSpace): Promise<void> {
    // A transaction-level advisory lock on a 64-bit hash of the key. A hash
    // collision only makes two unrelated reservations wait for each other.
    const key = `plates.reserve/${space.type}/${space.series ?? ""}`;
    await this.raw("select pg_advisory_xact_lock(hashtextextended(?, 0))", [key]);
  }

  async transaction<T>(work: (store: PlateStore) => Promise<T>): Promise<T> {
    // Inside a transaction this opens a savepoint, and a deadlock aborts the
    // outer transaction too, so only the outermost transaction runs again.
    const attempts = this.db.isTransaction === true ? 1 : maxTransactionAttempts;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction((trx) => work(new KnexPlateStore(trx, this.signal)));
      } catch (error) {
        if (attempt >= attempts || !isRetryable(error)) {
          throw error;
        }
      }
    }
  }
}
