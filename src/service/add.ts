import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AddRequest, AddResponseSchema } from "../../gen/plates/v1/plate_service_pb.ts";
import { normalizePlate } from "../plate/normalize.ts";
import type { PlateStore } from "../store/plate-store.ts";
import { invalidNumberError } from "./plate-errors.ts";
import { toPlate } from "./plates.ts";

/** Corrects, checks and stores a number. */
export async function add(store: PlateStore, request: AddRequest): Promise<MessageInitShape<typeof AddResponseSchema>> {
  const result = normalizePlate(request.number);
  if (!result.ok) {
    throw invalidNumberError(request.number, result.error);
  }
  const { number, type, regionCode } = result.plate;
  const record = await store.add({ number, type, regionCode });
  if (record === undefined) {
    throw new ConnectError(`plate ${number} already exists`, Code.AlreadyExists);
  }
  return { plate: toPlate(record) };
}
