// Our server: createPlatesServer on PostgreSQL, logging one JSON line per
// call to standard output as the service does.
import { readChildSettings, serve } from "./child.ts";

const settings = readChildSettings();

serve(settings.workers, async () => {
  // Imported here, so that a cluster primary, which serves nothing, does not
  // load the server and count its memory.
  const { openDatabase } = await import("../../src/db/database.ts");
  const { createLogger } = await import("../../src/logger.ts");
  const { createPlatesServer } = await import("../../src/server.ts");
  const { KnexPlateStore } = await import("../../src/store/plate-store.ts");

  const db = openDatabase({ kind: "postgres", url: settings.databaseUrl, poolMax: 10, schema: settings.schema });
  const server = createPlatesServer({
    store: new KnexPlateStore(db),
    tokens: [{ name: "bench", value: settings.token }],
    logger: createLogger(process.env.LOG_LEVEL ?? "info"),
    maxRequestBytes: 65_536,
  });
  const address = await server.listen(0, "127.0.0.1");
  return address.port;
});
