import { createHash } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { PlateType, type ListRequest, type ListResponseSchema } from "../../gen/plates/v1/plate_service_pb.ts";
import { findRegion } from "../plate/regions.ts";
import type { PlateCursor, PlateFilter, PlateRecord, PlateStore } from "../store/plate-store.ts";
import { isUuid, toEngineType, toPlate } from "./plates.ts";

/** Page size of List when the request gives none. */
export const defaultPageSize = 50;
/** Maximum page size of List; larger requests are served this many. */
export const maxPageSize = 1000;

/** Returns one page of stored plates that match the request's filters, newest first. */
export async function list(store: PlateStore, request: ListRequest): Promise<MessageInitShape<typeof ListResponseSchema>> {
  if (request.pageSize < 0) {
    throw new ConnectError(`invalid page_size ${request.pageSize}: expected 0 or more`, Code.InvalidArgument);
  }
  const pageSize = Math.min(request.pageSize === 0 ? defaultPageSize : request.pageSize, maxPageSize);
  const filter = readFilter(request);
  const fingerprint = filterFingerprint(filter);
  const after = request.pageToken === "" ? undefined : decodePageToken(request.pageToken, fingerprint);

  // One row more than the page shows whether another page follows.
  const records = await store.list({ limit: pageSize + 1, after, filter });
  const page = records.slice(0, pageSize);
  const last = page.at(-1);
  const nextPageToken = records.length > pageSize && last !== undefined ? encodePageToken(last, fingerprint) : "";
  return { plates: page.map(toPlate), nextPageToken };
}

function readFilter(request: ListRequest): PlateFilter {
  for (const code of request.regionCodes) {
    if (findRegion(code) === undefined) {
      throw new ConnectError(
        `invalid region_codes: unknown region code ${JSON.stringify(code)}; expected codes as printed, such as "77" or "177"`,
        Code.InvalidArgument,
      );
    }
  }

  const types = request.types.map((type) => {
    const name = type === PlateType.UNSPECIFIED ? undefined : toEngineType(type);
    if (name === undefined) {
      throw new ConnectError(
        `invalid types: ${describeType(type)} is not a plate type; list the types to match, or none to match every type`,
        Code.InvalidArgument,
      );
    }
    return name;
  });

  const createdFrom = request.createTimeFrom === undefined ? undefined : timestampToStoredPrecision(request.createTimeFrom);
  const createdBefore = request.createTimeTo === undefined ? undefined : timestampToStoredPrecision(request.createTimeTo);
  if (createdFrom !== undefined && createdBefore !== undefined && createdFrom > createdBefore) {
    throw new ConnectError(
      `invalid create time range: create_time_from ${createdFrom.toISOString()} is after create_time_to ${createdBefore.toISOString()}`,
      Code.InvalidArgument,
    );
  }

  return {
    regionCodes: [...new Set(request.regionCodes)].sort(),
    types: [...new Set(types)].sort(),
    createdFrom,
    createdBefore,
  };
}

function describeType(type: PlateType): string {
  const name = PlateType[type] as string | undefined;
  return name === undefined ? String(type) : `PLATE_TYPE_${name}`;
}

// Creation times are stored with millisecond precision. Rounding a bound up to
// the next millisecond keeps both comparisons exact: a stored time t (whole
// milliseconds) satisfies t >= x exactly when t >= ceil(x), and t < x exactly
// when t < ceil(x).
function timestampToStoredPrecision(timestamp: Timestamp): Date {
  return new Date(Number(timestamp.seconds) * 1000 + Math.ceil(timestamp.nanos / 1_000_000));
}

// Short digest of the filters, carried in page tokens so that a token passed
// with other filters is rejected instead of returning a page of another list.
function filterFingerprint(filter: PlateFilter): string {
  const canonical = JSON.stringify([
    filter.regionCodes ?? [],
    filter.types ?? [],
    filter.createdFrom?.getTime() ?? null,
    filter.createdBefore?.getTime() ?? null,
  ]);
  return createHash("sha256").update(canonical).digest("base64url").slice(0, 12);
}

// A page token is the base64url JSON of [creation time in ms, id, filter
// fingerprint] of the last plate of the previous page. Clients must treat it
// as opaque.
function encodePageToken(record: PlateRecord, fingerprint: string): string {
  return Buffer.from(JSON.stringify([record.createTime.getTime(), record.id, fingerprint])).toString("base64url");
}

function decodePageToken(token: string, fingerprint: string): PlateCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== "string" ||
    !isUuid(parsed[1]) ||
    typeof parsed[2] !== "string"
  ) {
    throw new ConnectError("invalid page_token: pass next_page_token of a previous response", Code.InvalidArgument);
  }
  if (parsed[2] !== fingerprint) {
    throw new ConnectError(
      "invalid page_token: it belongs to a list with other filters; pass the same filters as in the first request",
      Code.InvalidArgument,
    );
  }
  return { createTime: new Date(parsed[0] as number), id: parsed[1] };
}
