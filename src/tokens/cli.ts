import { parseArgs } from "node:util";
import { ConfigError, loadConfig, loadDotenvFile } from "../config.ts";
import { DatabaseInUseError, databaseOptions, migrateToLatest, openDatabase } from "../db/database.ts";
import { allScopes, isScope, TokenStore, type Scope } from "./token-store.ts";

const usage = `Usage:
  npm run tokens -- create --name NAME --scopes ${allScopes.join(",")}
  npm run tokens -- list
  npm run tokens -- revoke NAME

Manages the API tokens stored in the database that DATABASE_URL (or, when it
is unset, DATA_DIR) selects. "create" prints the token once; only its SHA-256
digest is stored. Scopes: plates.read (Get, Find, List, Validate, Generate
without reserve, GenerateStream), plates.write (Add, Delete, Generate with
reserve).`;

class UsageError extends Error {}

function parseScopes(text: string | undefined): Scope[] {
  if (text === undefined || text.trim() === "") {
    throw new UsageError(`missing --scopes: expected a comma-separated list of ${allScopes.join(", ")}`);
  }
  const scopes = text.split(",").map((scope) => scope.trim());
  const unknown = scopes.filter((scope) => !isScope(scope));
  if (unknown.length > 0) {
    throw new UsageError(`invalid scope ${JSON.stringify(unknown[0])}: expected one of ${allScopes.join(", ")}`);
  }
  return [...new Set(scopes as Scope[])];
}

function formatTime(time: Date | undefined): string {
  return time === undefined ? "-" : time.toISOString();
}

async function run(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: "string" }, scopes: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  const [command, ...rest] = positionals;
  if (values.help === true || command === undefined) {
    process.stdout.write(`${usage}\n`);
    return command === undefined && values.help !== true ? 2 : 0;
  }

  loadDotenvFile();
  const db = openDatabase(databaseOptions(loadConfig()));
  try {
    await migrateToLatest(db);
    const store = new TokenStore(db);
    switch (command) {
      case "create": {
        const name = values.name?.trim();
        if (name === undefined || name === "") {
          throw new UsageError("missing --name: give the token a name that logs and metrics will show");
        }
        const created = await store.create(name, parseScopes(values.scopes));
        if (created === undefined) {
          throw new UsageError(`token name ${JSON.stringify(name)} is taken: choose another name`);
        }
        process.stderr.write(`Created token ${JSON.stringify(name)} with scopes ${created.record.scopes.join(",")}. It is shown once:\n`);
        process.stdout.write(`${created.token}\n`);
        return 0;
      }
      case "list": {
        const rows = (await store.list()).map((token) =>
          [token.name, token.scopes.join(","), formatTime(token.createTime), formatTime(token.lastUseTime), formatTime(token.revokeTime)].join("\t"),
        );
        process.stdout.write(["name\tscopes\tcreated\tlast used\trevoked", ...rows].join("\n") + "\n");
        return 0;
      }
      case "revoke": {
        const name = rest[0];
        if (name === undefined) {
          throw new UsageError("missing token name: npm run tokens -- revoke NAME");
        }
        if (!(await store.revoke(name))) {
          throw new UsageError(`no active token named ${JSON.stringify(name)}: see npm run tokens -- list`);
        }
        process.stderr.write(`Revoked token ${JSON.stringify(name)}; running servers reject it within seconds.\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}\n\n${usage}`);
    }
  } finally {
    await db.destroy();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const known = error instanceof UsageError || error instanceof ConfigError || error instanceof DatabaseInUseError;
    if (known || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`plates tokens: ${(error as Error).message}\n`);
      process.exit(2);
    }
    process.stderr.write(`plates tokens: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
