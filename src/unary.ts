import type http from "node:http";
import type http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  createServiceImplSpec,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
} from "@connectrpc/connect";
import { compressionNegotiate, createMethodSerializationLookup, invokeUnaryImplementation, type Compression } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { Logger } from "pino";
import { specGrpcMessage } from "./grpc-message.ts";
import { serverDeadlineAppliedKey, serverDeadlineError } from "./limits.ts";

/** A service as the server registers it: descriptor, implementation and interceptors. */
export interface ServiceRegistration {
  service: DescService;
  implementation: object;
  interceptors: Interceptor[];
}

/** Options of createUnaryHandler. */
export interface UnaryHandlerOptions {
  /** Maximum size of a request message in bytes, before and after decompression. */
  readMaxBytes: number;
  /** Encodings of the Connect protocol's request and response bodies besides identity. */
  acceptCompression: Compression[];
  /** Deadline in milliseconds of calls whose client sends none; 0 for none. */
  defaultDeadlineMs: number;
  logger: Logger;
}

type UnarySpec = MethodImplSpec & { kind: "unary" };

interface UnaryRoute {
  spec: UnarySpec;
  interceptors: Interceptor[];
  serialization: ReturnType<typeof createMethodSerializationLookup>;
}

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** The wire format of a call: how its body and its status are framed. */
type Wire = "grpc" | "grpc-web" | "connect";

// The reason of the abort that ends the context of every completed call.
// Connect aborts without a reason, so Node creates a DOMException with a stack
// trace for every call. One shared error costs nothing per call.
const callCompleted = new ConnectError("call completed", Code.Canceled);

// Responses smaller than this many bytes are sent uncompressed, as Connect does by default.
const compressMinBytes = 1024;

// RST_STREAM code INTERNAL_ERROR (RFC 9113, section 7).
const http2ErrorInternal = 0x2;

// Content types of successful responses. The Connect protocol replies to JSON requests in JSON.
const responseContentTypes: Record<Wire, string> = {
  grpc: "application/grpc",
  "grpc-web": "application/grpc-web+proto",
  connect: "application/proto",
};

// Connect protocol content types of unary calls, with an optional charset for JSON.
const connectContentType = /^application\/(?:(json)(?:; ?charset=utf-?8)?|proto)$/i;

/**
 * Creates the handler of unary calls in the common forms: gRPC and gRPC-Web
 * with binary protobuf and no request compression, and the Connect protocol
 * with JSON or binary protobuf, compressed or not. It serves them on the
 * Node response with the same implementations and interceptors that the
 * Connect router runs, and returns false for every other request, for Connect
 * to serve.
 *
 * Connect for Node 2.1 runs even unary gRPC calls through its streaming
 * pipeline of async iterables, and aborts two AbortControllers per call
 * without a reason, so Node creates two DOMExceptions with stack traces per
 * call. That costs about twice the CPU time per call of this handler. This
 * handler also rejects a message that is not valid protobuf with
 * INVALID_ARGUMENT, where Connect returns INTERNAL, and runs the interceptors
 * for such calls, so that they are logged, counted and authenticated.
 */
export function createUnaryHandler(registrations: readonly ServiceRegistration[], options: UnaryHandlerOptions) {
  const routes = new Map<string, UnaryRoute>();
  const limits = { readMaxBytes: options.readMaxBytes, writeMaxBytes: 0xffffffff, compressMinBytes };
  for (const { service, implementation, interceptors } of registrations) {
    const serviceSpec = createServiceImplSpec(service, implementation as never);
    for (const method of service.methods) {
      const spec = serviceSpec.methods[method.localName];
      if (spec?.kind === "unary") {
        const serialization = createMethodSerializationLookup(method, undefined, undefined, limits);
        routes.set(`/${service.typeName}/${method.name}`, { spec: spec as UnarySpec, interceptors, serialization });
      }
    }
  }

  return (request: NodeRequest, response: NodeResponse): boolean => {
    const headers = request.headers;
    if (request.method !== "POST") {
      return false;
    }
    const path = request.url ?? "";
    const route = routes.get(path);
    if (route === undefined) {
      return false;
    }
    // Media types are case-insensitive (RFC 9110, section 8.3.1).
    const contentType = (headers["content-type"] ?? "").toLowerCase();
    const grpcEncoding = headers["grpc-encoding"];
    const identity = grpcEncoding === undefined || grpcEncoding === "identity";
    if ((contentType === "application/grpc" || contentType === "application/grpc+proto") && identity && request.httpVersionMajor === 2) {
      new UnaryCall(route, "grpc", request, response as http2.Http2ServerResponse, options).start();
      return true;
    }
    if ((contentType === "application/grpc-web" || contentType === "application/grpc-web+proto") && identity) {
      new UnaryCall(route, "grpc-web", request, response, options).start();
      return true;
    }
    const connectType = connectContentType.exec(contentType);
    if (connectType !== null) {
      new UnaryCall(route, "connect", request, response, options, connectType[1] === undefined).start();
      return true;
    }
    return false;
  };
}

