import { existsSync } from "node:fs";
import path from "node:path";
import dotenv from "dotenv";

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
  /** Origins that browsers may call from (CORS_ORIGINS, comma-separated, "*" for any); empty allows none. */
  corsOrigins: string[];
  /** Whether server reflection needs the bearer token (REFLECTION_REQUIRES_TOKEN, default false). */
  reflectionRequiresToken: boolean;
  /** Milliseconds a database check of the health checks may take (HEALTH_CHECK_TIMEOUT_MS, default 2000). */
  healthCheckTimeoutMs: number;
  /** Milliseconds between database checks while a health Watch call is open (HEALTH_WATCH_INTERVAL_MS, default 5000). */
  healthWatchIntervalMs: number;
  /** Milliseconds a call waits for a pooled PostgreSQL connection (DB_ACQUIRE_TIMEOUT_MS, default 5000). */
  dbAcquireTimeoutMs: number;
  /** Milliseconds a token lookup in the database is reused (TOKEN_CACHE_TTL_MS, default 5000). */
  tokenCacheTtlMs: number;
  /** Calls served at once before RESOURCE_EXHAUSTED (MAX_CONCURRENT_CALLS, default 1000). */
  maxConcurrentCalls: number;
  /** Deadline in milliseconds of unary calls that bring none (DEFAULT_DEADLINE_MS, default 30000, 0 for none). */
  defaultDeadlineMs: number;
  /** Whether GET /metrics serves Prometheus metrics (METRICS_ENABLED, default true). */
  metricsEnabled: boolean;
  /** Separate port of GET /metrics (METRICS_PORT); unset serves it on PORT. */
  metricsPort: number | undefined;
}

/** Names of every environment variable that loadDotenvFile and loadConfig read. */
export const settingNames: readonly string[] = [
  "ENV_FILE",
  "PORT",
  "HOST",
  "DATABASE_URL",
  "DATA_DIR",
  "API_TOKENS",
  "DB_POOL_MAX",
  "DB_ACQUIRE_TIMEOUT_MS",
  "MAX_REQUEST_BYTES",
  "MAX_CONCURRENT_CALLS",
  "DEFAULT_DEADLINE_MS",
  "SHUTDOWN_GRACE_MS",
  "LOG_LEVEL",
  "CORS_ORIGINS",
  "REFLECTION_REQUIRES_TOKEN",
  "HEALTH_CHECK_TIMEOUT_MS",
  "HEALTH_WATCH_INTERVAL_MS",
  "TOKEN_CACHE_TTL_MS",
  "METRICS_ENABLED",
  "METRICS_PORT",
];

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

function readBoolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const text = env[name]?.trim().toLowerCase();
  if (text === undefined || text === "") {
    return fallback;
  }
  if (text !== "true" && text !== "false") {
    throw new ConfigError(`invalid ${name} "${env[name]?.trim()}": expected true or false`);
  }
  return text === "true";
}

// An origin is a scheme, a host and an optional port, as browsers send it in
// the Origin header: "https://app.example" or "http://localhost:5173".
function readOrigins(env: NodeJS.ProcessEnv, name: string): string[] {
  const origins = (env[name] ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter((origin) => origin !== "");
  for (const origin of origins) {
    if (origin === "*") {
      continue;
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      throw new ConfigError(
        `invalid ${name} "${origin}": expected origins such as https://app.example or http://localhost:5173 (no path, no trailing slash), or *, separated by commas`,
      );
    }
  }
  return origins;
}

/**
 * Reads the file that ENV_FILE names, or `.env` in the working folder, into
 * process.env when it exists. Variables already set in the environment win
 * over the file. A missing ENV_FILE is an error; a missing `.env` is not.
 */
export function loadDotenvFile(env: NodeJS.ProcessEnv = process.env): void {
  const named = env.ENV_FILE?.trim();
  const file = path.resolve(named || ".env");
  if (!existsSync(file)) {
    if (named) {
      throw new ConfigError(`invalid ENV_FILE "${named}": file not found`);
    }
    return;
  }
  dotenv.config({ path: file, override: false, quiet: true, processEnv: env as Record<string, string> });
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
    corsOrigins: readOrigins(env, "CORS_ORIGINS"),
    reflectionRequiresToken: readBoolean(env, "REFLECTION_REQUIRES_TOKEN", false),
    healthCheckTimeoutMs: readInteger(env, "HEALTH_CHECK_TIMEOUT_MS", 2_000, 100, 60_000),
    healthWatchIntervalMs: readInteger(env, "HEALTH_WATCH_INTERVAL_MS", 5_000, 100, 3_600_000),
    dbAcquireTimeoutMs: readInteger(env, "DB_ACQUIRE_TIMEOUT_MS", 5_000, 10, 600_000),
    tokenCacheTtlMs: readInteger(env, "TOKEN_CACHE_TTL_MS", 5_000, 0, 600_000),
    maxConcurrentCalls: readInteger(env, "MAX_CONCURRENT_CALLS", 1_000, 1, 1_000_000),
    defaultDeadlineMs: readInteger(env, "DEFAULT_DEADLINE_MS", 30_000, 0, 3_600_000),
    metricsEnabled: readBoolean(env, "METRICS_ENABLED", true),
    metricsPort: env.METRICS_PORT?.trim() ? readInteger(env, "METRICS_PORT", 0, 0, 65535) : undefined,
  };
}
