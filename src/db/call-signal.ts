import { AsyncLocalStorage } from "node:async_hooks";
import type { Knex } from "knex";
import { createRequire } from "node:module";

/**
 * Abort signal of the RPC call that the current code runs for. Queries read
 * it, so that a call whose deadline passes, or whose client goes away, also
 * cancels its database work without every store method taking a signal.
 */
export const callSignal = new AsyncLocalStorage<AbortSignal>();

/** Error of a query that did not start because its call was aborted. */
export class CallAbortedError extends Error {
  override name = "CallAbortedError";
}

interface PgConnection {
  processID: number;
  __knex__disposed?: unknown;
}

interface PgClientInternals {
  _query(connection: PgConnection, query: unknown): Promise<unknown>;
  cancelQuery(connection: PgConnection): Promise<unknown>;
}

type PgClientClass = new (config: Knex.Config) => PgClientInternals;

// Knex's PostgreSQL client is a CommonJS class without type declarations.
const require = createRequire(import.meta.url);
const KnexPgClient = require("knex/lib/dialects/postgres/index.js") as PgClientClass;

/**
 * Knex's PostgreSQL client, changed so that a query running for a call whose
 * signal aborts is cancelled on the server (pg_cancel_backend) and its
 * connection goes back to the pool instead of waiting for the query.
 */
export class CancellablePgClient extends KnexPgClient {
  override _query(connection: PgConnection, query: unknown): Promise<unknown> {
    const signal = callSignal.getStore();
    if (signal === undefined) {
      return super._query(connection, query);
    }
    if (signal.aborted) {
      return Promise.reject(new CallAbortedError("query not started: the call was cancelled or its deadline passed"));
    }
    const cancel = () => {
      this.cancelQuery(connection).catch((error: unknown) => {
        // The query could not be cancelled, so the connection must not be
        // reused: Knex destroys a connection marked as disposed.
        connection.__knex__disposed = error;
      });
    };
    signal.addEventListener("abort", cancel, { once: true });
    return super._query(connection, query).finally(() => signal.removeEventListener("abort", cancel));
  }
}
