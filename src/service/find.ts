import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { FindRequest, FindResponseSchema } from "../../gen/plates/v1/plate_service_pb.ts";
import { normalizePlate } from "../plate/normalize.ts";
import type { PlateStore } from "../store/plate-store.ts";
import { invalidNumberError } from "./plate-errors.ts";
import { toPlate } from "./plates.ts";

/** Corrects a number the way Add does and returns the plate stored under it. */
export async function find(store: PlateStore, request: FindRequest): Promise<MessageInitShape<typeof FindResponseSchema>> {
  const result = normalizePlate(request.number);
  if (!result.ok) {
    throw invalidNumberError(request.number, result.error);
  }
  const { number } = result.plate;
  const record = await store.findByNumber(number);
  if (record === undefined) {
    throw new ConnectError(`plate ${number} not found`, Code.NotFound);
  }
  return { plate: toPlate(record) };
}