/** One unary call: reads the request body, runs the implementation and writes the response. */
class UnaryCall {
  private readonly controller = new AbortController();
  private readonly context: HandlerContext;
  private readonly compression: ReturnType<typeof compressionNegotiate>;
  private readonly timeoutError: ConnectError | undefined;
  private timer: NodeJS.Timeout | undefined;
  // Set once the implementation, or the interceptors with an error in its
  // place, start to run: from then on the body is not read further.
  private running = false;
  private finished = false;

  constructor(
    private readonly route: UnaryRoute,
    private readonly wire: Wire,
    private readonly request: NodeRequest,
    private readonly response: NodeResponse,
    private readonly options: UnaryHandlerOptions,
    private readonly binary = true,
  ) {
    const headers = request.headers;
    const values = createContextValues();
    const timeoutHeader = wire === "connect" ? headers["connect-timeout-ms"] : headers["grpc-timeout"];
    const parse = wire === "connect" ? parseConnectTimeout : parseGrpcTimeout;
    const timeout = parse(typeof timeoutHeader === "string" ? timeoutHeader : null, Number.MAX_SAFE_INTEGER);
    this.timeoutError = timeout.error;
    let timeoutMs = timeout.timeoutMs;
    const serverDeadline = timeoutHeader === undefined && options.defaultDeadlineMs > 0;
    if (serverDeadline) {
      timeoutMs = options.defaultDeadlineMs;
      values.set(serverDeadlineAppliedKey, true);
    }
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    if (timeoutMs !== undefined && timeout.error === undefined) {
      // The error is made only when the deadline passes: an error captures a
      // stack trace, which would cost every call.
      const deadlineError = () =>
        serverDeadline ? serverDeadlineError(options.defaultDeadlineMs) : new ConnectError("the operation timed out", Code.DeadlineExceeded);
      if (timeoutMs <= 0) {
        // The call fails with this reason as soon as start() runs.
        this.controller.abort(deadlineError());
      } else {
        this.timer = setTimeout(() => {
          const error = deadlineError();
          this.controller.abort(error);
          // A client still sending its body gets the error now, not when the body ends.
          this.run(error);
        }, timeoutMs);
      }
    }

    // gRPC and gRPC-Web requests come here uncompressed only, but their
    // responses are compressed as the client accepts, as Connect does.
    const acceptHeader = wire === "connect" ? "accept-encoding" : "grpc-accept-encoding";
    const accepted = headers[acceptHeader];
    this.compression = compressionNegotiate(
      options.acceptCompression,
      wire === "connect" ? (headers["content-encoding"] ?? null) : null,
      typeof accepted === "string" ? accepted : null,
      acceptHeader,
    );
    const responseHeader = new Headers({ "content-type": responseContentTypes[wire] });
    if (wire === "connect" && !binary) {
      responseHeader.set("content-type", "application/json");
    }
    if (wire !== "connect") {
      responseHeader.set("grpc-accept-encoding", options.acceptCompression.map((compression) => compression.name).join(", "));
    }
    const method = route.spec.method;
    this.context = {
      method,
      service: method.parent,
      requestMethod: "POST",
      protocolName: wire,
      url: `http://${headers.host ?? headers[":authority"] ?? "localhost"}${request.url ?? "/"}`,
      signal: this.controller.signal,
      timeoutMs: () => (deadline === undefined ? undefined : deadline - Date.now()),
      requestHeader: toWebHeaders(headers),
      responseHeader,
      responseTrailer: new Headers(wire === "connect" ? undefined : { "grpc-status": "0" }),
      values,
    };
  }

