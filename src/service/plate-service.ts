import { randomInt } from "node:crypto";
import type { ServiceImpl } from "@connectrpc/connect";
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

  return {
    add: (request) => add(store, request),
    get: (request) => get(store, request),
    list: (request) => list(store, request),
    generate: (request) => generate(store, random, request),
    find: (request) => find(store, request),
    delete: (request) => deletePlate(store, request),
    validate: (request) => validate(request),
    generateStream: (request, context) => generateStream(store, random, request, context.signal),
  };
}
