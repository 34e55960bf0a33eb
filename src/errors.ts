import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";

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
 * ConnectErrors pass as they are; an unreachable database becomes UNAVAILABLE
 * and anything else INTERNAL, with a generic message. The original error goes
 * only to the log, so no SQL, table name or stack trace reaches a client.
 */
export function toClientError(error: unknown, logger: Logger): ConnectError {
  if (error instanceof ConnectError) {
    return error;
  }
  if (isDatabaseUnavailable(error)) {
    logger.warn({ err: error }, "database unavailable");
    return new ConnectError("database unavailable, retry later", Code.Unavailable);
  }
  logger.error({ err: error }, "unexpected error in handler");
  return new ConnectError("internal error", Code.Internal);
}
