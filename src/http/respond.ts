import type http from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { httpStatusOf, statusJsonOf } from "./errors.ts";

// The HTTP/2 compatibility API of Node has the same methods that these
// helpers use, so HTTP/2 requests and responses are passed as these types.
/** An HTTP/1.1 or HTTP/2 request of Node's compatibility API. */
export type NodeRequest = http.IncomingMessage;
/** An HTTP/1.1 or HTTP/2 response of Node's compatibility API. */
export type NodeResponse = http.ServerResponse;

/** Splits the request target into the path and the query parameters. */
export function requestTarget(request: NodeRequest): { path: string; query: URLSearchParams } {
  const target = request.url ?? "/";
  const mark = target.indexOf("?");
  if (mark === -1) {
    return { path: target, query: new URLSearchParams() };
  }
  return { path: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}

/** Sends a JSON body; HEAD requests get the headers only. */
export function sendJson(
  request: NodeRequest,
  response: NodeResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const bytes = Buffer.from(JSON.stringify(body), "utf8");
  response.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(bytes.length),
  });
  response.end(request.method === "HEAD" ? undefined : bytes);
}

/**
 * Sends an error as google.rpc.Status JSON ({code, message, details}) with
 * the HTTP status of its code, unless `status` overrides it.
 */
export function sendError(request: NodeRequest, response: NodeResponse, error: ConnectError, status?: number): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const headers: Record<string, string> = {};
  if (error.code === Code.Unauthenticated) {
    headers["www-authenticate"] = "Bearer";
  }
  sendJson(request, response, status ?? httpStatusOf(error.code), statusJsonOf(error), headers);
}

/** Sends 405 with the allowed methods, as UNIMPLEMENTED in google.rpc.Status JSON. */
export function sendMethodNotAllowed(request: NodeRequest, response: NodeResponse, path: string, allowed: string[]): void {
  const error = new ConnectError(`method ${request.method ?? ""} not allowed on ${path}: allowed ${allowed.join(", ")}`, Code.Unimplemented);
  response.setHeader("allow", allowed.join(", "));
  sendError(request, response, error, 405);
}

/**
 * Reads the request body, up to `maxBytes`. A larger body fails with
 * RESOURCE_EXHAUSTED as soon as its declared or received size passes the
 * limit, before anything is parsed.
 */
export async function readBody(request: NodeRequest, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new ConnectError(`request body larger than ${maxBytes} bytes`, Code.ResourceExhausted);
  const declared = Number(request.headers["content-length"] ?? "0");
  if (declared > maxBytes) {
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
