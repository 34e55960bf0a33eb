import http from "node:http";
import type { Knex } from "knex";
import type { Logger } from "pino";
import { loadOrCreateToken, tokensFromList, type ApiToken } from "./auth.ts";
import { ConfigError, loadConfig, loadDotenvFile, type Config } from "./config.ts";
import { databaseOptions, describeDatabase, migrateToLatest, openDatabase } from "./db/database.ts";
import { createMetricsHandler } from "./http/metrics.ts";
import { createLogger } from "./logger.ts";
import { createMetrics } from "./metrics.ts";
import { createPlatesServer } from "./server.ts";
import { KnexPlateStore } from "./store/plate-store.ts";
import { TokenStore } from "./tokens/token-store.ts";

async function resolveTokens(config: Config, logger: Logger): Promise<ApiToken[]> {
  if (config.apiTokens.length > 0) {
    return tokensFromList(config.apiTokens);
  }
  const { token, file, created } = await loadOrCreateToken(config.dataDir);
  logger.info({ file, created }, created ? "API_TOKENS not set, generated a token; read it from the file" : "API_TOKENS not set, using the token in the file");
  return [token];
}

async function main(): Promise<void> {
  let config: Config;
  try {
    loadDotenvFile();
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`plates: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // A promise rejection that no code handles is a bug, but one call's bug must
  // not end the process and every other call with it.
  process.on("unhandledRejection", (reason) => {
    logger.error({ err: reason }, "unhandled promise rejection");
  });

  const dbOptions = databaseOptions(config);
  const db: Knex = openDatabase(dbOptions, logger);
  const applied = await migrateToLatest(db);
  logger.info({ database: describeDatabase(dbOptions), migrationsApplied: applied }, "database ready");

  const tokens = await resolveTokens(config, logger);
  const metrics = config.metricsEnabled ? createMetrics(db) : undefined;
  const server = createPlatesServer({
    store: new KnexPlateStore(db),
    tokens,
    tokenStore: new TokenStore(db),
    tokenCacheTtlMs: config.tokenCacheTtlMs,
    metrics,
    serveMetrics: metrics !== undefined && config.metricsPort === undefined,
    maxConcurrentCalls: config.maxConcurrentCalls,
    defaultDeadlineMs: config.defaultDeadlineMs,
    logger,
    maxRequestBytes: config.maxRequestBytes,
    checkDatabase: async () => {
      await db.raw("select 1");
    },
    healthCheckTimeoutMs: config.healthCheckTimeoutMs,
    healthWatchIntervalMs: config.healthWatchIntervalMs,
    reflectionRequiresToken: config.reflectionRequiresToken,
    corsOrigins: config.corsOrigins,
  });
  const address = await server.listen(config.port, config.host);
  logger.info({ address: `${address.address}:${address.port}`, database: dbOptions.kind }, "listening");

  let metricsServer: http.Server | undefined;
  if (metrics !== undefined && config.metricsPort !== undefined) {
    const serveMetrics = createMetricsHandler(metrics);
    metricsServer = http.createServer((request, response) => {
      if (!serveMetrics(request, response)) {
        response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: only /metrics is served on this port\n");
      }
    });
    const metricsPort = config.metricsPort;
    await new Promise<void>((resolve, reject) => {
      metricsServer?.once("error", reject).listen(metricsPort, config.host, () => resolve());
    });
    const bound = metricsServer.address() as { address: string; port: number };
    logger.info({ address: `${bound.address}:${bound.port}` }, "metrics listening");
  }

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down");
    metricsServer?.close();
    await server.close(config.shutdownGraceMs);
    await db.destroy();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", (signal) => void stop(signal));
  process.on("SIGINT", (signal) => void stop(signal));
}

main().catch((error: unknown) => {
  process.stderr.write(`plates: start failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
