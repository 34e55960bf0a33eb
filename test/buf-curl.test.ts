import { execFile } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/clients.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

type CurlProtocol = "grpc" | "grpcweb" | "connect";

const buf = path.join(repoRoot, "node_modules/.bin/buf");
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Runs `buf curl` on one PlateService method and resolves with its exit code, also when that is non-zero. */
function bufCurl(
  server: TestServer,
  method: string,
  request: object,
  options: { protocol: CurlProtocol; http2: boolean; token: string | undefined },
): Promise<CommandResult> {
  const args = ["curl", "--schema", "proto", "--protocol", options.protocol, "--data", JSON.stringify(request)];
  if (options.http2) {
    args.push("--http2-prior-knowledge");
  }
  if (options.token !== undefined) {
    args.push("-H", `authorization: Bearer ${options.token}`);
  }
  args.push(`${server.baseUrl}/plates.v1.PlateService/${method}`);

  return new Promise((resolve, reject) => {
    execFile(buf, args, { cwd: repoRoot, timeout: 20_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== "number") {
        reject(new Error(`buf curl failed to run: ${error.message}; stderr: ${stderr}`));
        return;
      }
      resolve({ exitCode: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

function parseJson(text: string): Record<string, unknown> {
  return JSON.parse(text) as Record<string, unknown>;
}

function plateOf(output: string): Record<string, unknown> {
  return (parseJson(output).plate ?? {}) as Record<string, unknown>;
}

describe("buf curl", () => {
  let server: TestServer;
  let added: CommandResult;

  beforeAll(async () => {
    server = await startTestServer("postgres");
    added = await bufCurl(server, "Add", { number: " а123вс 77 " }, { protocol: "grpc", http2: true, token: server.token });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("adds plate over gRPC", () => {
    expect(added.exitCode, added.stderr).toBe(0);
    expect(plateOf(added.stdout).number).toBe("А123ВС77");
    expect(plateOf(added.stdout).id).toMatch(uuidPattern);
  });

  it.each([
    ["connect", false],
    ["connect", true],
    ["grpcweb", false],
    ["grpc", true],
  ] as const)("gets plate over %s (HTTP/2: %s)", async (protocol, http2) => {
    const id = plateOf(added.stdout).id;
    expect(id).toMatch(uuidPattern);

    const result = await bufCurl(server, "Get", { id }, { protocol, http2, token: server.token });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(plateOf(result.stdout).id).toBe(id);
    expect(plateOf(result.stdout).number).toBe("А123ВС77");
    expect(plateOf(result.stdout).createTime).toBe(plateOf(added.stdout).createTime);
  });

  it("reports existing number over Connect", async () => {
    const result = await bufCurl(server, "Add", { number: "А123ВС77" }, { protocol: "connect", http2: false, token: server.token });
    expect(result.exitCode).not.toBe(0);
    expect(parseJson(result.stderr).code).toBe("already_exists");
  });

  it.each([
    ["connect", false],
    ["grpcweb", false],
    ["grpc", true],
  ] as const)("rejects missing token over %s", async (protocol, http2) => {
    const result = await bufCurl(server, "Add", { number: "в456ок 99" }, { protocol, http2, token: undefined });
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe("");
    expect(parseJson(result.stderr).code).toBe("unauthenticated");
  });

  it("stores nothing for rejected call", async () => {
    const listed = await bufCurl(server, "List", {}, { protocol: "connect", http2: false, token: server.token });
    expect(listed.exitCode, listed.stderr).toBe(0);
    const numbers = ((parseJson(listed.stdout).plates ?? []) as { number: string }[]).map((plate) => plate.number);
    expect(numbers).toEqual(["А123ВС77"]);
  });
});
