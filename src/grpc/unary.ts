import type http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  createHandlerContext,
  createServiceImplSpec,
  type Interceptor,
  type MethodImplSpec,
} from "@connectrpc/connect";
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { Logger } from "pino";
import { encodeGrpcMessage } from "../grpc-message.ts";

/** A service as the server registers it: descriptor, implementation and interceptors. */
export interface ServiceRegistration {
  service: DescService;
  implementation: object;
  interceptors: Interceptor[];
}

type UnarySpec = MethodImplSpec & { kind: "unary" };

interface UnaryRoute {
  spec: UnarySpec;
  interceptors: Interceptor[];
}

// The reason of the abort that ends the context of every completed call.
// Connect aborts without a reason, so Node creates a DOMException with a stack
// trace for every call. One shared error costs nothing per call.
const callCompleted = new ConnectError("call completed", Code.Canceled);

// The request encodings that Connect accepts on our port. The fast path serves
// only identity requests, and advertises the same list as Connect.
const acceptEncoding = "gzip, br";

/**
 * Creates a handler of unary gRPC calls with binary protobuf and no request
 * compression, which serves them straight on the HTTP/2 stream with the
 * same implementations and interceptors that the Connect router runs. It
 * returns false for every other request, for Connect to serve.
 *
 * Connect for Node 2.1 runs unary gRPC calls through its streaming pipeline of
 * async iterables, and aborts two AbortControllers per call without a reason,
 * each creating a DOMException. That costs its gRPC path about twice the CPU
 * time per call of its Connect protocol path, and this handler avoids both. It
 * also rejects a message that is not valid protobuf with INVALID_ARGUMENT,
 * where Connect returns INTERNAL, and runs the interceptors for such calls, so
 * that they are logged and counted.
 */
export function createGrpcUnaryHandler(registrations: readonly ServiceRegistration[], options: { readMaxBytes: number; logger: Logger }) {
  const routes = new Map<string, UnaryRoute>();
  for (const { service, implementation, interceptors } of registrations) {
    const serviceSpec = createServiceImplSpec(service, implementation as never);
    for (const method of service.methods) {
      const spec = serviceSpec.methods[method.localName];
      if (spec?.kind === "unary") {
        routes.set(`/${service.typeName}/${method.name}`, { spec: spec as UnarySpec, interceptors });
      }
    }
  }

  return (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): boolean => {
    const headers = request.headers;
    const contentType = headers["content-type"];
    const encoding = headers["grpc-encoding"];
    if (
      (contentType !== "application/grpc" && contentType !== "application/grpc+proto") ||
      (encoding !== undefined && encoding !== "identity") ||
      headers[":method"] !== "POST"
    ) {
      return false;
    }
    const route = routes.get(headers[":path"] ?? "");
    if (route === undefined) {
      return false;
    }
    serveCall(route, request, response, options);
    return true;
  };
}

