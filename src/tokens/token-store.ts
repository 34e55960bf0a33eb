import { createHash, randomBytes } from "node:crypto";
import type { Knex } from "knex";

/** Permission that a token grants. */
export type Scope = "plates.read" | "plates.write";

/** Every scope, in the order help texts list them. */
export const allScopes: readonly Scope[] = ["plates.read", "plates.write"];

/** A stored token without its value, which is never kept. */
export interface TokenRecord {
  id: string;
  name: string;
  scopes: Scope[];
  createTime: Date;
  lastUseTime: Date | undefined;
  revokeTime: Date | undefined;
}

interface DbTokenRow {
  id: string;
  name: string;
  scopes: string[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const columns = ["id", "name", "scopes", "created_at", "last_used_at", "revoked_at"] as const;

// Tokens start with a fixed prefix, so that secret scanners and people can
// recognize them, followed by 32 random bytes in base64url.
const tokenPrefix = "plt_";

/** Returns the SHA-256 digest of a token in hexadecimal, as stored. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Returns whether a string is a scope name. */
export function isScope(value: string): value is Scope {
  return (allScopes as readonly string[]).includes(value);
}

function toRecord(row: DbTokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes.filter(isScope),
    createTime: new Date(row.created_at),
    lastUseTime: row.last_used_at === null ? undefined : new Date(row.last_used_at),
    revokeTime: row.revoked_at === null ? undefined : new Date(row.revoked_at),
  };
}

/** API tokens in the database, stored as digests. */
export class TokenStore {
  constructor(private readonly db: Knex) {}

  /**
   * Creates a token; returns its record and its value, which is not stored and
   * cannot be shown again. Returns undefined when the name is taken.
   */
  async create(name: string, scopes: readonly Scope[]): Promise<{ record: TokenRecord; token: string } | undefined> {
    const token = tokenPrefix + randomBytes(32).toString("base64url");
    const rows: DbTokenRow[] = await this.db("api_tokens")
      .insert({ name, token_hash: hashToken(token), scopes: [...scopes] })
      .onConflict("name")
      .ignore()
      .returning(columns);
    const row = rows[0];
    return row === undefined ? undefined : { record: toRecord(row), token };
  }

  /** Returns every token, revoked ones included, oldest first. */
  async list(): Promise<TokenRecord[]> {
    const rows: DbTokenRow[] = await this.db("api_tokens").select(columns).orderBy("created_at");
    return rows.map(toRecord);
  }

  /** Revokes the token with this name; returns false when there is no active one. */
  async revoke(name: string): Promise<boolean> {
    const count = await this.db("api_tokens")
      .where({ name })
      .whereNull("revoked_at")
      .update({ revoked_at: this.db.raw("clock_timestamp()") });
    return count > 0;
  }

  /** Returns the active token with this digest, or undefined. */
  async findActive(tokenHash: string): Promise<TokenRecord | undefined> {
    const row: DbTokenRow | undefined = await this.db("api_tokens")
      .select(columns)
      .where({ token_hash: tokenHash })
      .whereNull("revoked_at")
      .first();
    return row === undefined ? undefined : toRecord(row);
  }

  /** Records that the token was used now. */
  async touch(id: string): Promise<void> {
    await this.db("api_tokens").where({ id }).update({ last_used_at: this.db.raw("clock_timestamp()") });
  }
}
