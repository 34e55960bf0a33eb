// PlateService on @grpc/grpc-js: the same handlers, store and queries as our
// server, the same token check and call log line, and no Connect on the
// request path. BENCH_MODE=bare serves constant responses instead, with no
// token check and no log.
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, createHandlerContext } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { PlateService } from "../../gen/plates/v1/plate_service_pb.ts";
import { constantResponses } from "../messages.ts";
import { readChildSettings, serve } from "./child.ts";

const settings = readChildSettings();
const bare = process.env.BENCH_MODE === "bare";

type Handler = (request: unknown, metadata: grpc.Metadata, signal: AbortSignal) => Promise<unknown>;

/** Builds the grpc-js definition of one unary method that encodes with protobuf-es. */
function unaryMethod<I extends DescMessage, O extends DescMessage>(name: string, input: I, output: O): grpc.MethodDefinition<MessageShape<I>, MessageShape<O>> {
  return {
    path: `/${PlateService.typeName}/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (message) => Buffer.from(toBinary(input, message)),
    requestDeserialize: (bytes) => fromBinary(input, bytes),
    responseSerialize: (message) => Buffer.from(toBinary(output, create(output, message))),
    responseDeserialize: (bytes) => fromBinary(output, bytes),
  };
}

const bearerPattern = /^Bearer +([\x21-\x7e]+) *$/i;

async function createHandlers(): Promise<Record<"Get" | "Add" | "Generate" | "Validate", Handler>> {
  if (bare) {
    return {
      Get: async () => constantResponses.get,
      Add: async () => constantResponses.add,
      Generate: async () => constantResponses.generate,
      Validate: async () => {
        throw new ConnectError("not part of the benchmark", Code.Unimplemented);
      },
    };
  }
  // Imported here, so that a cluster primary, which serves nothing, does not
  // load the store and count its memory.
  const { matchToken } = await import("../../src/auth.ts");
  const { openDatabase } = await import("../../src/db/database.ts");
  const { toClientError } = await import("../../src/errors.ts");
  const { createLogger } = await import("../../src/logger.ts");
  const { createPlateService } = await import("../../src/service/plate-service.ts");
  const { KnexPlateStore } = await import("../../src/store/plate-store.ts");

  const logger = createLogger(process.env.LOG_LEVEL ?? "info");
  const db = openDatabase({ kind: "postgres", url: settings.databaseUrl, poolMax: 10, schema: settings.schema });
  const service = createPlateService({ store: new KnexPlateStore(db) });
  const tokens = [{ name: "bench", value: settings.token }];

  const wrap = (name: "get" | "add" | "generate" | "validate"): Handler => {
    const method = PlateService.method[name];
    const procedure = `${PlateService.typeName}/${method.name}`;
    const implementation = service[name] as (request: unknown, context: unknown) => Promise<unknown>;
    return async (request, metadata, signal) => {
      const started = performance.now();
      let tokenName: string | undefined;
      const log = (code: string, error?: ConnectError) =>
        logger.info(
          {
            procedure,
            protocol: "grpc",
            code,
            durationMs: Math.round((performance.now() - started) * 100) / 100,
            token: tokenName,
            ...(error === undefined ? {} : { error: error.rawMessage }),
          },
          "call",
        );
      try {
        const match = bearerPattern.exec(String(metadata.get("authorization")[0] ?? ""));
        tokenName = match?.[1] === undefined ? undefined : matchToken(tokens, match[1]);
        if (tokenName === undefined) {
          throw new ConnectError("missing or invalid bearer token", Code.Unauthenticated);
        }
        const context = createHandlerContext({
          service: PlateService,
          method,
          protocolName: "grpc",
          requestMethod: "POST",
          url: procedure,
          requestSignal: signal,
          contextValues: createContextValues(),
        });
        const response = await implementation(request, context);
        log("ok");
        return response;
      } catch (error) {
        const clientError = toClientError(error, logger);
        log(Code[clientError.code].toLowerCase(), clientError);
        throw clientError;
      }
    };
  };
  return { Get: wrap("get"), Add: wrap("add"), Generate: wrap("generate"), Validate: wrap("validate") };
}

serve(settings.workers, async () => {
  const handlers = await createHandlers();
  const { method } = PlateService;
  const definition: grpc.ServiceDefinition = {
    Get: unaryMethod("Get", method.get.input, method.get.output),
    Add: unaryMethod("Add", method.add.input, method.add.output),
    Generate: unaryMethod("Generate", method.generate.input, method.generate.output),
    Validate: unaryMethod("Validate", method.validate.input, method.validate.output),
  };
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    implementation[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      // Aborted only when the client cancels: a call that completes creates
      // no abort reason.
      const controller = new AbortController();
      call.once("cancelled", () => controller.abort(new ConnectError("call cancelled", Code.Canceled)));
      handler(call.request, call.metadata, controller.signal).then(
        (response) => callback(null, response),
        (error: unknown) => {
          const connectError = ConnectError.from(error);
          callback({ code: connectError.code as number as grpc.status, details: connectError.rawMessage });
        },
      );
    };
  }
  const server = new grpc.Server();
  server.addService(definition, implementation);
  return new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
  );
});
