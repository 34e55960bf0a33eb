import type { JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import type { Logger } from "pino";
import { PlateService } from "../../gen/plates/v1/plate_service_pb.ts";
import { asConnectError } from "./errors.ts";
import { readBody, requestTarget, sendError, sendJson, sendMethodNotAllowed, type NodeRequest, type NodeResponse } from "./respond.ts";
import { forwardedHeaders } from "./rest.ts";
import { parseJsonBody } from "./rest-request.ts";

/** Options of createLegacyHandler. */
export interface LegacyHandlerOptions {
  /** Transport to the PlateService handlers, interceptors included. */
  transport: Transport;
  /** Maximum size of a request body in bytes. */
  maxRequestBytes: number;
  logger: Logger;
}

type PlateClient = Client<typeof PlateService>;

interface LegacyRoute {
  method: "GET" | "POST";
  /** Calls the RPC and returns the JSON body of the response. */
  serve(client: PlateClient, request: LegacyRequest): Promise<JsonValue>;
}

interface LegacyRequest {
  query: URLSearchParams;
  body: JsonValue | undefined;
  header: Headers;
}

/**
 * The paths, parameters and response fields of the Flask service that this
 * one replaces, so that its clients keep working. Errors differ on purpose.
 * The Flask service returned 401 for every error, while these routes send
 * the HTTP status of the gRPC code and google.rpc.Status JSON, whose
 * `message` field those clients already read.
 */
const legacyRoutes: Record<string, LegacyRoute> = {
  "/PLATE/GENERATE": {
    method: "GET",
    serve: async (client, { query, header }) => {
      const amount = requiredParameter(query, "amount");
      if (!/^\d{1,9}$/.test(amount)) {
        throw new ConnectError(`invalid amount ${JSON.stringify(amount)}: expected a non-negative integer`, Code.InvalidArgument);
      }
      const response = await client.generate({ amount: Number(amount) }, { headers: header });
      return { generate_car_numbers: pythonListRepr(response.plates.map((plate) => plate.number)) };
    },
  },
  "/PLATE/GET": {
    method: "GET",
    serve: async (client, { query, header }) => {
      const response = await client.get({ id: requiredParameter(query, "id") }, { headers: header });
      return { id: response.plate?.id ?? "", auto_numbers: response.plate?.number ?? "" };
    },
  },
  "/PLATE/ADD": {
    method: "POST",
    serve: async (client, { body, header }) => {
      const number = typeof body === "object" && body !== null && !Array.isArray(body) ? body.auto_numbers : undefined;
      if (typeof number !== "string") {
        throw new ConnectError('missing "auto_numbers": expected a JSON body {"auto_numbers": "<number>"}', Code.InvalidArgument);
      }
      const response = await client.add({ number }, { headers: header });
      return { id: response.plate?.id ?? "", auto_numbers: response.plate?.number ?? "" };
    },
  },
};

/** Serves the paths of the replaced Flask service, GET /PLATE/GENERATE, GET /PLATE/GET and POST /PLATE/ADD. */
export function createLegacyHandler(options: LegacyHandlerOptions): {
  handle(request: NodeRequest, response: NodeResponse): boolean;
} {
  const client = createClient(PlateService, options.transport);
  return {
    handle: (request, response) => {
      const { path, query } = requestTarget(request);
      const route = legacyRoutes[path];
      if (route === undefined) {
        return false;
      }
      if (request.method !== route.method) {
        sendMethodNotAllowed(request, response, path, [route.method]);
        return true;
      }
      void serveLegacy(options, client, route, request, response, query);
      return true;
    },
  };
}

async function serveLegacy(
  options: LegacyHandlerOptions,
  client: PlateClient,
  route: LegacyRoute,
  request: NodeRequest,
  response: NodeResponse,
  query: URLSearchParams,
): Promise<void> {
  try {
    let body: JsonValue | undefined;
    if (route.method === "POST") {
      try {
        body = parseJsonBody(await readBody(request, options.maxRequestBytes));
      } catch (error) {
        const connectError = asConnectError(error);
        sendError(request, response, connectError, connectError.code === Code.ResourceExhausted ? 413 : undefined);
        return;
      }
    } else {
      request.resume();
    }
    const header = new Headers();
    for (const name of forwardedHeaders) {
      const value = request.headers[name];
      if (typeof value === "string") {
        header.set(name, value);
      }
    }
    sendJson(request, response, 200, await route.serve(client, { query, body, header }));
  } catch (error) {
    const connectError = asConnectError(error);
    if (!(error instanceof ConnectError)) {
      options.logger.error({ err: error, path: request.url }, "legacy route failed");
    }
    sendError(request, response, connectError);
  }
}

function requiredParameter(query: URLSearchParams, name: string): string {
  const value = query.get(name);
  if (value === null || value === "") {
    throw new ConnectError(`missing query parameter "${name}"`, Code.InvalidArgument);
  }
  return value;
}

/**
 * Formats numbers as the Flask service did: the Python text of a list with
 * one dict from position (from 1) to number, "[{1: 'А123ВС77', 2: …}]".
 * Canonical numbers hold only capital letters and digits, so no quoting is needed.
 */
function pythonListRepr(numbers: readonly string[]): string {
  return `[{${numbers.map((number, index) => `${index + 1}: '${number}'`).join(", ")}}]`;
}
