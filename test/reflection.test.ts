import { execFile } from "node:child_process";
import path from "node:path";
import { create, createFileRegistry, fromBinary, getOption, toBinary, type FileRegistry, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http } from "../gen/google/api/annotations_pb.ts";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.ts";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { repoRoot } from "./support/clients.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const buf = path.join(repoRoot, "node_modules/.bin/buf");
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const listedServices = [
  "plates.v1.PlateService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

type ReflectionRequestInit = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

function bearer(token: string | undefined): Interceptor {
  return (next) => (request) => {
    if (token !== undefined) {
      request.header.set("authorization", `Bearer ${token}`);
    }
    return next(request);
  };
}

/**
 * Sends reflection requests on one stream, over gRPC, and returns the
 * responses converted to v1 (v1alpha has the same fields).
 */
async function reflect(
  server: TestServer,
  version: "v1" | "v1alpha",
  requests: ReflectionRequestInit[],
  token?: string,
): Promise<v1.ServerReflectionResponse[]> {
  const transport = createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(token)] });
  const responses: v1.ServerReflectionResponse[] = [];
  if (version === "v1") {
    const client = createClient(v1.ServerReflection, transport);
    const stream = client.serverReflectionInfo(
      (async function* () {
        yield* requests.map((request) => create(v1.ServerReflectionRequestSchema, request));
      })(),
      { timeoutMs: 10_000 },
    );
    for await (const response of stream) {
      responses.push(response);
    }
    return responses;
  }
  const client = createClient(v1alpha.ServerReflection, transport);
  const stream = client.serverReflectionInfo(
    (async function* () {
      for (const request of requests) {
        yield fromBinary(
          v1alpha.ServerReflectionRequestSchema,
          toBinary(v1.ServerReflectionRequestSchema, create(v1.ServerReflectionRequestSchema, request)),
        );
      }
    })(),
    { timeoutMs: 10_000 },
  );
  for await (const response of stream) {
    responses.push(fromBinary(v1.ServerReflectionResponseSchema, toBinary(v1alpha.ServerReflectionResponseSchema, response)));
  }
  return responses;
}

