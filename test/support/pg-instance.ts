import { execFile } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A PostgreSQL server of its own, in a temporary folder, listening on 127.0.0.1 only. */
export interface PgInstance {
  port: number;
  /** Folder of the cluster, its log and its Unix socket. */
  directory: string;
  /** URL of a database on this server as the `postgres` superuser (trust auth). */
  url(database?: string): string;
  /** Starts the server again after `stop` and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server; "fast" ends sessions and checkpoints, "immediate" does neither. */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** Stops the server if it runs and deletes its folder. */
  destroy(): Promise<void>;
}

/** Returns the bin folder of the newest PostgreSQL under /usr/lib/postgresql, as Debian installs it. */
export function findPostgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(`no PostgreSQL version folder in ${root}: install the postgresql package`);
  }
  return path.join(root, newest, "bin");
}

async function findFreePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// initdb and the server refuse to run as root, so as root they run as the
// `postgres` user, which must own the folder.
const asRoot = process.getuid?.() === 0;

async function runAsPostgres(command: string, args: string[]): Promise<void> {
  if (asRoot) {
    await run("runuser", ["-u", "postgres", "--", command, ...args], { timeout: 60_000 });
  } else {
    await run(command, args, { timeout: 60_000 });
  }
}

async function postgresUserIds(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

/**
 * Creates a cluster with initdb in a new temporary folder and starts it with
 * pg_ctl on a free port of 127.0.0.1. fsync is off: the tests stop the server
 * only in ways that keep the operating system's page cache.
 */
export async function startPgInstance(): Promise<PgInstance> {
  const bin = findPostgresBin();
  const directory = mkdtempSync(path.join(tmpdir(), "plates-pg-"));
  const dataDirectory = path.join(directory, "data");
  const logFile = path.join(directory, "server.log");
  if (asRoot) {
    const { uid, gid } = await postgresUserIds();
    chownSync(directory, uid, gid);
  }
  const port = await findFreePort();
  let running = false;

  const start = async () => {
    const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${directory} -c fsync=off -c max_connections=50`;
    await runAsPostgres(path.join(bin, "pg_ctl"), ["start", "-w", "-t", "30", "-D", dataDirectory, "-l", logFile, "-o", options]);
    running = true;
  };
  const stop = async (mode: "fast" | "immediate" = "fast") => {
    await runAsPostgres(path.join(bin, "pg_ctl"), ["stop", "-w", "-t", "30", "-m", mode, "-D", dataDirectory]);
    running = false;
  };

  try {
    await runAsPostgres(path.join(bin, "initdb"), [
      "-D",
      dataDirectory,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    await start();
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }

  return {
    port,
    directory,
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start,
    stop,
    destroy: async () => {
      try {
        if (running) {
          await stop("immediate");
        }
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
  };
}
