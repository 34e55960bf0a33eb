import { randomInt } from "node:crypto";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { PlateService } from "../../gen/plates/v1/plate_service_pb.ts";
import type { PlateStore } from "../store/plate-store.ts";
import { add } from "./add.ts";
import { generate, type RandomInt } from "./generate.ts";
import { get } from "./get.ts";
import { list } from "./list.ts";

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
  const unimplemented = (name: string) => {
    throw new ConnectError(`${name} is not implemented yet`, Code.Unimplemented);
  };

  return {
    add: (request) => add(store, request),
    get: (request) => get(store, request),
    list: (request) => list(store, request),
    generate: (request) => generate(store, random, request),
    // TODO: implement Find, Delete, Validate and GenerateStream.
    find: () => unimplemented("Find"),
    delete: () => unimplemented("Delete"),
    validate: () => unimplemented("Validate"),
    // eslint-disable-next-line require-yield
    generateStream: async function* () {
      unimplemented("GenerateStream");
    },
  };
}
