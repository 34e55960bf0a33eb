import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createRouterTransport, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import * as reflectionV1 from "../gen/grpc/reflection/v1/reflection_pb.ts";
import * as reflectionV1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.ts";
import { Health } from "../gen/health/v1/health_pb.ts";
import { PlateService } from "../gen/plates/v1/plate_service_pb.ts";
import { createAuthInterceptor, type ApiToken } from "./auth.ts";
import { createLimitsInterceptor } from "./limits.ts";
import type { Metrics } from "./metrics.ts";
import type { TokenStore } from "./tokens/token-store.ts";
import { chainVerifiers, createDatabaseVerifier, createStaticVerifier, type TokenVerifier } from "./tokens/verifier.ts";
import { createCallLogInterceptor } from "./call-log.ts";
import { createHealthMonitor } from "./grpc/health.ts";
import { createReflectionServices } from "./grpc/reflection.ts";
import { useSpecGrpcMessage } from "./grpc-message.ts";
import { clampTimeoutHeaders } from "./timeout-headers.ts";
import { createCorsHandler } from "./http/cors.ts";
import { createDocsHandler } from "./http/docs.ts";
import { createLegacyHandler } from "./http/legacy.ts";
import { createMetricsHandler } from "./http/metrics.ts";
import { createProbeHandler } from "./http/probes.ts";
import { sendError, type NodeRequest, type NodeResponse } from "./http/respond.ts";
import { createRestHandler } from "./http/rest.ts";
import { createPlateService } from "./service/plate-service.ts";
import { createUnaryHandler, type ServiceRegistration } from "./unary.ts";
import type { PlateStore } from "./store/plate-store.ts";

/** Options of createPlatesServer. */
export interface PlatesServerOptions {
  store: PlateStore;
  tokens: readonly ApiToken[];
  logger: Logger;
  /** Maximum size of a request body in bytes, enforced before it is parsed. */
  maxRequestBytes: number;
  /** Source of random integers for Generate; crypto.randomInt by default. */
  randomInt?: (maxExclusive: number) => number;
  /**
   * Resolves when the database answers a query and rejects otherwise. Health
   * checks report SERVING only while it resolves; without it they report
   * SERVING as long as the server runs.
   */
  checkDatabase?: () => Promise<void>;
  /** Milliseconds a database check of the health checks may take; 2000 by default. */
  healthCheckTimeoutMs?: number;
  /** Milliseconds between database checks while a health Watch call is open; 5000 by default. */
  healthWatchIntervalMs?: number;
  /** Whether server reflection needs the bearer token; false by default. */
  reflectionRequiresToken?: boolean;
  /** Origins that browsers may call from ("*" for any); none by default. */
  corsOrigins?: readonly string[];
  /** Tokens stored in the database, accepted besides `tokens`; none by default. */
  tokenStore?: TokenStore;
  /** Milliseconds a token lookup in `tokenStore` is reused; 5000 by default. */
  tokenCacheTtlMs?: number;
  /** Metrics to record calls in; none by default. */
  metrics?: Metrics;
  /** Whether GET /metrics on this port serves `metrics`; false by default. */
  serveMetrics?: boolean;
  /** Calls served at once before RESOURCE_EXHAUSTED; 1000 by default. */
  maxConcurrentCalls?: number;
  /** Deadline in milliseconds of unary calls whose client sends none; 30000 by default, 0 for none. */
  defaultDeadlineMs?: number;
}

/** A server of PlateService on one port for HTTP/1.1 and cleartext HTTP/2. */
export interface PlatesServer {
  /** Starts listening; returns the bound address (port 0 picks a free one). */
  listen(port: number, host: string): Promise<AddressInfo>;
  /**
   * Stops accepting connections, lets calls in flight finish, and closes the
   * remaining connections after `graceMs` milliseconds.
   */
  close(graceMs: number): Promise<void>;
}

// Deadline in milliseconds of unary calls whose client sends none, when the
// options set no defaultDeadlineMs.
const defaultDeadlineMs = 30_000;
// Every HTTP/2 connection starts with this preface (RFC 9113, section 3.4).
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
// Milliseconds a new connection may stay silent before it is dropped.
const firstBytesTimeoutMs = 10_000;

/**
 * Creates the server of PlateService, health checks and reflection over gRPC,
 * gRPC-Web and Connect, and of the REST routes, the legacy paths, the probes
 * and the docs over plain HTTP, all on one port. gRPC needs HTTP/2, while
 * Connect and gRPC-Web clients may speak HTTP/1.1, and Node's cleartext HTTP/2
 * server does not fall back to HTTP/1.1. So a plain TCP server reads the first
 * bytes of each connection and hands it to the HTTP/2 server when they are the
 * HTTP/2 preface, and to the HTTP/1.1 server otherwise.
 */
