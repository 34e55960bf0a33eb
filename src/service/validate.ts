import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  ParsedPlateSchema,
  PlateViolationSchema,
  ValidateRequest,
  ValidateResponseSchema,
} from "../../gen/plates/v1/plate_service_pb.ts";
import { parsePlate, type PlateDetails } from "../plate/describe.ts";
import type { PlateError, PlateType } from "../plate/normalize.ts";
import { toEngineType, toProtoType } from "./plates.ts";

/**
 * Corrects and checks a number without storing it. An invalid number is a normal response with
 * `valid = false` and the violation. Unspecified and unknown preferred types are skipped.
 */
export function validate(request: ValidateRequest): MessageInitShape<typeof ValidateResponseSchema> {
  const preferredTypes: PlateType[] = [];
  for (const type of request.preferredTypes) {
    const engineType = toEngineType(type);
    if (engineType !== undefined) {
      preferredTypes.push(engineType);
    }
  }

  const result = parsePlate(request.number, { preferredTypes });
  if (!result.ok) {
    return { valid: false, violation: toViolation(result.error) };
  }
  return { valid: true, plate: toParsedPlate(result.plate) };
}

function toParsedPlate(plate: PlateDetails): MessageInitShape<typeof ParsedPlateSchema> {
  return {
    number: plate.number,
    displayNumber: plate.displayNumber,
    latinNumber: plate.latinNumber,
    type: toProtoType(plate.type),
    series: plate.series,
    serialNumber: plate.serialNumber,
    regionCode: plate.regionCode,
    regionName: plate.regionName,
    regionNameEn: plate.regionNameEn,
  };
}

function toViolation(error: PlateError): MessageInitShape<typeof PlateViolationSchema> {
  return {
    reason: error.reason,
    message: error.message,
    messageRu: error.messageRu,
    position: error.position,
    character: error.character ?? "",
    mask: error.mask ?? "",
  };
}
