import http from "node:http";
import http2 from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequestSchema, GenerateResponseSchema, PlateService } from "../gen/plates/v1/plate_service_pb.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

interface GrpcResult {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  frames: { compressed: boolean; payload: Buffer }[];
}

/** Sends one gRPC call over HTTP/2 by hand, so that the test sets the encodings and reads the raw frames. */
function rawGrpcCall(server: TestServer, method: string, payload: Uint8Array, headers: Record<string, string>): Promise<GrpcResult> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(server.baseUrl);
    session.on("error", reject);
    const compressed = headers["grpc-encoding"] !== undefined;
    const body = compressed ? gzipSync(payload) : Buffer.from(payload);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt8(compressed ? 1 : 0, 0);
    prefix.writeUInt32BE(body.length, 1);
    const stream = session.request({
      ":method": "POST",
      ":path": `/plates.v1.PlateService/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${server.token}`,
      ...headers,
    });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (received) => {
      responseHeaders = received;
    });
    stream.on("trailers", (received) => {
      trailers = received;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("end", () => {
      session.close();
      const data = Buffer.concat(chunks);
      const frames: GrpcResult["frames"] = [];
      for (let offset = 0; offset + 5 <= data.length; ) {
        const length = data.readUInt32BE(offset + 1);
        frames.push({ compressed: data[offset] === 1, payload: data.subarray(offset + 5, offset + 5 + length) });
        offset += 5 + length;
      }
      // A call that fails before its response sends the status in the headers.
      resolve({ headers: responseHeaders, trailers: trailers["grpc-status"] === undefined ? responseHeaders : trailers, frames });
    });
    stream.end(Buffer.concat([prefix, body]));
  });
}

/** Sends one Connect unary call over HTTP/1.1 and returns the raw, undecoded response. */
function rawConnectCall(
  server: TestServer,
  method: string,
  body: Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${server.baseUrl}/plates.v1.PlateService/${method}`,
      {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${server.token}`, ...headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

describe("compression", () => {
  let server: TestServer;
  const request = toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { amount: 200 }));

  beforeAll(async () => {
    server = await startTestServer("pglite");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("answers gzip gRPC request with gzip", async () => {
    const result = await rawGrpcCall(server, "Generate", request, { "grpc-encoding": "gzip", "grpc-accept-encoding": "gzip" });
    expect(result.trailers["grpc-status"]).toBe("0");
    expect(result.headers["grpc-encoding"]).toBe("gzip");
    expect(result.frames).toHaveLength(1);
    expect(result.frames[0]?.compressed).toBe(true);
    const response = fromBinary(GenerateResponseSchema, gunzipSync(result.frames[0]?.payload ?? Buffer.alloc(0)));
    expect(response.plates).toHaveLength(200);
  });

  it("compresses gRPC response the client accepts", async () => {
    const result = await rawGrpcCall(server, "Generate", request, { "grpc-accept-encoding": "gzip" });
    expect(result.trailers["grpc-status"]).toBe("0");
    expect(result.headers["grpc-encoding"]).toBe("gzip");
    expect(result.frames[0]?.compressed).toBe(true);
    const response = fromBinary(GenerateResponseSchema, gunzipSync(result.frames[0]?.payload ?? Buffer.alloc(0)));
    expect(response.plates).toHaveLength(200);
  });

  it("sends small gRPC response uncompressed", async () => {
    const small = toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { amount: 1 }));
    const result = await rawGrpcCall(server, "Generate", small, { "grpc-accept-encoding": "gzip" });
    expect(result.trailers["grpc-status"]).toBe("0");
    expect(result.headers["grpc-encoding"]).toBeUndefined();
    expect(result.frames[0]?.compressed).toBe(false);
    expect(fromBinary(GenerateResponseSchema, result.frames[0]?.payload ?? Buffer.alloc(0)).plates).toHaveLength(1);
  });

  it("rejects unsupported gRPC encoding", async () => {
    const result = await rawGrpcCall(server, "Generate", request, { "grpc-encoding": "deflate" });
    expect(result.trailers["grpc-status"]).toBe("12");
    const message = decodeURIComponent(String(result.trailers["grpc-message"]));
    expect(message).toContain('unknown compression "deflate"');
    expect(message).toContain("supported encodings are gzip,br");
  });

  it("answers gzip Connect request with gzip", async () => {
    const body = gzipSync(Buffer.from(JSON.stringify({ amount: 200 })));
    const result = await rawConnectCall(server, "Generate", body, { "content-encoding": "gzip", "accept-encoding": "gzip" });
    expect(result.status).toBe(200);
    expect(result.headers["content-encoding"]).toBe("gzip");
    const response = JSON.parse(gunzipSync(result.body).toString("utf8")) as { plates: unknown[] };
    expect(response.plates).toHaveLength(200);
  });

  it("rejects unsupported Connect encoding", async () => {
    const result = await rawConnectCall(server, "Generate", Buffer.from("{}"), { "content-encoding": "deflate" });
    expect(result.status).toBe(501);
    const error = JSON.parse(result.body.toString("utf8")) as { code: string; message: string };
    expect(error.code).toBe("unimplemented");
    expect(error.message).toContain("supported encodings are gzip,br");
  });

  it.each(["grpc", "connect"] as const)("serves Connect client with gzip over %s", async (protocol) => {
    const options = { baseUrl: server.baseUrl, sendCompression: compressionGzip, acceptCompression: [compressionGzip], compressMinBytes: 0 };
    const transport =
      protocol === "grpc" ? createGrpcTransport(options) : createConnectTransport({ ...options, httpVersion: "1.1" });
    const client = createClient(PlateService, transport);
    const response = await client.generate({ amount: 50 }, { headers: { authorization: `Bearer ${server.token}` } });
    expect(response.plates).toHaveLength(50);
  });
});

