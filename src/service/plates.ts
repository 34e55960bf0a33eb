import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { PlateSchema, PlateType, type Plate } from "../../gen/plates/v1/plate_service_pb.ts";
import { plateRegion } from "../plate/describe.ts";
import type { PlateType as EnginePlateType } from "../plate/normalize.ts";
import type { PlateRecord } from "../store/plate-store.ts";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Returns whether a string is a UUID in the 8-4-4-4-12 hexadecimal form. */
export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}

/** Throws INVALID_ARGUMENT unless `id` is a UUID, before it reaches the database. */
export function requireUuid(id: string, field = "id"): void {
  if (!isUuid(id)) {
    throw new ConnectError(`invalid ${field} ${JSON.stringify(id)}: expected a UUID`, Code.InvalidArgument);
  }
}

/**
 * Maps the engine's type name ("CAR") to the protobuf enum. The engine names
 * are the enum value names without the PLATE_TYPE_ prefix.
 */
export function toProtoType(type: string): PlateType {
  const value = (PlateType as unknown as Record<string, PlateType | undefined>)[type];
  return value ?? PlateType.UNSPECIFIED;
}

/** Maps the protobuf enum to the engine's type name; undefined for UNSPECIFIED or unknown values. */
export function toEngineType(type: PlateType): EnginePlateType | undefined {
  if (type === PlateType.UNSPECIFIED) {
    return undefined;
  }
  return PlateType[type] as EnginePlateType | undefined;
}

/** Converts a stored record to the protobuf Plate. */
export function toPlate(record: PlateRecord): Plate {
  return create(PlateSchema, {
    id: record.id,
    number: record.number,
    createTime: timestampFromDate(record.createTime),
    type: toProtoType(record.type),
    regionCode: record.regionCode,
    regionName: plateRegion(record.type, record.regionCode)?.nameRu ?? "",
  });
}
