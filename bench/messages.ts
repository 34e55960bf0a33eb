import { create, toBinary, toJsonString, type DescMessage } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AddRequestSchema,
  GenerateRequestSchema,
  GenerateResponseSchema,
  GetRequestSchema,
  GetResponseSchema,
  AddResponseSchema,
  PlateSchema,
  PlateType,
  ValidateRequestSchema,
  type Plate,
} from "../gen/plates/v1/plate_service_pb.ts";

/** RPCs that the benchmark loads. */
export type BenchRpc = "Get" | "Add" | "Generate" | "Validate";
export const benchRpcs: readonly BenchRpc[] = ["Get", "Add", "Generate", "Validate"];

/** Wire formats the load is sent in: gRPC (binary protobuf) or the Connect protocol with JSON. */
export type BenchProtocol = "grpc" | "connect-json";
export const benchProtocols: readonly BenchProtocol[] = ["grpc", "connect-json"];

/** Amount of every Generate call of the benchmark. */
export const generateAmount = 100;

/** Number sent to Validate: lower case, spaces and a Latin lookalike, so the engine corrects it. */
export const validateInput = " a123вс 77 ";

/** Path of a PlateService method, as both gRPC and the Connect protocol use it. */
export function methodPath(rpc: BenchRpc | string): string {
  return `/plates.v1.PlateService/${rpc}`;
}

/** Wraps a protobuf message into one gRPC length-prefixed message: flag 0, 4-byte big-endian length, bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** Encodes a request body of `protocol` from a message. */
export function encodeBody<Desc extends DescMessage>(protocol: BenchProtocol, schema: Desc, init: Parameters<typeof create<Desc>>[1]): Buffer {
  const message = create(schema, init);
  if (protocol === "grpc") {
    return grpcFrame(toBinary(schema, message));
  }
  return Buffer.from(toJsonString(schema, message), "utf8");
}

/** Builds the request body of one call. `id` is a stored plate's id (Get); `number` the number to add (Add). */
export function requestBody(protocol: BenchProtocol, rpc: BenchRpc, values: { id?: string; number?: string }): Buffer {
  switch (rpc) {
    case "Get":
      return encodeBody(protocol, GetRequestSchema, { id: values.id ?? "" });
    case "Add":
      return encodeBody(protocol, AddRequestSchema, { number: values.number ?? "" });
    case "Generate":
      return encodeBody(protocol, GenerateRequestSchema, { amount: generateAmount });
    case "Validate":
      return encodeBody(protocol, ValidateRequestSchema, { number: validateInput });
  }
}

/** Request headers of `protocol`, without the HTTP/2 pseudo-headers. */
export function requestHeaders(protocol: BenchProtocol, token: string | undefined): Record<string, string> {
  const headers: Record<string, string> =
    protocol === "grpc"
      ? { "content-type": "application/grpc", te: "trailers" }
      : { "content-type": "application/json", "connect-protocol-version": "1" };
  if (token !== undefined) {
    headers.authorization = `Bearer ${token}`;
  }
  return headers;
}

/** Returns a plate like a stored one, of the same encoded size, for the handlers that do no work. */
export function constantPlate(index = 0): Plate {
  return create(PlateSchema, {
    id: "0b5e4c1e-8a8f-4f43-9a55-3f2c1d2b9e10",
    number: index === 0 ? "А123ВС77" : `А${String((index % 999) + 1).padStart(3, "0")}ВС77`,
    createTime: timestampFromDate(new Date("2026-12-04T10:00:00Z")),
    type: PlateType.CAR,
    regionCode: "77",
    regionName: "Москва",
  });
}

/** Responses of the handlers that do no work. */
export const constantResponses = {
  get: create(GetResponseSchema, { plate: constantPlate() }),
  add: create(AddResponseSchema, { plate: constantPlate() }),
  generate: create(GenerateResponseSchema, {
    plates: Array.from({ length: generateAmount }, (_, index) => ({ ...constantPlate(index), id: "", createTime: undefined })),
  }),
};
