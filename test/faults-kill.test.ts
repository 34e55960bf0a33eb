import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { plateNumberAt } from "../bench/plate-numbers.ts";
import { connectClient } from "./support/clients.ts";
import { testDatabaseUrl } from "./support/server.ts";
import { killLeftovers, startService, stopService, waitForAddress, type ServiceProcess } from "./support/service-process.ts";

const callTimeoutMs = 5_000;
const workers = 8;
// Load runs at least this long, and until this many Adds are acknowledged,
// before the service is killed.
const loadBeforeKillMs = 1_500;
const minAcknowledged = 50;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Acknowledged {
  id: string;
  number: string;
}

/**
 * Sends Adds from `workers` loops until `stop` resolves, pushing each one
 * that returns OK to `acknowledged`; resolves when every loop has ended.
 */
async function addUntil(address: string, token: string, stop: Promise<void>, acknowledged: Acknowledged[]): Promise<void> {
  const client = connectClient("grpc", `http://${address}`, token);
  let nextIndex = 0;
  let loading = true;
  void stop.then(() => {
    loading = false;
  });
  const worker = async () => {
    while (loading) {
      const number = plateNumberAt(nextIndex++);
      try {
        const response = await client.add({ number }, { timeoutMs: callTimeoutMs });
        acknowledged.push({ id: response.plate!.id, number: response.plate!.number });
      } catch {
        // Calls in flight when the process dies fail; only acknowledged ones matter.
        await sleep(10);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}

/** Gets every acknowledged plate through the service; returns those missing or changed. */
async function findMissing(address: string, token: string, plates: Acknowledged[]): Promise<{ plate: Acknowledged; problem: string }[]> {
  const client = connectClient("connect", `http://${address}`, token);
  const missing: { plate: Acknowledged; problem: string }[] = [];
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < plates.length; index = next++) {
      const plate = plates[index]!;
      try {
        const response = await client.get({ id: plate.id }, { timeoutMs: callTimeoutMs });
        if (response.plate?.number !== plate.number) {
          missing.push({ plate, problem: `stored as ${response.plate?.number}` });
        }
      } catch (error) {
        const connectError = ConnectError.from(error);
        missing.push({ plate, problem: `${Code[connectError.code]}: ${connectError.rawMessage}` });
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return missing;
}

/**
 * Kills the service's process group with SIGKILL, as an out-of-memory killer
 * would, and waits until the process has exited and been reaped, so that the
 * restarted service does not find it still holding the PGlite folder.
 */
async function killHard(service: ServiceProcess): Promise<void> {
  process.kill(-service.child.pid!, "SIGKILL");
  const status = await service.exited;
  expect(status.signal).toBe("SIGKILL");
}

/** Loads Adds, kills the service, restarts it and checks every acknowledged Add. */
async function killDuringAdds(settings: Record<string, string>, token: string): Promise<void> {
  const first = startService(settings);
  const address = await waitForAddress(first);

  let killed!: () => void;
  const stop = new Promise<void>((resolve) => {
    killed = resolve;
  });
  const acknowledged: Acknowledged[] = [];
  const loading = addUntil(address, token, stop, acknowledged);
  const loadStarted = performance.now();
  while (performance.now() - loadStarted < loadBeforeKillMs || acknowledged.length < minAcknowledged) {
    if (performance.now() - loadStarted > 20_000) {
      throw new Error("the service acknowledged too few Adds in 20 s to test a kill");
    }
    await sleep(50);
  }
  await killHard(first);
  killed();
  await loading;
  expect(acknowledged.length).toBeGreaterThanOrEqual(minAcknowledged);

  const second = startService(settings);
  const restartedAddress = await waitForAddress(second);
  const missing = await findMissing(restartedAddress, token, acknowledged);
  expect(missing).toEqual([]);

  // The restarted service takes new Adds, numbers beyond those of the first run.
  const added = await connectClient("grpc", `http://${restartedAddress}`, token).add(
    { number: plateNumberAt(1_000_000) },
    { timeoutMs: callTimeoutMs },
  );
  expect(added.plate?.id).toBeTruthy();
  const status = await stopService(second);
  expect(status.code).toBe(0);
}

describe("service killed with SIGKILL", () => {
  const token = randomBytes(16).toString("hex");
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    await killLeftovers();
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  });

  afterAll(killLeftovers);

  it("keeps acknowledged Adds on PostgreSQL", { timeout: 90_000 }, async () => {
    // main.ts has no schema setting, so the service gets a database of its own.
    const database = `plates_fault_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
    await admin.query(`create database ${database}`);
    cleanups.push(async () => {
      await admin.query(`drop database if exists ${database} with (force)`);
      await admin.end();
    });
    const url = new URL(testDatabaseUrl);
    url.pathname = `/${database}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), "plates-kill-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    await killDuringAdds({ DATABASE_URL: url.toString(), DATA_DIR: dataDir, API_TOKENS: token }, token);
  });

  it("keeps acknowledged Adds on PGlite", { timeout: 90_000 }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "plates-kill-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    await killDuringAdds({ DATA_DIR: dataDir, API_TOKENS: token }, token);
  });
});
