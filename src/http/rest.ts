import { toJson, type DescMethodStreaming, type DescMethodUnary, type DescService, type JsonObject, type JsonValue, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import type { Logger } from "pino";
import { asConnectError, statusJsonOf } from "./errors.ts";
import { httpRoutesOf, matchPathTemplate, type HttpRoute } from "./http-rules.ts";
import { readBody, requestTarget, sendError, sendJson, sendMethodNotAllowed, type NodeRequest, type NodeResponse } from "./respond.ts";
import { buildRequestMessage, parseJsonBody } from "./rest-request.ts";

/** Options of createRestHandler. */
export interface RestHandlerOptions {
  /** Services whose google.api.http annotations define the routes. */
  services: readonly DescService[];
  /** Transport to the same handlers, interceptors included, that gRPC and Connect clients reach. */
  transport: Transport;
  /** Maximum size of a request body in bytes. */
  maxRequestBytes: number;
  logger: Logger;
}

/** Serves the REST routes of google.api.http annotations. */
export interface RestHandler {
  /** The routes, in the order of the methods in the proto. */
  routes: readonly HttpRoute[];
  /** Serves the request when its path matches a route; returns false otherwise. */
  handle(request: NodeRequest, response: NodeResponse): boolean;
}

/** Request headers that reach the RPC; the transport sets the rest. */
export const forwardedHeaders = ["authorization", "x-request-id"];
/** Response headers of the RPC that reach the REST client. */
const returnedHeaders = ["x-request-id"];

/**
 * Creates the REST handler. Each request becomes a call of the RPC through
 * `transport`, with the request message built by the proto3 JSON mapping,
 * so authentication, call logging and error mapping are those of every
 * other protocol. Unary responses are proto3 JSON. Server-streaming
 * responses are newline-delimited JSON, one {"result": …} object per
 * message and {"error": …} when the stream fails after its start, as
 * grpc-gateway sends them.
 */
export function createRestHandler(options: RestHandlerOptions): RestHandler {
  const routes = options.services.flatMap(httpRoutesOf);
  return {
    routes,
    handle: (request, response) => {
      const { path, query } = requestTarget(request);
      const matches: { route: HttpRoute; pathValues: Map<string, string> }[] = [];
      for (const route of routes) {
        const pathValues = matchPathTemplate(route.template, path);
        if (pathValues !== undefined) {
          matches.push({ route, pathValues });
        }
      }
      if (matches.length === 0) {
        return false;
      }
      const method = request.method === "HEAD" ? "GET" : request.method;
      const match = matches.find((candidate) => candidate.route.httpMethod === method);
      if (match === undefined) {
        sendMethodNotAllowed(request, response, path, [...new Set(matches.map((candidate) => candidate.route.httpMethod))]);
        return true;
      }
      void serveRoute(options, match.route, { request, response, pathValues: match.pathValues, query });
      return true;
    },
  };
}

interface RouteCall {
  request: NodeRequest;
  response: NodeResponse;
  pathValues: Map<string, string>;
  query: URLSearchParams;
}

async function serveRoute(options: RestHandlerOptions, route: HttpRoute, call: RouteCall): Promise<void> {
  const { request, response } = call;
  const aborted = new AbortController();
  response.once("close", () => aborted.abort());
  try {
    let body: JsonValue | undefined;
    if (route.body === "") {
      request.resume();
    } else {
      try {
        body = parseJsonBody(await readBody(request, options.maxRequestBytes));
      } catch (error) {
        const connectError = asConnectError(error);
        sendError(request, response, connectError, connectError.code === Code.ResourceExhausted ? 413 : undefined);
        return;
      }
    }
    const input = buildRequestMessage(route, { pathValues: call.pathValues, query: call.query, body });
    const header = new Headers();
    for (const name of forwardedHeaders) {
      const value = request.headers[name];
      if (typeof value === "string") {
        header.set(name, value);
      }
    }

    // DescMethod is no discriminated union, so the kind check needs a cast.
    const { rpc } = route;
    switch (rpc.methodKind) {
      case "unary":
        await serveUnary(route, rpc as DescMethodUnary, input, header, aborted.signal, call);
        return;
      case "server_streaming":
        await serveServerStream(route, rpc as DescMethodStreaming, input, header, aborted.signal, call, options);
        return;
      default:
        throw new ConnectError(`${rpc.methodKind} RPCs are not served over REST`, Code.Unimplemented);
    }
  } catch (error) {
    const connectError = asConnectError(error);
    if (connectError.code === Code.Internal && !(error instanceof ConnectError)) {
      options.logger.error({ err: error, procedure: procedureOf(route) }, "REST route failed");
    }
    sendError(request, response, connectError);
  }

  async function serveUnary(
    route: HttpRoute,
    rpc: DescMethodUnary,
    input: Message,
    header: Headers,
    signal: AbortSignal,
    call: RouteCall,
  ): Promise<void> {
    const result = await options.transport.unary(rpc, signal, undefined, header, input);
    sendJson(call.request, call.response, 200, responseJson(route, result.message), returnedHeadersOf(result.header));
  }
}

async function serveServerStream(
  route: HttpRoute,
  rpc: DescMethodStreaming,
  input: Message,
  header: Headers,
  signal: AbortSignal,
  call: RouteCall,
  options: RestHandlerOptions,
): Promise<void> {
  const { request, response } = call;
  const result = await options.transport.stream(rpc, signal, undefined, header, createAsyncIterable([input]));
  const startStream = () => {
    if (!response.headersSent) {
      response.writeHead(200, { ...returnedHeadersOf(result.header), "content-type": "application/x-ndjson; charset=utf-8" });
    }
  };
  try {
    for await (const message of result.message) {
      startStream();
      if (request.method !== "HEAD") {
        const flushed = response.write(`${JSON.stringify({ result: responseJson(route, message) })}\n`);
        // Produce the next batch only once the client has read this one, and
        // let other connections' I/O run between batches, because the
        // in-process transport would otherwise hand out batches without
        // ever yielding to the event loop.
        await (flushed ? new Promise((resolve) => setImmediate(resolve)) : drained(response, signal));
      }
    }
  } catch (error) {
    if (!response.headersSent) {
      throw error;
    }
    const connectError = asConnectError(error);
    if (connectError.code === Code.Internal && !(error instanceof ConnectError)) {
      options.logger.error({ err: error, procedure: procedureOf(route) }, "REST stream failed");
    }
    response.end(`${JSON.stringify({ error: statusJsonOf(connectError) })}\n`);
    return;
  }
  startStream();
  response.end();
}

// Resolves when the response's buffer has drained, or when the call ends
// because the client went away.
function drained(response: RouteCall["response"], signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      response.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    response.on("drain", done);
    response.on("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function responseJson(route: HttpRoute, message: Message): JsonValue {
  const json = toJson(route.rpc.output, message) as JsonObject;
  if (route.responseBody === "") {
    return json;
  }
  const field = route.rpc.output.fields.find((candidate) => candidate.name === route.responseBody);
  return field === undefined ? null : (json[field.jsonName] ?? null);
}

function returnedHeadersOf(header: Headers): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of returnedHeaders) {
    const value = header.get(name);
    if (value !== null) {
      headers[name] = value;
    }
  }
  return headers;
}

function procedureOf(route: HttpRoute): string {
  return `${route.rpc.parent.typeName}/${route.rpc.name}`;
}
