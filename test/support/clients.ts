import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { PlateService } from "../../gen/plates/v1/plate_service_pb.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export type ConnectProtocol = "connect" | "grpc-web" | "grpc";

function bearer(token: string | undefined): Interceptor {
  return (next) => (request) => {
    if (token !== undefined) {
      request.header.set("authorization", `Bearer ${token}`);
    }
    return next(request);
  };
}

/**
 * Creates a PlateService client of Connect's own. The Connect protocol (JSON)
 * and gRPC-Web go over HTTP/1.1, gRPC over HTTP/2.
 */
export function connectClient(
  protocol: ConnectProtocol,
  baseUrl: string,
  token: string | undefined,
): Client<typeof PlateService> {
  const interceptors = [bearer(token)];
  const transport =
    protocol === "connect"
      ? createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors })
      : protocol === "grpc-web"
        ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors })
        : createGrpcTransport({ baseUrl, interceptors });
  return createClient(PlateService, transport);
}

/** Plate as @grpc/proto-loader decodes it. */
export interface GrpcPlate {
  id: string;
  number: string;
  createTime: { seconds: string; nanos: number } | null;
}

/** Promise-returning wrapper of a @grpc/grpc-js PlateService client. */
export interface GrpcJsClient {
  call<T>(method: "Add" | "Get" | "Find" | "List" | "Delete" | "Validate" | "Generate", request: object, metadata?: grpc.Metadata): Promise<T>;
  close(): void;
}

/** Creates a client of @grpc/grpc-js, an implementation independent of Connect. */
export function grpcJsClient(address: string, token: string | undefined): GrpcJsClient {
  const definition = protoLoader.loadSync(path.join(repoRoot, "proto/plates/v1/plate_service.proto"), {
    includeDirs: [path.join(repoRoot, "proto"), path.join(repoRoot, "node_modules/google-proto-files")],
    longs: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    plates: { v1: { PlateService: grpc.ServiceClientConstructor } };
  };
  const client = new loaded.plates.v1.PlateService(address, grpc.credentials.createInsecure());
  return {
    call: (method, request, metadata) => {
      const sent = metadata ?? new grpc.Metadata();
      if (metadata === undefined && token !== undefined) {
        sent.set("authorization", `Bearer ${token}`);
      }
      return new Promise((resolve, reject) => {
        const invoke = client[method] as (
          request: object,
          metadata: grpc.Metadata,
          callback: (error: grpc.ServiceError | null, response: unknown) => void,
        ) => void;
        invoke.call(client, request, sent, (error, response) => (error ? reject(error) : resolve(response as never)));
      });
    },
    close: () => client.close(),
  };
}
