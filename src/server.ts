import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { PlateService } from "../gen/plates/v1/plate_service_pb.ts";
import { createAuthInterceptor, type ApiToken } from "./auth.ts";
import { createCallLogInterceptor } from "./call-log.ts";
import { useSpecGrpcMessage } from "./grpc-message.ts";
import { createPlateService } from "./service/plate-service.ts";
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

// Every HTTP/2 connection starts with this preface (RFC 9113, section 3.4).
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
// Milliseconds a new connection may stay silent before it is dropped.
const firstBytesTimeoutMs = 10_000;

/**
 * Creates the server. gRPC needs HTTP/2, while Connect and gRPC-Web clients
 * may speak HTTP/1.1, and Node's cleartext HTTP/2 server does not fall back
 * to HTTP/1.1. So a plain TCP server reads the first bytes of each connection
 * and hands it to the HTTP/2 server when they are the HTTP/2 preface, and to
 * the HTTP/1.1 server otherwise.
 */
export function createPlatesServer(options: PlatesServerOptions): PlatesServer {
  const { logger } = options;
  const connectHandler = connectNodeAdapter({
    routes: (router) => {
      router.service(PlateService, createPlateService(options));
    },
    interceptors: [createCallLogInterceptor(logger), createAuthInterceptor(options.tokens)],
    readMaxBytes: options.maxRequestBytes,
  });
  const handler = (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => {
    const contentType = request.headers["content-type"] ?? "";
    if (contentType.startsWith("application/grpc") && !contentType.startsWith("application/grpc-web")) {
      useSpecGrpcMessage(response);
    }
    connectHandler(request as http.IncomingMessage, response as http.ServerResponse);
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
      const closed = new Promise<void>((resolve) => tcpServer.close(() => resolve()));
      // Idle HTTP/1.1 connections close now and busy ones after their
      // response; HTTP/2 sessions get GOAWAY and close once their streams end.
      http1Server.close();
      http1Server.closeIdleConnections();
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
