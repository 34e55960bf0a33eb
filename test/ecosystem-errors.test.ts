import { createRegistry, fromBinary, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.ts";
import { connectClient, grpcJsClient, type ConnectProtocol } from "./support/clients.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

/** An error as one protocol delivered it: code, message and details as proto3 JSON by type. */
interface SeenError {
  code: number;
  message: string;
  details: { type: string; json: JsonValue }[];
}

const registry = createRegistry(file_google_rpc_error_details);

function detailJson(type: string, value: Uint8Array): { type: string; json: JsonValue } {
  const desc = registry.getMessage(type);
  if (desc === undefined) {
    throw new Error(`detail type ${type} is not in the test registry`);
  }
  return { type, json: toJson(desc, fromBinary(desc, value)) };
}

async function connectError(protocol: ConnectProtocol, server: TestServer, number: string): Promise<SeenError> {
  try {
    await connectClient(protocol, server.baseUrl, server.token).add({ number });
  } catch (error) {
    const connect = ConnectError.from(error);
    return {
      code: connect.code,
      message: connect.rawMessage,
      details: connect.details.map((detail) => ("desc" in detail ? detailJson(detail.desc.typeName, new Uint8Array()) : detailJson(detail.type, detail.value))),
    };
  }
  throw new Error(`Add over ${protocol} succeeded, expected an error`);
}

// Decodes google.rpc.Status (code = 1, message = 2, details = 3 as Any) by
// hand, since no generated code for it exists in this repository.
function decodeStatus(bytes: Uint8Array): SeenError {
  const reader = new BinaryReader(bytes);
  const status: SeenError = { code: 0, message: "", details: [] };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) {
      status.code = reader.int32();
    } else if (field === 2) {
      status.message = reader.string();
    } else if (field === 3) {
      const any = fromBinary(AnySchema, reader.bytes());
      status.details.push(detailJson(any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1), any.value));
    } else {
      reader.skip(wireType);
    }
  }
  return status;
}

/** Calls Add with grpc-js; `fromStatus` is the google.rpc.Status trailer, which servers send only with details. */
async function grpcJsError(server: TestServer, number: string): Promise<{ seen: SeenError; fromStatus: SeenError | undefined }> {
  const client = grpcJsClient(`127.0.0.1:${server.port}`, server.token);
  try {
    await client.call("Add", { number });
  } catch (error) {
    const serviceError = error as ServiceError;
    const statusBytes = serviceError.metadata.get("grpc-status-details-bin")[0];
    const fromStatus = statusBytes instanceof Buffer ? decodeStatus(statusBytes) : undefined;
    return { seen: { code: serviceError.code, message: serviceError.details, details: fromStatus?.details ?? [] }, fromStatus };
  } finally {
    client.close();
  }
  throw new Error("Add over grpc-js succeeded, expected an error");
}

async function connectJsonError(server: TestServer, number: string): Promise<{ status: number; seen: SeenError }> {
  const response = await fetch(`${server.baseUrl}/plates.v1.PlateService/Add`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${server.token}` },
    body: JSON.stringify({ number }),
  });
  const body = (await response.json()) as { code: string; message: string; details?: { type: string; value: string }[] };
  const codes: Record<string, Code> = { invalid_argument: Code.InvalidArgument, already_exists: Code.AlreadyExists };
  return {
    status: response.status,
    seen: {
      code: codes[body.code] ?? -1,
      message: body.message,
      details: (body.details ?? []).map((detail) => detailJson(detail.type, Buffer.from(detail.value, "base64"))),
    },
  };
}

async function restError(server: TestServer, number: string): Promise<{ status: number; seen: SeenError }> {
  const response = await fetch(`${server.baseUrl}/v1/plates`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${server.token}` },
    body: JSON.stringify({ number }),
  });
  const body = (await response.json()) as { code: number; message: string; details: JsonObject[] };
  return {
    status: response.status,
    seen: {
      code: body.code,
      message: body.message,
      details: body.details.map((detail) => {
        const any = fromJson(AnySchema, detail, { registry });
        return detailJson(any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1), any.value);
      }),
    },
  };
}

describe.each([
  ["invalid number", "ж123вс77", Code.InvalidArgument, 400],
  ["stored number", "А123ВС77", Code.AlreadyExists, 409],
])("error for %s on every protocol", (_case, number, code, httpStatus) => {
  let server: TestServer;
  let reference: SeenError;

  beforeAll(async () => {
    server = await startTestServer("postgres");
    await connectClient("connect", server.baseUrl, server.token).add({ number: "А123ВС77" });
    reference = await connectError("grpc", server, number);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("has expected code and Cyrillic message", () => {
    expect(reference.code).toBe(code);
    expect(reference.message).toMatch(/[А-Яа-яЁё]/);
  });

  it("carries details when invalid", () => {
    if (code === Code.InvalidArgument) {
      expect(reference.details.map((detail) => detail.type).sort()).toEqual([
        "google.rpc.BadRequest",
        "google.rpc.ErrorInfo",
        "google.rpc.LocalizedMessage",
      ]);
    } else {
      expect(reference.details).toEqual([]);
    }
  });

  it.each(["connect", "grpc-web"] as const)("matches over Connect client %s", async (protocol) => {
    expect(await connectError(protocol, server, number)).toEqual(reference);
  });

  it("matches over grpc-js", async () => {
    const { seen, fromStatus } = await grpcJsError(server, number);
    expect(seen).toEqual(reference);
    expect(fromStatus).toEqual(reference.details.length === 0 ? undefined : reference);
  });

  it("matches over Connect JSON", async () => {
    const { status, seen } = await connectJsonError(server, number);
    expect(status).toBe(httpStatus);
    expect(seen).toEqual(reference);
  });

  it("matches over REST", async () => {
    const { status, seen } = await restError(server, number);
    expect(status).toBe(httpStatus);
    expect(seen).toEqual(reference);
  });
});
