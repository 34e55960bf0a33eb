import pino, { type Logger } from "pino";

/** Creates the JSON-lines logger of the service, writing to standard output. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "plates" },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Request metadata never reaches the log, but redact the header anyway in
    // case an error object carries it.
    redact: ["authorization", "*.authorization", "headers.authorization"],
  });
}
