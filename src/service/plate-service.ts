import { randomInt } from "node:crypto";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { callSignalOf } from "../db/call-signal.ts";
import type { PlateService } from "../../gen/plates/v1/plate_service_pb.ts";
import type { PlateStore } from "../store/plate-store.ts";
import { add } from "./add.ts";
import { deletePlate } from "./delete.ts";
import { find } from "./find.ts";
import { generate, type RandomInt } from "./generate.ts";
import { generateStream } from "./generate-stream.ts";
import { get } from "./get.ts";
import { list } from "./list.ts";
import { validate } from "./validate.ts";

/** Options of the PlateService implementation. */
export interface PlateServiceOptions {
  store: PlateStore;
  /** Source of random integers in [0, maxExclusive); crypto.randomInt by default. */
  randomInt?: RandomInt;
}

/** Implements plates.v1.PlateService on a PlateStore; each RPC lives in a module of its own. */
export function createPlateService(options: PlateServiceOptions): ServiceImpl<typeof PlateService> {
  const { store } = options;
  const random = options.randomInt ?? ((maxExclusive: number) => randomInt(maxExclusive));

  // Each call's queries follow its signal, so that they are cancelled when it ends.
  const storeFor = (context: HandlerContext) => store.withSignal(callSignalOf(context));
  return {
    add: (request, context) => add(storeFor(context), request),
    get: (request, context) => get(storeFor(context), request),
    list: (request, context) => list(storeFor(context), request),
    generate: (request, context) => generate(storeFor(context), random, request),
    find: (request, context) => find(storeFor(context), request),
    delete: (request, context) => deletePlate(storeFor(context), request),
    validate: (request) => validate(request),
    generateStream: (request, context) => generateStream(store.withSignal(context.signal), random, request, context.signal),
  };
}
