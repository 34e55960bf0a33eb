import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Knex } from "knex";
import { createRequire } from "node:module";

/**
 * Context value with the abort signal of an RPC call, including the server's
 * default deadline where one applies. Handlers bind their queries to it, so
 * that a call whose deadline passes, or whose client goes away, also cancels
 * its database work.
 */
export const callSignalKey = createContextKey<AbortSignal | undefined>(undefined, { description: "call signal" });

/** Returns the signal that a handler's queries must follow: the call's own, or the context's. */
export function callSignalOf(context: HandlerContext): AbortSignal {
  return context.values.get(callSignalKey) ?? context.signal;
}

/** The query context that binds a Knex query to a signal. */
interface SignalContext {
  signal: AbortSignal;
}

/** Returns the query context that binds a Knex query to `signal`. */
export function signalContext(signal: AbortSignal): SignalContext {
  return { signal };
}

/** Error of a query that did not start because its call was aborted. */
export class CallAbortedError extends Error {
  override name = "CallAbortedError";
}

interface PgConnection {
  processID: number;
  __knex__disposed?: unknown;
}

interface PgQuery {
  queryContext?: Partial<SignalContext>;
}

interface PgClientInternals {
  _query(connection: PgConnection, query: PgQuery): Promise<unknown>;
  cancelQuery(connection: PgConnection): Promise<unknown>;
}

type PgClientClass = new (config: Knex.Config) => PgClientInternals;

// Knex's PostgreSQL client is a CommonJS class without type declarations.
const require = createRequire(import.meta.url);
const KnexPgClient = require("knex/lib/dialects/postgres/index.js") as PgClientClass;

/**
 * Knex's PostgreSQL client, changed so that a query bound to a signal (see
 * signalContext) that aborts is cancelled on the server (pg_cancel_backend),
 * and its connection is closed rather than reused.
 */
export class CancellablePgClient extends KnexPgClient {
  override _query(connection: PgConnection, query: PgQuery): Promise<unknown> {
    const signal = query.queryContext?.signal;
    if (signal === undefined) {
      return super._query(connection, query);
    }
    if (signal.aborted) {
      return Promise.reject(new CallAbortedError("query not started: the call was cancelled or its deadline passed"));
    }
    const cancel = () => {
      // pg_cancel_backend cancels whatever the backend runs when the request
      // arrives. The query may have ended by then and the connection gone to
      // another call's query, so the connection is never reused: Knex
      // destroys a connection marked as disposed when it is released.
      connection.__knex__disposed = new CallAbortedError("the connection's query was cancelled");
      this.cancelQuery(connection).catch(() => {
        // The query could not be cancelled; its connection is closed anyway.
      });
    };
    signal.addEventListener("abort", cancel, { once: true });
    return super._query(connection, query).finally(() => signal.removeEventListener("abort", cancel));
  }
}
