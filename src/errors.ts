import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { CallAbortedError } from "./db/call-signal.ts";

// SQLSTATE classes and codes that mean the database cannot serve the call now:
// class 08 is "connection exception", 57P01..57P03 are shutdown and start-up
// states, 53300 is "too many connections".
const unavailableSqlStates = new Set(["57P01", "57P02", "57P03", "53300"]);
const unavailableNodeCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);

function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) {
    return false;
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (code.startsWith("08") || unavailableSqlStates.has(code) || unavailableNodeCodes.has(code)) {
      return true;
    }
  }
  // Knex raises KnexTimeoutError when no pooled connection frees up in time,
  // and node-postgres raises plain Errors without a code when the server
  // closes the connection, so these two are recognized by name and message.
  if (error.name === "KnexTimeoutError") {
    return true;
  }
  // Knex puts the SQL in front of the driver message, so match anywhere.
  if (/Connection terminated|Client has encountered a connection error/.test(error.message)) {
    return true;
  }
  return error instanceof AggregateError && error.errors.some(isDatabaseUnavailable);
}

/**
 * Converts any error of a handler into the ConnectError sent to the client.
 * ConnectErrors pass as they are. A query cancelled because the call's signal
 * aborted gets the signal's code (DEADLINE_EXCEEDED or CANCELED). An
 * unreachable database gets UNAVAILABLE. Anything else gets INTERNAL with a
 * generic message that names the request id, so that a user's report can be
 * matched to the log. The original error goes only to the log, so no SQL, table name
 * or stack trace reaches a client.
 */
export function toClientError(error: unknown, logger: Logger, requestId?: string, signal?: AbortSignal): ConnectError {
  if (error instanceof ConnectError) {
    return error;
  }
  if (signal?.aborted === true && isCancellation(error)) {
    const reason: unknown = signal.reason;
    return reason instanceof ConnectError ? reason : new ConnectError("the call's deadline passed", Code.DeadlineExceeded);
  }
  if (isDatabaseUnavailable(error)) {
    logger.warn({ err: error }, "database unavailable");
    return new ConnectError("database unavailable, retry later", Code.Unavailable);
  }
  logger.error({ err: error }, "unexpected error in handler");
  const reference = requestId === undefined ? "" : ` (request id ${requestId})`;
  return new ConnectError(`internal error${reference}`, Code.Internal);
}

// 57014 is query_canceled, raised by pg_cancel_backend.
function isCancellation(error: unknown): boolean {
  return error instanceof CallAbortedError || (error as { code?: unknown } | undefined)?.code === "57014";
}
