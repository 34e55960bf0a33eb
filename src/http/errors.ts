import { create, createRegistry, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.ts";
import { file_plates_v1_plate_service } from "../../gen/plates/v1/plate_service_pb.ts";

/** An error as the REST routes send it: google.rpc.Status in proto3 JSON. */
export interface StatusJson {
  /** gRPC status code as a number, for example 5 for NOT_FOUND. */
  code: number;
  message: string;
  /** Error details as google.protobuf.Any in proto3 JSON ("@type" and the fields). */
  details: JsonValue[];
}

// HTTP status of each gRPC code, as google/rpc/code.proto documents it and
// as Envoy's gRPC-JSON transcoder and grpc-gateway send it.
const httpStatusOfCode: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

// Types that error details may carry; others are sent with their bytes in base64.
const detailRegistry = createRegistry(file_google_rpc_error_details, file_plates_v1_plate_service);

/** Returns the HTTP status for a gRPC code. */
export function httpStatusOf(code: Code): number {
  return httpStatusOfCode[code] ?? 500;
}

/** Converts a ConnectError to google.rpc.Status in proto3 JSON, with its details. */
export function statusJsonOf(error: ConnectError): StatusJson {
  return {
    code: error.code,
    message: error.rawMessage,
    details: error.details.map(detailJson),
  };
}

function detailJson(detail: ConnectError["details"][number]): JsonValue {
  if ("desc" in detail) {
    // A detail added in this process, not serialized yet.
    return anyJson(detail.desc.typeName, toBinary(detail.desc, create(detail.desc, detail.value)));
  }
  return anyJson(detail.type, detail.value);
}

function anyJson(typeName: string, value: Uint8Array): JsonValue {
  const typeUrl = `type.googleapis.com/${typeName}`;
  if (detailRegistry.getMessage(typeName) === undefined) {
    // NOTE: proto3 JSON has no form for an Any of an unknown type; this one
    // keeps the bytes, as Any's binary form does.
    return { "@type": typeUrl, value: Buffer.from(value).toString("base64") };
  }
  const json = toJson(AnySchema, create(AnySchema, { typeUrl, value }), { registry: detailRegistry });
  // "@type" first, as other implementations print it.
  return typeof json === "object" && json !== null && !Array.isArray(json) ? { "@type": typeUrl, ...json } : json;
}

/** Wraps any error of the HTTP layer as a ConnectError; unknown errors become INTERNAL. */
export function asConnectError(error: unknown): ConnectError {
  return error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
}
