import { access, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceEntry, serviceNodeOptions } from "../scripts/build.ts";
import {
  callConnectJson,
  killLeftovers,
  startService,
  startTimeoutMs,
  stopService,
  waitForAddress,
  type ServiceProcess,
} from "./support/service-process.ts";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function plateOf(body: Record<string, unknown>): Record<string, unknown> {
  return (body.plate ?? {}) as Record<string, unknown>;
}

async function fileExists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Returns the command line of every child process of `pid`, read from /proc. */
async function childCommandLines(pid: number): Promise<string[][]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, "utf8")).trim().split(/\s+/).filter(Boolean);
  return Promise.all(children.map(async (child) => (await readFile(`/proc/${child}/cmdline`, "utf8")).split("\0").filter(Boolean)));
}

describe("main process with generated token", () => {
  let dataDir: string;
  let tokenFile: string;
  let first: ServiceProcess;
  let address: string;
  let token: string;
  let addedId: string | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "plates-main-"));
    tokenFile = path.join(dataDir, "api-token");
    first = startService({ DATA_DIR: dataDir });
    address = await waitForAddress(first);
    token = (await readFile(tokenFile, "utf8")).trim();
  }, startTimeoutMs + 5_000);

  afterAll(async () => {
    await killLeftovers();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("creates token file with mode 0600", async () => {
    const info = await stat(tokenFile);
    expect(info.mode & 0o777).toBe(0o600);
    expect(token).not.toBe("");
  });

  it("logs token file path", () => {
    const line = first.logs.find((log) => log.file === tokenFile);
    expect(line).toBeDefined();
    expect(line?.created).toBe(true);
  });

  it("logs database ready before listening", () => {
    const messages = first.logs.map((log) => log.msg);
    expect(messages).toContain("database ready");
    expect(messages.indexOf("database ready")).toBeLessThan(messages.indexOf("listening"));
  });

  it("applies migrations on first start", () => {
    const ready = first.logs.find((log) => log.msg === "database ready");
    expect(ready?.migrationsApplied).toEqual(expect.arrayContaining([expect.any(String)]));
  });

  it("adds plate over Connect JSON", async () => {
    const response = await callConnectJson(address, "Add", { number: " а123вс 77 " }, token);
    expect(response.status).toBe(200);
    expect(plateOf(response.body).number).toBe("А123ВС77");
    expect(plateOf(response.body).id).toMatch(uuidPattern);
    addedId = plateOf(response.body).id as string;
  });

  it("logs call line for Add", async () => {
    const line = await first.waitForLog((log) => log.msg === "call" && log.code === "ok");
    expect(line.procedure).toBe("plates.v1.PlateService/Add");
    expect(line.protocol).toBe("connect");
    expect(line.token).toBe("generated");
    expect(line.durationMs).toEqual(expect.any(Number));
  });

  it("rejects call without token", async () => {
    const response = await callConnectJson(address, "Add", { number: "в456ок 99" }, undefined);
    expect(response.status).toBe(401);
    expect(response.body.code).toBe("unauthenticated");
  });

  it("logs call line for rejected call", async () => {
    const line = await first.waitForLog((log) => log.msg === "call" && log.code === "unauthenticated");
    expect(line.procedure).toBe("plates.v1.PlateService/Add");
    expect(line.protocol).toBe("connect");
    expect(line.token).toBeUndefined();
  });

  it("rejects wrong token", async () => {
    const response = await callConnectJson(address, "Add", { number: "в456ок 99" }, `${token}x`);
    expect(response.status).toBe(401);
    expect(response.body.code).toBe("unauthenticated");
  });

  it("stops on SIGTERM with exit code 0", async () => {
    const status = await stopService(first);
    expect(status.code).toBe(0);
    expect(first.logs.find((log) => log.msg === "shutting down")?.signal).toBe("SIGTERM");
    expect(first.logs.at(-1)?.msg).toBe("stopped");
  });

  it("writes only JSON lines to stdout", () => {
    expect(first.otherLines).toEqual([]);
  });

  it("never logs token value", () => {
    expect(first.stdout()).toContain(tokenFile);
    expect(first.stdout()).not.toContain(token);
    expect(first.stderr()).not.toContain(token);
  });

  it("keeps token and plates after restart", async () => {
    const second = startService({ DATA_DIR: dataDir });
    const secondAddress = await waitForAddress(second);

    expect((await readFile(tokenFile, "utf8")).trim()).toBe(token);
    expect(second.logs.find((log) => log.file === tokenFile)?.created).toBe(false);
    expect(second.logs.find((log) => log.msg === "database ready")?.migrationsApplied).toEqual([]);

    expect(addedId).toMatch(uuidPattern);
    const response = await callConnectJson(secondAddress, "Get", { id: addedId }, token);
    expect(response.status).toBe(200);
    expect(plateOf(response.body).id).toBe(addedId);
    expect(plateOf(response.body).number).toBe("А123ВС77");

    const status = await stopService(second, "SIGINT");
    expect(status.code).toBe(0);
    expect(second.logs.at(-1)?.msg).toBe("stopped");
    expect(second.stdout()).not.toContain(token);
  }, startTimeoutMs + 15_000);
});

describe("npm start", () => {
  afterAll(killLeftovers);

  it("serves from the built bundle", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "plates-npm-start-"));
    try {
      const service = startService({ DATA_DIR: dataDir, API_TOKENS: "npm-start-token" }, { npmStart: true });
      const address = await waitForAddress(service);
      const response = await callConnectJson(address, "Validate", { number: "а123вс77" }, "npm-start-token");
      expect(plateOf(response.body).number).toBe("А123ВС77");

      // npm's one remaining child is Node running the bundle, with no TypeScript loader.
      const children = await childCommandLines(service.child.pid!);
      expect(children.map((commandLine) => commandLine.slice(1))).toEqual([[...serviceNodeOptions, serviceEntry]]);
    } finally {
      await killLeftovers();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, startTimeoutMs + 30_000);
});

describe("main process with invalid setting", () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "plates-main-"));
  });

  afterAll(async () => {
    await killLeftovers();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("exits non-zero on PORT=abc", async () => {
    const service = startService({ DATA_DIR: dataDir, PORT: "abc" });
    const status = await service.exited;
    expect(status.code).not.toBe(0);
    expect(status.code).not.toBeNull();
    expect(service.stderr()).toContain("PORT");
    expect(service.logs.map((log) => log.msg)).not.toContain("listening");
  }, startTimeoutMs);
});

describe("main process with API_TOKENS", () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "plates-main-"));
  });

  afterAll(async () => {
    await killLeftovers();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("accepts listed token without token file", async () => {
    const service = startService({ DATA_DIR: dataDir, API_TOKENS: "a,b" });
    const address = await waitForAddress(service);

    expect(await fileExists(path.join(dataDir, "api-token"))).toBe(false);

    const accepted = await callConnectJson(address, "Add", { number: "в456ок 99" }, "b");
    expect(accepted.status).toBe(200);
    expect(plateOf(accepted.body).number).toBe("В456ОК99");
    const line = await service.waitForLog((log) => log.msg === "call" && log.code === "ok");
    expect(line.token).toBe("API_TOKENS[1]");

    const rejected = await callConnectJson(address, "Add", { number: "в456ок 99" }, "c");
    expect(rejected.status).toBe(401);
    expect(rejected.body.code).toBe("unauthenticated");

    const status = await stopService(service);
    expect(status.code).toBe(0);
    expect(await fileExists(path.join(dataDir, "api-token"))).toBe(false);
  }, startTimeoutMs + 15_000);
});
