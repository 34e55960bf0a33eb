import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/clients.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const run = promisify(execFile);
// Debian's python3-grpcio belongs to the system Python, not to any other on the PATH.
const python = "/usr/bin/python3";
const script = path.join(repoRoot, "test/python/plates_client.py");
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Json = Record<string, unknown>;

interface PythonError {
  code: string;
  message: string;
  status_code: number | null;
  status_message: string | null;
  details: { type: string; fields: Json }[];
}

describe("Python grpcio client", () => {
  let server: TestServer;
  let folder: string;
  let results: Record<string, unknown>;

  beforeAll(async () => {
    server = await startTestServer("postgres");
    folder = await mkdtemp(path.join(tmpdir(), "plates-python-"));
    const descriptorSet = path.join(folder, "plates.binpb");
    // The descriptors come from the proto files; the client builds its messages from them.
    await run(
      path.join(repoRoot, "node_modules/.bin/buf"),
      [
        "build",
        "--path",
        "proto/plates/v1/plate_service.proto",
        "--path",
        "node_modules/google-proto-files/google/rpc/status.proto",
        "--path",
        "node_modules/google-proto-files/google/rpc/error_details.proto",
        "--path",
        "node_modules/grpc-health-check/proto/health/v1/health.proto",
        "--as-file-descriptor-set",
        "-o",
        descriptorSet,
      ],
      { cwd: repoRoot, timeout: 60_000 },
    );
    const { stdout } = await run(python, [script, `127.0.0.1:${server.port}`, server.token, descriptorSet], {
      timeout: 60_000,
      env: { ...process.env, PYTHONIOENCODING: "utf-8" },
    });
    results = JSON.parse(stdout) as Record<string, unknown>;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (folder !== undefined) {
      await rm(folder, { recursive: true, force: true });
    }
  });

  const plate = (name: string) => ((results[name] as Json).plate ?? {}) as Json;
  const failure = (name: string) => results[name] as PythonError;

  it("adds plate", () => {
    expect(plate("add").number).toBe("А123ВС77");
    expect(plate("add").id).toMatch(uuidPattern);
    expect(plate("add").type).toBe("PLATE_TYPE_CAR");
  });

  it("gets and finds plate", () => {
    expect(plate("get")).toEqual(plate("add"));
    expect(plate("find").id).toBe(plate("add").id);
  });

  it("lists plate with filters", () => {
    const plates = (results.list as Json).plates as Json[];
    expect(plates.map((item) => item.id)).toEqual([plate("add").id]);
  });

  it("validates number", () => {
    const validated = results.validate as Json;
    expect(validated.valid).toBe(true);
    expect((validated.plate as Json).number).toBe("М777ММ197");
  });

  it("generates with gzip request", () => {
    expect((results.generate as Json).plates as Json[]).toHaveLength(3);
  });

  it("reads GenerateStream batches", () => {
    const numbers = (results.generate_stream as Json[]).flatMap((batch) => (batch.plates as Json[]).map((item) => item.number));
    expect(numbers).toHaveLength(5);
  });

  it("reads error details of failed Add", () => {
    const error = failure("add_invalid");
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("ж123вс77");
    expect(error.status_code).toBe(3);
    expect(error.status_message).toBe(error.message);
    const types = error.details.map((detail) => detail.type);
    expect(types).toEqual(expect.arrayContaining(["google.rpc.ErrorInfo", "google.rpc.BadRequest", "google.rpc.LocalizedMessage"]));
    const info = error.details.find((detail) => detail.type === "google.rpc.ErrorInfo")?.fields;
    expect(info?.domain).toBe("plates.v1");
    expect(info?.reason).toBe("INVALID_CHARACTER");
    const localized = error.details.find((detail) => detail.type === "google.rpc.LocalizedMessage")?.fields;
    expect(localized?.locale).toBe("ru-RU");
    expect(String(localized?.message)).toMatch(/[А-Яа-яЁё]/);
  });

  it("reads Cyrillic message intact", () => {
    const error = failure("add_existing");
    expect(error.code).toBe("ALREADY_EXISTS");
    expect(error.message).toBe("plate А123ВС77 already exists");
  });

  it("gets UNAUTHENTICATED without token", () => {
    expect(failure("add_without_token").code).toBe("UNAUTHENTICATED");
  });

  it("deletes plate", () => {
    expect(results.delete).toEqual({});
    expect(failure("get_deleted").code).toBe("NOT_FOUND");
  });

  it("checks health without token", () => {
    expect(results.health).toEqual({ status: "SERVING" });
  });
});