function serveCall(
  route: UnaryRoute,
  request: http2.Http2ServerRequest,
  response: http2.Http2ServerResponse,
  { readMaxBytes, logger }: { readMaxBytes: number; logger: Logger },
): void {
  const { spec, interceptors } = route;
  const headers = request.headers;
  const stream = response.stream;
  // Aborted only when the client goes away before the response is complete.
  const clientGone = new AbortController();
  let finished = false;
  stream.once("close", () => {
    if (!finished) {
      clientGone.abort(new ConnectError("the client cancelled the call", Code.Canceled));
    }
  });

  const timeout = parseTimeout(typeof headers["grpc-timeout"] === "string" ? headers["grpc-timeout"] : null, Number.MAX_SAFE_INTEGER);
  const context = createHandlerContext({
    ...spec,
    service: spec.method.parent,
    requestMethod: "POST",
    protocolName: "grpc",
    timeoutMs: timeout.timeoutMs,
    requestSignal: clientGone.signal,
    requestHeader: toWebHeaders(headers),
    url: `http://${headers[":authority"] ?? "localhost"}${headers[":path"] ?? "/"}`,
    responseHeader: { "content-type": "application/grpc", "grpc-accept-encoding": acceptEncoding },
    responseTrailer: { "grpc-status": "0" },
    contextValues: createContextValues(),
  });

  const end = (frame: Buffer | undefined, error: ConnectError | undefined) => {
    finished = true;
    context.abort(callCompleted);
    if (stream.destroyed || stream.headersSent) {
      return;
    }
    try {
      if (error !== undefined || frame === undefined) {
        // A trailers-only response: status and trailers in one HEADERS frame
        // that ends the stream, which gRPC clients require.
        setTrailerStatus(context.responseTrailer, error);
        const headers = { ":status": 200, ...toNodeHeaders(context.responseHeader), ...toNodeHeaders(context.responseTrailer) };
        stream.respond(headers, { endStream: true });
      } else {
        response.writeHead(200, toNodeHeaders(context.responseHeader));
        response.addTrailers(toNodeHeaders(context.responseTrailer));
        response.end(frame);
      }
    } catch (writeError) {
      // A header value that HTTP/2 cannot carry, so no response can be sent.
      logger.error({ err: writeError, path: headers[":path"] }, "writing the gRPC response failed");
      stream.close(http2ErrorInternal);
    }
  };

  const serve = async (body: Buffer) => {
    const input = timeout.error === undefined ? parseRequest(spec.method.input, body) : timeout.error;
    let output;
    if (input instanceof ConnectError) {
      // Still run the interceptors, so that the call is logged, counted and
      // authenticated like any other, with an implementation that fails.
      const failing: UnarySpec = { ...spec, impl: () => Promise.reject(input) };
      output = await invokeUnaryImplementation(failing, context, create(spec.method.input) as never, interceptors);
    } else {
      output = await invokeUnaryImplementation(spec, context, input as never, interceptors);
    }
    const message = toBinary(spec.method.output, output as never);
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    end(frame, undefined);
  };
  const fail = (error: unknown) => {
    end(undefined, error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error));
  };

  // The body is read whole: one message of at most readMaxBytes and its
  // 5-byte prefix. A longer body fails at once with RESOURCE_EXHAUSTED.
  const chunks: Buffer[] = [];
  let size = 0;
  request.on("data", (chunk: Buffer) => {
    if (finished) {
      return;
    }
    size += chunk.length;
    if (size > readMaxBytes + 5) {
      fail(new ConnectError(`message larger than the maximum of ${readMaxBytes} bytes`, Code.ResourceExhausted));
      return;
    }
    chunks.push(chunk);
  });
  request.on("end", () => {
    if (!finished) {
      serve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).catch(fail);
    }
  });
  request.on("error", () => {
    finished = true;
    context.abort(callCompleted);
  });
}

// RST_STREAM code INTERNAL_ERROR (RFC 9113, section 7).
const http2ErrorInternal = 0x2;

/** Decodes the one enveloped message of a unary request, or returns why it cannot. */
function parseRequest(schema: DescMessage, body: Buffer): unknown {
  if (body.length < 5) {
    return new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  }
  if (body[0] !== 0) {
    return new ConnectError("protocol error: received a compressed message without grpc-encoding", Code.InvalidArgument);
  }
  if (body.readUInt32BE(1) !== body.length - 5) {
    return new ConnectError("protocol error: a unary request must carry exactly one message", Code.Unimplemented);
  }
  try {
    return fromBinary(schema, body.subarray(5));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return new ConnectError(`invalid protobuf message: ${reason}`, Code.InvalidArgument);
  }
}

function toWebHeaders(headers: http2.IncomingHttpHeaders): Headers {
  const webHeaders = new Headers();
  for (const name in headers) {
    const value = headers[name];
    if (name.startsWith(":") || value === undefined) {
      continue;
    }
    for (const item of Array.isArray(value) ? value : [value]) {
      webHeaders.append(name, item);
    }
  }
  return webHeaders;
}

/** Converts headers to Node's form, with grpc-message percent-encoded as the gRPC spec prescribes. */
function toNodeHeaders(headers: Headers): http2.OutgoingHttpHeaders {
  const nodeHeaders: http2.OutgoingHttpHeaders = {};
  headers.forEach((value, name) => {
    nodeHeaders[name] = name === "grpc-message" ? encodeGrpcMessage(decodeURIComponent(value)) : value;
  });
  return nodeHeaders;
}