function fileNames(response: v1.ServerReflectionResponse | undefined): string[] {
  if (response?.messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected file descriptors, got ${response?.messageResponse.case}`);
  }
  return response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

/** Builds a registry from the files of file-descriptor responses only, as a reflection client does. */
function registryOf(responses: v1.ServerReflectionResponse[]): FileRegistry {
  const files = new Map<string, ReturnType<typeof fromBinary<typeof FileDescriptorProtoSchema>>>();
  for (const response of responses) {
    if (response.messageResponse.case === "fileDescriptorResponse") {
      for (const bytes of response.messageResponse.value.fileDescriptorProto) {
        const file = fromBinary(FileDescriptorProtoSchema, bytes);
        files.set(file.name, file);
      }
    }
  }
  // createFileRegistry needs every import before its importers.
  const ordered: (typeof files extends Map<string, infer F> ? F : never)[] = [];
  const visit = (name: string) => {
    const file = files.get(name);
    if (file === undefined || ordered.includes(file)) {
      return;
    }
    file.dependency.forEach(visit);
    ordered.push(file);
  };
  [...files.keys()].forEach(visit);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
}

interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `buf curl` with reflection only, no proto files, and resolves with its exit code. */
function bufCurl(args: string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(buf, ["curl", ...args], { cwd: repoRoot, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== "number") {
        reject(new Error(`buf curl failed to run: ${error.message}; stderr: ${stderr}`));
        return;
      }
      resolve({ exitCode: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

describe.each(["v1", "v1alpha"] as const)("reflection %s without token", (version) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("pglite");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("lists every service", async () => {
    const [response] = await reflect(server, version, [{ host: "localhost", messageRequest: { case: "listServices", value: "" } }]);
    expect(response?.validHost).toBe("localhost");
    expect(response?.messageResponse.case).toBe("listServicesResponse");
    const names = response?.messageResponse.case === "listServicesResponse" ? response.messageResponse.value.service.map((service) => service.name) : [];
    expect(names.sort()).toEqual([...listedServices].sort());
  });

  it("serves PlateService file with imports", async () => {
    const responses = await reflect(server, version, [
      { messageRequest: { case: "fileContainingSymbol", value: "plates.v1.PlateService" } },
    ]);
    const names = fileNames(responses[0]);
    expect(names[0]).toBe("plates/v1/plate_service.proto");
    expect(names.sort()).toEqual([
      "google/api/annotations.proto",
      "google/api/http.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/timestamp.proto",
      "plates/v1/plate_service.proto",
    ]);
  });

  it("serves descriptors that build a registry", async () => {
    const responses = await reflect(server, version, [
      { messageRequest: { case: "fileContainingSymbol", value: "plates.v1.PlateService" } },
    ]);
    const registry = registryOf(responses);
    const service = registry.getService("plates.v1.PlateService");
    expect(service?.methods.map((method) => method.name)).toEqual([
      "Add",
      "Get",
      "Find",
      "List",
      "Delete",
      "Validate",
      "Generate",
      "GenerateStream",
    ]);
    const get = service?.methods.find((method) => method.name === "Get");
    expect(get === undefined ? undefined : getOption(get, http).pattern).toEqual({ case: "get", value: "/v1/plates/{id}" });
  });

  it.each([
    ["plates.v1.PlateService.Add", "plates/v1/plate_service.proto"],
    ["plates.v1.ListRequest", "plates/v1/plate_service.proto"],
    ["plates.v1.PlateType", "plates/v1/plate_service.proto"],
    ["google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
    ["google.api.HttpRule", "google/api/http.proto"],
    ["google.rpc.ErrorInfo", "google/rpc/error_details.proto"],
    ["grpc.health.v1.Health", "health/v1/health.proto"],
  ])("finds file of %s", async (symbol, file) => {
    const responses = await reflect(server, version, [{ messageRequest: { case: "fileContainingSymbol", value: symbol } }]);
    expect(fileNames(responses[0])[0]).toBe(file);
  });

  it("serves file by name", async () => {
    const responses = await reflect(server, version, [{ messageRequest: { case: "fileByFilename", value: "google/api/http.proto" } }]);
    expect(fileNames(responses[0])).toEqual(["google/api/http.proto"]);
  });

  it("finds google.api.http extension", async () => {
    const responses = await reflect(server, version, [
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 72295728 },
        },
      },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" } },
    ]);
    expect(fileNames(responses[0])[0]).toBe("google/api/annotations.proto");
    expect(responses[1]?.messageResponse.case).toBe("allExtensionNumbersResponse");
    const numbers = responses[1]?.messageResponse.case === "allExtensionNumbersResponse" ? responses[1].messageResponse.value.extensionNumber : [];
    expect(numbers).toContain(72295728);
  });

  it("answers unknown symbol inside stream", async () => {
    const responses = await reflect(server, version, [
      { messageRequest: { case: "fileContainingSymbol", value: "plates.v1.NoSuchThing" } },
      { messageRequest: { case: "fileByFilename", value: "no/such/file.proto" } },
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 1 } } },
      { messageRequest: { case: undefined } },
      { messageRequest: { case: "listServices", value: "" } },
    ]);
    expect(responses).toHaveLength(5);
    for (const [index, code] of [Code.NotFound, Code.NotFound, Code.NotFound, Code.InvalidArgument].entries()) {
      const response = responses[index];
      expect(response?.messageResponse.case).toBe("errorResponse");
      expect(response?.messageResponse.case === "errorResponse" ? response.messageResponse.value.errorCode : undefined).toBe(code);
    }
    const first = responses[0]?.messageResponse;
    expect(first?.case === "errorResponse" ? first.value.errorMessage : "").toContain("plates.v1.NoSuchThing");
    expect(responses[0]?.originalRequest?.messageRequest).toEqual({ case: "fileContainingSymbol", value: "plates.v1.NoSuchThing" });
    expect(responses[4]?.messageResponse.case).toBe("listServicesResponse");
  });

  it("sends each import once per stream", async () => {
    const responses = await reflect(server, version, [
      { messageRequest: { case: "fileContainingSymbol", value: "plates.v1.PlateService" } },
      { messageRequest: { case: "fileContainingSymbol", value: "plates.v1.Plate" } },
    ]);
    expect(fileNames(responses[0])).toHaveLength(5);
    expect(fileNames(responses[1])).toEqual(["plates/v1/plate_service.proto"]);
  });
});

describe("buf curl with reflection only", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("postgres");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("lists methods without token", async () => {
    const result = await bufCurl(["--list-methods", "--protocol", "grpc", "--http2-prior-knowledge", server.baseUrl]);
    expect(result.exitCode, result.stderr).toBe(0);
    const methods = result.stdout.trim().split("\n");
    expect(methods).toEqual(
      expect.arrayContaining([
        "plates.v1.PlateService/Add",
        "plates.v1.PlateService/Get",
        "plates.v1.PlateService/GenerateStream",
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      ]),
    );
  });

  it.each(["grpc-v1", "grpc-v1alpha"])("adds and gets plate over %s", async (reflectProtocol) => {
    const number = reflectProtocol === "grpc-v1" ? "а123вс77" : "в456ок99";
    const expected = reflectProtocol === "grpc-v1" ? "А123ВС77" : "В456ОК99";
    const common = ["--reflect-protocol", reflectProtocol, "--http2-prior-knowledge", "-H", `authorization: Bearer ${server.token}`];

    const added = await bufCurl([...common, "--protocol", "grpc", "-d", JSON.stringify({ number }), `${server.baseUrl}/plates.v1.PlateService/Add`]);
    expect(added.exitCode, added.stderr).toBe(0);
    const plate = (JSON.parse(added.stdout) as { plate: { id: string; number: string } }).plate;
    expect(plate.number).toBe(expected);
    expect(plate.id).toMatch(uuidPattern);

    const fetched = await bufCurl([...common, "--protocol", "connect", "-d", JSON.stringify({ id: plate.id }), `${server.baseUrl}/plates.v1.PlateService/Get`]);
    expect(fetched.exitCode, fetched.stderr).toBe(0);
    expect((JSON.parse(fetched.stdout) as { plate: { number: string } }).plate.number).toBe(expected);
  });

  it("prints error details of Add", async () => {
    const result = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-H",
      `authorization: Bearer ${server.token}`,
      "-d",
      JSON.stringify({ number: "ж123вс77" }),
      `${server.baseUrl}/plates.v1.PlateService/Add`,
    ]);
    expect(result.exitCode).not.toBe(0);
    const error = JSON.parse(result.stderr) as { code: string; message: string; details?: { type: string }[] };
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toContain("ж123вс77");
    expect(error.details?.map((detail) => detail.type)).toContain("google.rpc.ErrorInfo");
  });
});

describe("reflection with REFLECTION_REQUIRES_TOKEN", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("pglite", { reflectionRequiresToken: true });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("rejects stream without token", async () => {
    let error: ConnectError | undefined;
    try {
      await reflect(server, "v1", [{ messageRequest: { case: "listServices", value: "" } }]);
    } catch (caught) {
      error = ConnectError.from(caught);
    }
    expect(error?.code).toBe(Code.Unauthenticated);
  });

  it("serves stream with token", async () => {
    const [response] = await reflect(server, "v1alpha", [{ messageRequest: { case: "listServices", value: "" } }], server.token);
    expect(response?.messageResponse.case).toBe("listServicesResponse");
  });

  it("fails buf curl without reflect header", async () => {
    const result = await bufCurl(["--list-methods", "--protocol", "grpc", "--http2-prior-knowledge", server.baseUrl]);
    expect(result.exitCode).not.toBe(0);
    // buf curl words UNAUTHENTICATED this way.
    expect(result.stderr).toContain("not authenticated");
  });

  it("lists methods with reflect header", async () => {
    const result = await bufCurl([
      "--list-methods",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--reflect-header",
      `authorization: Bearer ${server.token}`,
      server.baseUrl,
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain("plates.v1.PlateService/Add");
  });

  it("keeps health checks open", async () => {
    const response = await fetch(`${server.baseUrl}/readyz`);
    expect(response.status).toBe(200);
  });
});
