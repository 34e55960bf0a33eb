import { createRegistry, fromBinary, type Message } from "@bufbuild/protobuf";
import { anyUnpack, AnySchema, type Any } from "@bufbuild/protobuf/wkt";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  BadRequestSchema,
  ErrorInfoSchema,
  LocalizedMessageSchema,
  type BadRequest,
  type ErrorInfo,
  type LocalizedMessage,
} from "../gen/google/rpc/error_details_pb.ts";
import { normalizePlate } from "../src/plate/normalize.ts";
import { invalidNumberError } from "../src/service/plate-errors.ts";
import { connectClient, grpcJsClient, type ConnectProtocol } from "./support/clients.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const detailRegistry = createRegistry(ErrorInfoSchema, BadRequestSchema, LocalizedMessageSchema);

/** google.rpc.Status as far as the tests read it. */
interface RpcStatus {
  code: number;
  message: string;
  details: Any[];
}

/**
 * Decodes the google.rpc.Status of a `grpc-status-details-bin` trailer by hand, because the
 * generated code has no google/rpc/status: field 1 is the code, 2 the message, 3 the details.
 */
function decodeRpcStatus(bytes: Uint8Array): RpcStatus {
  const status: RpcStatus = { code: 0, message: "", details: [] };
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1) {
      status.code = reader.int32();
    } else if (fieldNo === 2) {
      status.message = reader.string();
    } else if (fieldNo === 3) {
      status.details.push(fromBinary(AnySchema, reader.bytes()));
    } else {
      reader.skip(wireType);
    }
  }
  return status;
}

function unpackAll(details: Any[]): Message[] {
  return details.map((detail) => {
    const message = anyUnpack(detail, detailRegistry);
    if (message === undefined) {
      expect.fail(`unknown error detail ${detail.typeUrl}`);
    }
    return message;
  });
}

function detailsOf<T extends Message>(messages: Message[], typeName: string): T[] {
  return messages.filter((message) => message.$typeName === typeName) as T[];
}

/** Checks the three details of the rejection of "А123-В-С77", whose "-" at position 6 is misplaced. */
function expectMisplacedSeparatorDetails(errorInfos: ErrorInfo[], badRequests: BadRequest[], localized: LocalizedMessage[]) {
  expect(errorInfos).toHaveLength(1);
  expect(errorInfos[0]?.reason).toBe("INVALID_CHARACTER");
  expect(errorInfos[0]?.domain).toBe("plates.v1");
  expect(errorInfos[0]?.metadata).toEqual({ input: "А123-В-С77", position: "6", character: "-" });

  expect(badRequests).toHaveLength(1);
  expect(badRequests[0]?.fieldViolations).toHaveLength(1);
  const violation = badRequests[0]?.fieldViolations[0];
  expect(violation?.field).toBe("number");
  expect(violation?.reason).toBe("INVALID_CHARACTER");
  expect(violation?.description).toContain("position 6");
  expect(violation?.localizedMessage?.locale).toBe("ru-RU");

  expect(localized).toHaveLength(1);
  expect(localized[0]?.locale).toBe("ru-RU");
  expect(localized[0]?.message).toContain("в позиции 7");
}

describe("invalidNumberError", () => {
  function errorFor(input: string): ConnectError {
    const result = normalizePlate(input);
    if (result.ok) {
      expect.fail(`expected ${input} to be rejected`);
    }
    return invalidNumberError(input, result.error);
  }

  it("carries the mask of an invalid format", () => {
    const [info] = errorFor("А12ВС77").findDetails(ErrorInfoSchema);
    expect(info?.metadata).toEqual({ input: "А12ВС77", mask: "X99XX99" });
  });

  it("carries the reading that broke a rule", () => {
    const error = errorFor("а123вс100");
    expect(error.code).toBe(Code.InvalidArgument);
    const [info] = error.findDetails(ErrorInfoSchema);
    expect(info?.reason).toBe("UNKNOWN_REGION");
    expect(info?.metadata).toEqual({ input: "а123вс100", number: "А123ВС100", type: "CAR" });
    expect(error.findDetails(LocalizedMessageSchema)[0]?.message).toContain("«100»");
  });

  it("cuts a long input", () => {
    const input = `А${"1".repeat(500)}`;
    const error = errorFor(input);
    const quoted = error.findDetails(ErrorInfoSchema)[0]?.metadata.input ?? "";
    expect(quoted).toHaveLength(101);
    expect(quoted.endsWith("…")).toBe(true);
    expect(error.rawMessage.length).toBeLessThan(400);
  });

  it("keeps a character outside the BMP whole", () => {
    const input = `${"1".repeat(99)}😀`;
    const quoted = errorFor(input).findDetails(ErrorInfoSchema)[0]?.metadata.input ?? "";
    expect(quoted).toBe(`${"1".repeat(99)}…`);
  });
});

const connectProtocols: ConnectProtocol[] = ["connect", "grpc-web", "grpc"];

describe("error details of a failed Add", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("postgres");
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(connectProtocols)("reach a Connect client over %s", async (protocol) => {
    const client = connectClient(protocol, server.baseUrl, server.token);
    let error: ConnectError | undefined;
    try {
      await client.add({ number: "А123-В-С77" });
    } catch (caught) {
      error = ConnectError.from(caught);
    }
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toContain("А123-В-С77");
    expectMisplacedSeparatorDetails(
      error?.findDetails(ErrorInfoSchema) ?? [],
      error?.findDetails(BadRequestSchema) ?? [],
      error?.findDetails(LocalizedMessageSchema) ?? [],
    );
  });

  it("reach @grpc/grpc-js in grpc-status-details-bin", async () => {
    const client = grpcJsClient(`127.0.0.1:${server.port}`, server.token);
    let error: ServiceError | undefined;
    try {
      await client.call("Add", { number: "А123-В-С77" });
    } catch (caught) {
      error = caught as ServiceError;
    } finally {
      client.close();
    }
    expect(error?.code).toBe(GrpcStatus.INVALID_ARGUMENT);

    const trailers = error?.metadata.get("grpc-status-details-bin") ?? [];
    expect(trailers).toHaveLength(1);
    const status = decodeRpcStatus(trailers[0] as Buffer);
    expect(status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(status.message).toContain("А123-В-С77");

    const messages = unpackAll(status.details);
    expect(messages).toHaveLength(3);
    expectMisplacedSeparatorDetails(
      detailsOf<ErrorInfo>(messages, "google.rpc.ErrorInfo"),
      detailsOf<BadRequest>(messages, "google.rpc.BadRequest"),
      detailsOf<LocalizedMessage>(messages, "google.rpc.LocalizedMessage"),
    );
  });
});