  /** Starts reading the body; the call goes on from the events of the request. */
  start(): void {
    const reason: unknown = this.controller.signal.reason;
    if (reason instanceof ConnectError) {
      this.run(reason);
    }
    // Only a client that goes away before the response is complete cancels the call.
    this.response.once("close", () => {
      if (!this.finished) {
        this.abort(new ConnectError("the client cancelled the call", Code.Canceled));
      }
    });

    // The body is read whole, up to one message of readMaxBytes and its
    // 5-byte prefix; a longer one fails at once with RESOURCE_EXHAUSTED.
    const maxBodyBytes = this.options.readMaxBytes + (this.wire === "connect" ? 0 : 5);
    const chunks: Buffer[] = [];
    let size = 0;
    this.request.on("data", (chunk: Buffer) => {
      if (this.running || this.finished) {
        return;
      }
      size += chunk.length;
      if (size > maxBodyBytes) {
        this.run(new ConnectError(`message larger than the maximum of ${this.options.readMaxBytes} bytes`, Code.ResourceExhausted));
        return;
      }
      chunks.push(chunk);
    });
    this.request.on("end", () => {
      this.begin(() => this.parseRequest(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    });
    this.request.on("error", () => this.abort(callCompleted));
  }

  private abort(reason: unknown): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.controller.abort(reason);
  }

  /**
   * Ends a call that cannot run, with `error`, before its body is complete:
   * the interceptors still run, so that the call is logged, counted and
   * authenticated like any other.
   */
  private run(error: ConnectError): void {
    this.begin(() => Promise.resolve(error));
  }

  /** Invokes the call once, on the message or error that `input` resolves to, unless it ended already. */
  private begin(input: () => Promise<unknown>): void {
    if (this.running || this.finished) {
      return;
    }
    this.running = true;
    input()
      .then((value) => this.invoke(value))
      .catch((error: unknown) => this.fail(error));
  }

  /** Runs the interceptors and the implementation on `input`, or the interceptors and `input` as the error. */
  private async invoke(input: unknown): Promise<void> {
    const { spec, interceptors } = this.route;
    let output: unknown;
    if (input instanceof ConnectError) {
      // Still run the interceptors, so that the call is logged, counted and
      // authenticated like any other, with an implementation that fails.
      const failing: UnarySpec = { ...spec, impl: () => Promise.reject(input) };
      output = await invokeUnaryImplementation(failing, this.context, create(spec.method.input) as never, interceptors);
    } else {
      output = await invokeUnaryImplementation(spec, this.context, input as never, interceptors);
    }
    const message = this.binary ? toBinary(spec.method.output, output as never) : this.route.serialization.getO(false).serialize(output as never);
    await this.respond(message, undefined);
  }

  private fail(error: unknown): void {
    const connectError = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
    this.respond(undefined, connectError).catch((respondError: unknown) => this.writeFailed(respondError));
  }

  /** Decodes the request message, or returns the error that explains why it cannot be decoded. */
  private async parseRequest(body: Buffer): Promise<unknown> {
    if (this.timeoutError !== undefined) {
      return this.timeoutError;
    }
    if (this.compression.error !== undefined) {
      return this.compression.error;
    }
    const schema = this.route.spec.method.input;
    if (this.wire === "connect") {
      let bytes: Uint8Array = body;
      if (this.compression.request !== null) {
        try {
          bytes = await this.compression.request.decompress(body, this.options.readMaxBytes);
        } catch (error) {
          return ConnectError.from(error, Code.InvalidArgument);
        }
      }
      return this.binary ? decodeBinary(schema, bytes) : parseJson(this.route, bytes);
    }
    if (body.length < 5) {
      return new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
    }
    if (body[0] !== 0) {
      // The gRPC spec and Connect return INTERNAL here, which reads as a
      // fault of the server, but the fault is the client's.
      return new ConnectError("protocol error: received a compressed message without grpc-encoding", Code.InvalidArgument);
    }
    const length = body.readUInt32BE(1);
    if (body.length < 5 + length) {
      return new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
    }
    if (body.length > 5 + length) {
      return new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented);
    }
    return decodeBinary(schema, body.subarray(5));
  }

  /** Writes the response with the message, or with the error when there is one. */
  private async respond(message: Uint8Array | undefined, error: ConnectError | undefined): Promise<void> {
    this.abort(callCompleted);
    if (this.cannotRespond()) {
      return;
    }
    try {
      if (this.wire === "connect") {
        await this.respondConnect(message, error);
      } else if (this.wire === "grpc") {
        await this.respondGrpc(message, error);
      } else {
        await this.respondGrpcWeb(message, error);
      }
    } catch (writeError) {
      this.writeFailed(writeError);
    }
  }

  /** Returns whether the response has begun already or its stream or connection is gone. */
  private cannotRespond(): boolean {
    const response = this.response;
    if (response.headersSent) {
      return true;
    }
    return "stream" in response ? response.stream.destroyed || response.stream.closed : response.destroyed;
  }

