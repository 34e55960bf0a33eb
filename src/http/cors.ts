import { cors } from "@connectrpc/connect";
import type { NodeRequest, NodeResponse } from "./respond.ts";

/** Options of createCorsHandler. */
export interface CorsOptions {
  /** Origins allowed to call, such as "https://app.example"; "*" allows every origin, empty allows none. */
  allowedOrigins: readonly string[];
  /** Methods of the REST routes, allowed besides those of Connect and gRPC-Web. */
  routeMethods: readonly string[];
}

// Seconds a browser may cache a preflight answer.
const preflightMaxAgeSeconds = 7200;

/**
 * Creates the CORS step that runs before every handler. It adds the CORS
 * headers to responses for allowed origins and answers preflight requests
 * itself, with 204 for an allowed origin and 403 otherwise; it returns true
 * when it has answered the request.
 */
export function createCorsHandler(options: CorsOptions): (request: NodeRequest, response: NodeResponse) => boolean {
  const anyOrigin = options.allowedOrigins.includes("*");
  const origins = new Set(options.allowedOrigins);
  const allowMethods = [...new Set([...cors.allowedMethods, ...options.routeMethods])].join(", ");
  // Connect and gRPC-Web need these, and every call carries the bearer token.
  const allowHeaders = [...cors.allowedHeaders, "Authorization", "X-Request-Id"].join(", ");
  const exposeHeaders = [...cors.exposedHeaders, "X-Request-Id", "WWW-Authenticate"].join(", ");

  return (request, response) => {
    const origin = request.headers.origin;
    const isPreflight = request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined;
    const allowed = typeof origin === "string" && (anyOrigin || origins.has(origin));

    if (allowed) {
      response.setHeader("access-control-allow-origin", anyOrigin ? "*" : origin);
      response.setHeader("access-control-expose-headers", exposeHeaders);
    }
    if (!anyOrigin) {
      response.setHeader("vary", "Origin");
    }
    if (!isPreflight) {
      return false;
    }
    if (!allowed) {
      response.writeHead(403, { "content-length": "0" });
      response.end();
      return true;
    }
    response.writeHead(204, {
      "access-control-allow-methods": allowMethods,
      "access-control-allow-headers": allowHeaders,
      "access-control-max-age": String(preflightMaxAgeSeconds),
    });
    response.end();
    return true;
  };
}