export function createPlatesServer(options: PlatesServerOptions): PlatesServer {
  const { logger } = options;
  const health = createHealthMonitor({
    checkDatabase: options.checkDatabase,
    checkTimeoutMs: options.healthCheckTimeoutMs ?? 2_000,
    watchIntervalMs: options.healthWatchIntervalMs ?? 5_000,
    logger,
  });
  const registrations = createRegistrations(options, health.service);
  const routes = (router: ConnectRouter) => {
    for (const { service, implementation, interceptors } of registrations) {
      router.service(service, implementation as never, { interceptors });
    }
  };
  const handlerOptions = {
    readMaxBytes: options.maxRequestBytes,
    // Every encoding that connect-node implements. A request in another
    // encoding fails with UNIMPLEMENTED, whose message lists these.
    acceptCompression: [compressionGzip, compressionBrotli],
  };
  const connectHandler = connectNodeAdapter({
    routes,
    ...handlerOptions,
    fallback: (request, response) => {
      const path = (request.url ?? "/").split("?")[0] ?? "/";
      const error = new ConnectError(`no route for ${request.method ?? ""} ${path}`, Code.NotFound);
      sendError(request as NodeRequest, response as NodeResponse, error);
    },
  });

  // REST and the legacy paths call the same handlers, interceptors included,
  // through an in-process transport, so that a call authenticates, logs and
  // fails the same way on every protocol.
  const inProcess = createRouterTransport(routes, { router: handlerOptions });
  const rest = createRestHandler({
    services: [PlateService],
    transport: inProcess,
    maxRequestBytes: options.maxRequestBytes,
    logger,
  });
  const legacy = createLegacyHandler({ transport: inProcess, maxRequestBytes: options.maxRequestBytes, logger });
  const applyCors = createCorsHandler({
    allowedOrigins: options.corsOrigins ?? [],
    routeMethods: rest.routes.map((route) => route.httpMethod),
  });
  const serveDocs = createDocsHandler();
  const serveProbes = createProbeHandler(health);
  const serveMetrics =
    options.serveMetrics === true && options.metrics !== undefined
      ? createMetricsHandler(options.metrics)
      : () => false;

  const serveUnary = createUnaryHandler(registrations, {
    readMaxBytes: options.maxRequestBytes,
    acceptCompression: handlerOptions.acceptCompression,
    defaultDeadlineMs: options.defaultDeadlineMs ?? defaultDeadlineMs,
    logger,
  });
  const handler = (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => {
    clampTimeoutHeaders(request.headers);
    const nodeRequest = request as NodeRequest;
    const nodeResponse = response as NodeResponse;
    try {
      if (
        applyCors(nodeRequest, nodeResponse) ||
        // Unary calls, most of the traffic, before the path templates of the
        // handlers below; Connect serves what this one does not.
        serveUnary(request, response) ||
        serveProbes(nodeRequest, nodeResponse) ||
        serveMetrics(nodeRequest, nodeResponse) ||
        serveDocs(nodeRequest, nodeResponse) ||
        rest.handle(nodeRequest, nodeResponse) ||
        legacy.handle(nodeRequest, nodeResponse)
      ) {
        return;
      }
    } catch (error) {
      logger.error({ err: error, path: request.url }, "HTTP handler failed");
      sendError(nodeRequest, nodeResponse, new ConnectError("internal error", Code.Internal));
      return;
    }
    const contentType = (request.headers["content-type"] ?? "").toLowerCase();
    if (contentType.startsWith("application/grpc") && !contentType.startsWith("application/grpc-web")) {
      useSpecGrpcMessage(response);
    }
    connectHandler(nodeRequest, nodeResponse);
  };

  const http1Server = http.createServer(handler);
  const http2Server = http2.createServer({}, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  http2Server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  // A session error (a peer that breaks the protocol, say) ends that session
  // only; without a listener Node would raise it as an uncaught exception.
  http2Server.on("sessionError", (error) => logger.debug({ err: error }, "HTTP/2 session error"));
  http1Server.on("clientError", (error, socket) => {
    logger.debug({ err: error }, "HTTP/1.1 client error");
    socket.destroy();
  });
  // Node tracks the idle connections of an HTTP/1.1 server only while that
  // server listens, and this one never does: the TCP server hands it its
  // sockets. So the requests in flight on each socket are counted here,
  // for shutdown to close the idle sockets at once and the others after
  // their response.
  const http1Requests = new Map<net.Socket, number>();
  let shuttingDown = false;
  http1Server.on("connection", (socket: net.Socket) => {
    http1Requests.set(socket, 0);
    socket.once("close", () => http1Requests.delete(socket));
  });
  http1Server.on("request", (request: http.IncomingMessage, response: http.ServerResponse) => {
    const socket = request.socket;
    http1Requests.set(socket, (http1Requests.get(socket) ?? 0) + 1);
    if (shuttingDown) {
      response.shouldKeepAlive = false;
    }
    response.once("close", () => {
      const inFlight = (http1Requests.get(socket) ?? 1) - 1;
      http1Requests.set(socket, inFlight);
      if (shuttingDown && inFlight === 0) {
        socket.end();
      }
    });
  });

  const sockets = new Set<net.Socket>();
  const tcpServer = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    routeByFirstBytes(socket, http1Server, http2Server);
  });

  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        tcpServer.once("error", reject);
        tcpServer.listen(port, host, () => {
          tcpServer.off("error", reject);
          resolve(tcpServer.address() as AddressInfo);
        });
      }),

    close: async (graceMs) => {
      // Health checks report NOT_SERVING from now on, and Watch calls end, so
      // that load balancers stop sending calls during the grace period.
      health.shutdown();
      const closed = new Promise<void>((resolve) => tcpServer.close(() => resolve()));
      // Idle HTTP/1.1 connections close now and busy ones after their
      // response; HTTP/2 sessions get GOAWAY and close once their streams end.
      shuttingDown = true;
      for (const [socket, inFlight] of http1Requests) {
        if (inFlight === 0) {
          socket.end();
        }
      }
      for (const session of sessions) {
        session.close();
      }
      const timer = setTimeout(() => {
        logger.warn({ connections: sockets.size }, "shutdown grace period over, closing connections");
        for (const socket of sockets) {
          socket.destroy();
        }
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

function routeByFirstBytes(socket: net.Socket, http1Server: http.Server, http2Server: http2.Http2Server): void {
  socket.setTimeout(firstBytesTimeoutMs, () => socket.destroy());
  let received = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const compared = Math.min(received.length, http2Preface.length);
    const isHttp2 = received.subarray(0, compared).equals(http2Preface.subarray(0, compared));
    // Wait for more bytes while they could still be either protocol.
    if (isHttp2 && compared < http2Preface.length) {
      return;
    }
    socket.off("data", onData);
    socket.pause();
    socket.setTimeout(0);
    socket.unshift(received);
    if (isHttp2) {
      // The HTTP/2 session takes the bytes already read from the socket's
      // buffer when it starts.
      http2Server.emit("connection", socket);
    } else {
      // The HTTP/1.1 parser reads new bytes straight from the handle, and the
      // bytes put back above arrive as "data" events once the socket flows.
      http1Server.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}

function createVerifier(options: PlatesServerOptions): TokenVerifier {
  const verifiers = [createStaticVerifier(options.tokens)];
  if (options.tokenStore !== undefined) {
    verifiers.push(
      createDatabaseVerifier(options.tokenStore, {
        cacheTtlMs: options.tokenCacheTtlMs ?? 5_000,
        touchIntervalMs: 60_000,
        maxCacheEntries: 10_000,
        logger: options.logger,
      }),
    );
  }
  return chainVerifiers(verifiers);
}

/**
 * Returns every service with its implementation and interceptors, for the
 * Connect router and the unary handler alike. PlateService needs the
 * token; health checks never do, and reflection does when
 * `reflectionRequiresToken` is set. The call log comes first, so that it also
 * logs the calls that the token check rejects.
 */
function createRegistrations(
  options: PlatesServerOptions,
  healthService: ReturnType<typeof createHealthMonitor>["service"],
): ServiceRegistration[] {
  const plateService = createPlateService(options);
  const reflection = createReflectionServices({
    services: [PlateService, Health, reflectionV1.ServerReflection, reflectionV1alpha.ServerReflection],
    // Clients such as grpcurl look up the types of error details by reflection.
    files: [file_google_rpc_error_details],
  });
  const callLog = createCallLogInterceptor(options.logger, options.metrics);
  const limits = createLimitsInterceptor({
    maxConcurrentCalls: options.maxConcurrentCalls ?? 1_000,
    defaultDeadlineMs: options.defaultDeadlineMs ?? defaultDeadlineMs,
  });
  const withToken: Interceptor[] = [callLog, limits, createAuthInterceptor(createVerifier(options))];
  const withoutToken: Interceptor[] = [callLog, limits];
  const reflectionInterceptors = options.reflectionRequiresToken === true ? withToken : withoutToken;

  return [
    { service: PlateService, implementation: plateService, interceptors: withToken },
    { service: Health, implementation: healthService, interceptors: withoutToken },
    { service: reflectionV1.ServerReflection, implementation: reflection.v1, interceptors: reflectionInterceptors },
    { service: reflectionV1alpha.ServerReflection, implementation: reflection.v1alpha, interceptors: reflectionInterceptors },
  ];
}