  private async respondGrpc(message: Uint8Array | undefined, error: ConnectError | undefined): Promise<void> {
    const { context } = this;
    const response = this.response as http2.Http2ServerResponse;
    if (message === undefined) {
      // A trailers-only response: status and trailers in one HEADERS frame
      // that ends the stream, which gRPC clients require. Headers set on the
      // response before, such as those of CORS, go with them.
      setTrailerStatus(context.responseTrailer, error);
      const headers = { ...response.getHeaders(), ":status": 200, ...toNodeHeaders(context.responseHeader), ...toNodeHeaders(context.responseTrailer) };
      response.stream.respond(headers, { endStream: true });
      return;
    }
    const frame = await this.compressedEnvelope(message);
    response.writeHead(200, toNodeHeaders(context.responseHeader));
    response.addTrailers(toNodeHeaders(context.responseTrailer));
    response.end(frame);
  }

  private async respondGrpcWeb(message: Uint8Array | undefined, error: ConnectError | undefined): Promise<void> {
    const { context, response } = this;
    const frame = message === undefined ? undefined : await this.compressedEnvelope(message);
    setTrailerStatus(context.responseTrailer, error);
    let trailer = "";
    context.responseTrailer.forEach((value, name) => {
      trailer += `${name}: ${value}\r\n`;
    });
    const trailerFrame = envelope(0x80, Buffer.from(trailer, "utf8"));
    response.writeHead(200, toNodeHeaders(context.responseHeader));
    response.end(frame === undefined ? trailerFrame : Buffer.concat([frame, trailerFrame]));
  }

  /** Frames a response message, compressed when the client accepts it and it is large enough. */
  private async compressedEnvelope(message: Uint8Array): Promise<Buffer> {
    const compression = this.compression.response;
    if (compression === null || message.byteLength < compressMinBytes) {
      return envelope(0, message);
    }
    this.context.responseHeader.set("grpc-encoding", compression.name);
    return envelope(1, await compression.compress(message));
  }

  private async respondConnect(message: Uint8Array | undefined, error: ConnectError | undefined): Promise<void> {
    const { context, response } = this;
    let status = 200;
    let body = message;
    if (body === undefined) {
      const connectError = error ?? new ConnectError("internal error", Code.Internal);
      status = codeToHttpStatus(connectError.code);
      context.responseHeader.set("content-type", "application/json");
      connectError.metadata.forEach((value, name) => context.responseHeader.set(name, value));
      body = errorToJsonBytes(connectError, {});
    }
    const compression = this.compression.response;
    if (compression !== null && body.byteLength >= compressMinBytes) {
      body = await compression.compress(body);
      context.responseHeader.set("content-encoding", compression.name);
    }
    // Unary Connect responses carry their trailers as headers prefixed with "trailer-".
    const headers = toNodeHeaders(context.responseHeader);
    context.responseTrailer.forEach((value, name) => {
      headers[`trailer-${name}`] = value;
    });
    headers["content-length"] = body.byteLength;
    if (this.cannotRespond()) {
      return;
    }
    response.writeHead(status, headers);
    response.end(body);
  }

  private writeFailed(error: unknown): void {
    // Such as a header value that HTTP cannot carry, so no response can be sent.
    this.options.logger.error({ err: error, path: this.request.url }, "writing the response failed");
    const response = this.response;
    if ("stream" in response) {
      response.stream.close(http2ErrorInternal);
    } else {
      response.destroy();
    }
  }
}

function decodeBinary(schema: DescMessage, bytes: Uint8Array): unknown {
  try {
    return fromBinary(schema, bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return new ConnectError(`invalid protobuf message: ${reason}`, Code.InvalidArgument);
  }
}

function parseJson(route: UnaryRoute, bytes: Uint8Array): unknown {
  try {
    return route.serialization.getI(false).parse(bytes);
  } catch (error) {
    return ConnectError.from(error, Code.InvalidArgument);
  }
}

/** Frames a message, or gRPC-Web trailers with flag 0x80, behind the 5-byte gRPC prefix. */
function envelope(flags: number, data: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + data.length);
  frame[0] = flags;
  frame.writeUInt32BE(data.length, 1);
  frame.set(data, 5);
  return frame;
}

function toWebHeaders(headers: http.IncomingHttpHeaders): Headers {
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
    nodeHeaders[name] = name === "grpc-message" ? specGrpcMessage(value) : value;
  });
  return nodeHeaders;
}
