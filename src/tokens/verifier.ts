import type { Logger } from "pino";
import { matchToken, type ApiToken } from "../auth.ts";
import { allScopes, hashToken, type Scope, type TokenStore } from "./token-store.ts";

/** Caller of an RPC: the token's name, for logs and metrics, and the scopes it grants. */
export interface Caller {
  name: string;
  scopes: ReadonlySet<Scope>;
}

/** Checks a presented bearer token. */
export interface TokenVerifier {
  /** Returns the caller for an accepted token, or undefined for an unknown or revoked one. */
  verify(token: string): Promise<Caller | undefined>;
}

/** Accepts the tokens of API_TOKENS or the generated token file, with every scope. */
export function createStaticVerifier(tokens: readonly ApiToken[]): TokenVerifier {
  const scopes: ReadonlySet<Scope> = new Set(allScopes);
  return {
    verify: async (token) => {
      const name = matchToken(tokens, token);
      return name === undefined ? undefined : { name, scopes };
    },
  };
}

/** Options of createDatabaseVerifier. */
export interface DatabaseVerifierOptions {
  /** Milliseconds a lookup result is reused; a revocation takes effect within this time. */
  cacheTtlMs: number;
  /** Milliseconds between two updates of a token's last use time. */
  touchIntervalMs: number;
  /** Maximum count of cached lookups; the cache is emptied when it is full. */
  maxCacheEntries: number;
  logger: Logger;
}

interface CacheEntry {
  caller: (Caller & { id: string }) | undefined;
  expires: number;
}

/**
 * Accepts the active tokens of the api_tokens table. Lookups are cached for a
 * few seconds, unknown tokens included, so that a caller retrying a wrong
 * token does not cost a query per call.
 */
export function createDatabaseVerifier(store: TokenStore, options: DatabaseVerifierOptions): TokenVerifier {
  const cache = new Map<string, CacheEntry>();
  const lastTouch = new Map<string, number>();

  const touch = (id: string, now: number) => {
    if (now - (lastTouch.get(id) ?? 0) < options.touchIntervalMs) {
      return;
    }
    lastTouch.set(id, now);
    store.touch(id).catch((error: unknown) => {
      options.logger.warn({ err: error, tokenId: id }, "failed to record the last use of a token");
    });
  };

  return {
    verify: async (token) => {
      const hash = hashToken(token);
      const now = Date.now();
      let entry = cache.get(hash);
      if (entry === undefined || entry.expires <= now) {
        const record = await store.findActive(hash);
        entry = {
          caller: record === undefined ? undefined : { id: record.id, name: record.name, scopes: new Set(record.scopes) },
          expires: now + options.cacheTtlMs,
        };
        if (cache.size >= options.maxCacheEntries) {
          cache.clear();
        }
        cache.set(hash, entry);
      }
      if (entry.caller === undefined) {
        return undefined;
      }
      touch(entry.caller.id, now);
      return { name: entry.caller.name, scopes: entry.caller.scopes };
    },
  };
}

/** Tries each verifier in turn and returns the first caller found. */
export function chainVerifiers(verifiers: readonly TokenVerifier[]): TokenVerifier {
  return {
    verify: async (token) => {
      for (const verifier of verifiers) {
        const caller = await verifier.verify(token);
        if (caller !== undefined) {
          return caller;
        }
      }
      return undefined;
    },
  };
}
