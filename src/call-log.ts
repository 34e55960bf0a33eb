import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "pino";
import { tokenNameKey } from "./auth.ts";
import { toClientError } from "./errors.ts";
import type { Metrics } from "./metrics.ts";
import { requestIdHeader, requestIdKey, resolveRequestId } from "./request-id.ts";

/**
 * Writes one log line per call (procedure, code, duration, token name,
 * request id), counts the call in the metrics, echoes the request id in the
 * response headers, and turns every error into the ConnectError the client
 * may see. Place it first, so that it also receives the errors of the
 * interceptors after it.
 */
export function createCallLogInterceptor(logger: Logger, metrics?: Metrics): Interceptor {
  return (next) => async (request) => {
    const started = performance.now();
    const procedure = request.method.parent.typeName + "/" + request.method.name;
    const requestId = resolveRequestId(request.header.get(requestIdHeader));
    request.contextValues.set(requestIdKey, requestId);
    const callLogger = logger.child({ requestId, procedure });

    const finish = (code: Code | undefined, error?: ConnectError) => {
      const seconds = (performance.now() - started) / 1000;
      const codeName = code === undefined ? "ok" : codeToString(code);
      const token = request.contextValues.get(tokenNameKey);
      metrics?.observeCall(procedure, codeName, seconds, token);
      callLogger.info(
        {
          protocol: protocolOf(request.header.get("content-type")),
          code: codeName,
          durationMs: Math.round(seconds * 100_000) / 100,
          token,
          ...(error === undefined ? {} : { error: error.rawMessage }),
        },
        "call",
      );
    };

    try {
      const response = await next(request);
      response.header.set(requestIdHeader, requestId);
      finish(undefined);
      return response;
    } catch (error) {
      const clientError = toClientError(error, callLogger, requestId, request.signal);
      clientError.metadata.set(requestIdHeader, requestId);
      finish(clientError.code, clientError);
      throw clientError;
    }
  };
}

// Connect's interceptors are not given the protocol, so the content type identifies it:
// application/grpc, application/grpc-web (and their +proto or +json forms), or
// anything else for the Connect protocol.
function protocolOf(contentType: string | null): string {
  if (contentType?.startsWith("application/grpc-web")) {
    return "grpc-web";
  }
  if (contentType?.startsWith("application/grpc")) {
    return "grpc";
  }
  return "connect";
}
