import { loadConfig, loadDotenvFile } from "./config.ts";
import { databaseOptions, describeDatabase, migrateToLatest, openDatabase } from "./db/database.ts";

// Applies pending migrations to the configured database and exits. The server
// does the same at start, so this is for deployments that migrate separately.
loadDotenvFile();
const options = databaseOptions(loadConfig());
const db = openDatabase(options);
try {
  const applied = await migrateToLatest(db);
  const names = applied.length > 0 ? `: ${applied.join(", ")}` : "";
  process.stdout.write(`${describeDatabase(options)}: applied ${applied.length} migrations${names}\n`);
} finally {
  await db.destroy();
}
