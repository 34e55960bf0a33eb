import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { GetRequest, GetResponseSchema } from "../../gen/plates/v1/plate_service_pb.ts";
import type { PlateStore } from "../store/plate-store.ts";
import { requireUuid, toPlate } from "./plates.ts";

/** Returns the plate stored under an id. */
export async function get(store: PlateStore, request: GetRequest): Promise<MessageInitShape<typeof GetResponseSchema>> {
  requireUuid(request.id);
  const record = await store.get(request.id);
  if (record === undefined) {
    throw new ConnectError(`plate ${request.id} not found`, Code.NotFound);
  }
  return { plate: toPlate(record) };
}
