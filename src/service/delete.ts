import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { DeleteRequest, DeleteResponseSchema } from "../../gen/plates/v1/plate_service_pb.ts";
import type { PlateStore } from "../store/plate-store.ts";
import { requireUuid } from "./plates.ts";

/** Deletes the plate stored under an id, so that its number can be added again. */
export async function deletePlate(
  store: PlateStore,
  request: DeleteRequest,
): Promise<MessageInitShape<typeof DeleteResponseSchema>> {
  requireUuid(request.id);
  const deleted = await store.delete(request.id);
  if (!deleted) {
    throw new ConnectError(`plate ${request.id} not found`, Code.NotFound);
  }
  return {};
}
