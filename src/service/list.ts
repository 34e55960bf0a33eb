import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ListRequest, ListResponseSchema } from "../../gen/plates/v1/plate_service_pb.ts";
import type { PlateCursor, PlateRecord, PlateStore } from "../store/plate-store.ts";
import { isUuid, toPlate } from "./plates.ts";

/** Page size of List when the request gives none. */
export const defaultPageSize = 50;
/** Maximum page size of List; larger requests are served this many. */
export const maxPageSize = 1000;

/** Returns one page of stored plates, newest first. */
export async function list(store: PlateStore, request: ListRequest): Promise<MessageInitShape<typeof ListResponseSchema>> {
  if (request.pageSize < 0) {
    throw new ConnectError(`invalid page_size ${request.pageSize}: expected 0 or more`, Code.InvalidArgument);
  }
  const pageSize = Math.min(request.pageSize === 0 ? defaultPageSize : request.pageSize, maxPageSize);
  const after = request.pageToken === "" ? undefined : decodePageToken(request.pageToken);
  // One row more than the page shows whether another page follows.
  const records = await store.list({ limit: pageSize + 1, after });
  const page = records.slice(0, pageSize);
  const last = page.at(-1);
  const nextPageToken = records.length > pageSize && last !== undefined ? encodePageToken(last) : "";
  return { plates: page.map(toPlate), nextPageToken };
}

// A page token is the base64url JSON of [creation time in ms, id] of the last
// plate of the previous page. Clients must treat it as opaque.
function encodePageToken(record: PlateRecord): string {
  return Buffer.from(JSON.stringify([record.createTime.getTime(), record.id])).toString("base64url");
}

function decodePageToken(token: string): PlateCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    Number.isSafeInteger(parsed[0]) &&
    typeof parsed[1] === "string" &&
    isUuid(parsed[1])
  ) {
    return { createTime: new Date(parsed[0] as number), id: parsed[1] };
  }
  throw new ConnectError("invalid page_token: pass next_page_token of a previous response", Code.InvalidArgument);
}