/** Sends a CORS preflight request and returns its status and headers. */
async function preflight(server: TestServer, origin: string, path: string): Promise<Response> {
  return fetch(`${server.baseUrl}${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,connect-protocol-version,authorization",
    },
  });
}

describe("CORS with allowed origin", () => {
  const origin = "https://app.example";
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("pglite", { corsOrigins: [origin] });
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(["/plates.v1.PlateService/Add", "/v1/plates"])("answers preflight for %s", async (path) => {
    const response = await preflight(server, origin, path);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(origin);
    const methods = response.headers.get("access-control-allow-methods") ?? "";
    expect(methods).toContain("POST");
    expect(methods).toContain("GET");
    expect(methods).toContain("DELETE");
    const headers = (response.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const header of ["content-type", "connect-protocol-version", "authorization", "x-grpc-web", "grpc-timeout"]) {
      expect(headers).toContain(header);
    }
    expect(Number(response.headers.get("access-control-max-age"))).toBeGreaterThan(0);
  });

  it("rejects preflight from other origin", async () => {
    const response = await preflight(server, "https://evil.example", "/plates.v1.PlateService/Add");
    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("exposes headers on Connect response", async () => {
    const response = await fetch(`${server.baseUrl}/plates.v1.PlateService/Add`, {
      method: "POST",
      headers: { origin, "content-type": "application/json" },
      body: JSON.stringify({ number: "а123вс77" }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("access-control-allow-origin")).toBe(origin);
    expect(response.headers.get("vary")).toContain("Origin");
    const exposed = (response.headers.get("access-control-expose-headers") ?? "").toLowerCase();
    for (const header of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
      expect(exposed).toContain(header);
    }
  });

  it("keeps CORS headers on gRPC error", async () => {
    const result = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const session = http2.connect(server.baseUrl);
      session.on("error", reject);
      const stream = session.request({
        ":method": "POST",
        ":path": "/plates.v1.PlateService/Validate",
        "content-type": "application/grpc",
        te: "trailers",
        origin,
      });
      stream.on("response", (headers) => {
        session.close();
        resolve(headers);
      });
      stream.on("error", reject);
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    expect(result["grpc-status"]).toBe("16");
    expect(result["access-control-allow-origin"]).toBe(origin);
    expect(result.vary).toContain("Origin");
  });

  it("serves gRPC-Web call with origin", async () => {
    const transport = createGrpcWebTransport({
      baseUrl: server.baseUrl,
      httpVersion: "1.1",
      interceptors: [
        (next) => async (request) => {
          request.header.set("origin", origin);
          const response = await next(request);
          expect(response.header.get("access-control-allow-origin")).toBe(origin);
          return response;
        },
      ],
    });
    const response = await createClient(PlateService, transport).generate({ amount: 1 }, { headers: { authorization: `Bearer ${server.token}` } });
    expect(response.plates).toHaveLength(1);
  });

  it("adds headers on REST response", async () => {
    const response = await fetch(`${server.baseUrl}/v1/plates`, { headers: { origin, authorization: `Bearer ${server.token}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(origin);
  });

  it("omits headers for other origin", async () => {
    const response = await fetch(`${server.baseUrl}/healthz`, { headers: { origin: "https://evil.example" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS without allowed origins", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("pglite");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("rejects every preflight", async () => {
    const response = await preflight(server, "https://app.example", "/plates.v1.PlateService/Add");
    expect(response.status).toBe(403);
  });

  it("adds no CORS headers", async () => {
    const response = await fetch(`${server.baseUrl}/healthz`, { headers: { origin: "https://app.example" } });
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS with any origin", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("pglite", { corsOrigins: ["*"] });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("allows any origin with *", async () => {
    const response = await preflight(server, "https://anywhere.example", "/v1/plates");
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
  });
});
