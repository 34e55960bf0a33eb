import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "pino";
import { tokenNameKey } from "./auth.ts";
import { toClientError } from "./errors.ts";

/**
 * Writes one log line per call (procedure, code, duration, token name) and
 * turns every error into the ConnectError the client may see. Place it first,
 * so that it also sees the errors of the interceptors after it.
 */
export function createCallLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    const started = performance.now();
    const procedure = request.method.parent.typeName + "/" + request.method.name;
    const log = (code: Code | undefined, error?: ConnectError) => {
      logger.info(
        {
          procedure,
          protocol: protocolOf(request.header.get("content-type")),
          code: code === undefined ? "ok" : codeToString(code),
          durationMs: Math.round((performance.now() - started) * 100) / 100,
          token: request.contextValues.get(tokenNameKey),
          ...(error === undefined ? {} : { error: error.rawMessage }),
        },
        "call",
      );
    };
    try {
      const response = await next(request);
      log(undefined);
      return response;
    } catch (error) {
      const clientError = toClientError(error, logger.child({ procedure }));
      log(clientError.code, clientError);
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
