import path from "node:path";

/** Settings of the service, read once at start from the environment. */
export interface Config {
  /** TCP port of gRPC, gRPC-Web and Connect (PORT, default 8080). */
  port: number;
  /** Address to listen on (HOST, default 0.0.0.0, every IPv4 interface). */
  host: string;
  /** PostgreSQL URL (DATABASE_URL); unset selects the embedded PGlite database. */
  databaseUrl: string | undefined;
  /** Folder of the embedded database and the generated token (DATA_DIR, default ./.data). */
  dataDir: string;
  /** Accepted bearer tokens (API_TOKENS, comma-separated); empty to generate one. */
  apiTokens: string[];
  /** Maximum count of PostgreSQL connections (DB_POOL_MAX, default 10). */
  dbPoolMax: number;
  /** Maximum size of a request body in bytes (MAX_REQUEST_BYTES, default 65536). */
  maxRequestBytes: number;
  /** Milliseconds that calls in flight get to finish on shutdown (SHUTDOWN_GRACE_MS, default 10000). */
  shutdownGraceMs: number;
  /** pino log level (LOG_LEVEL, default info). */
  logLevel: string;
}

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Error raised for an invalid setting; its message names the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = env[name]?.trim();
  if (text === undefined || text === "") {
    return fallback;
  }
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new ConfigError(`invalid ${name} "${text}": expected an integer from ${min} to ${max}`);
  }
  return value;
}

/** Reads and validates the settings; throws ConfigError on an invalid value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError("invalid DATABASE_URL: expected postgres://user@host:port/database");
  }

  const apiTokens = (env.API_TOKENS ?? "")
    .split(",")
    .map((token) => token.trim())
    .filter((token) => token !== "");
  if (apiTokens.some((token) => !/^[\x21-\x7e]+$/.test(token))) {
    throw new ConfigError("invalid API_TOKENS: tokens must be printable ASCII without spaces, separated by commas");
  }

  const logLevel = env.LOG_LEVEL?.trim() || "info";
  if (!logLevels.includes(logLevel)) {
    throw new ConfigError(`invalid LOG_LEVEL "${logLevel}": expected one of ${logLevels.join(", ")}`);
  }

  return {
    port: readInteger(env, "PORT", 8080, 0, 65535),
    host: env.HOST?.trim() || "0.0.0.0",
    databaseUrl,
    dataDir: path.resolve(env.DATA_DIR?.trim() || ".data"),
    apiTokens,
    dbPoolMax: readInteger(env, "DB_POOL_MAX", 10, 1, 1000),
    maxRequestBytes: readInteger(env, "MAX_REQUEST_BYTES", 65_536, 1024, 64 * 1024 * 1024),
    shutdownGraceMs: readInteger(env, "SHUTDOWN_GRACE_MS", 10_000, 0, 3_600_000),
    logLevel,
  };
}
