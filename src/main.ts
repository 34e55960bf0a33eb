import type { Knex } from "knex";
import { loadOrCreateToken, tokensFromList, type ApiToken } from "./auth.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { databaseOptions, describeDatabase, migrateToLatest, openDatabase } from "./db/database.ts";
import { createLogger } from "./logger.ts";
import { createPlatesServer } from "./server.ts";
import { KnexPlateStore } from "./store/plate-store.ts";
import type { Logger } from "pino";

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
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`plates: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);

  const dbOptions = databaseOptions(config);
  const db: Knex = openDatabase(dbOptions);
  const applied = await migrateToLatest(db);
  logger.info({ database: describeDatabase(dbOptions), migrationsApplied: applied }, "database ready");

  const tokens = await resolveTokens(config, logger);
  const server = createPlatesServer({
    store: new KnexPlateStore(db),
    tokens,
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

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down");
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
