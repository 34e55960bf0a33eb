import { layoutOfNumber, layouts } from "./layouts.ts";
import { normalizePlate, type NormalizedPlate, type NormalizeOptions, type PlateError, type PlateType } from "./normalize.ts";
import { findRegion, type Region } from "./regions.ts";
import { latinTwins, plateLetters } from "./symbols.ts";

/** A valid plate number taken apart, with the forms people and other systems use. */
export interface PlateDetails extends NormalizedPlate {
  /** The canonical number with the region apart, as printed: "А123ВС 77". */
  displayNumber: string;
  /** The canonical number with each Cyrillic letter replaced by its Latin twin: "A123BC77". */
  latinNumber: string;
  /** Letters of the number in reading order: "АВС" for А123ВС77, "D" for 004D12377. */
  series: string;
  /** Digits of the registration number: "123" for А123ВС77, "1234" for АВ123477. */
  serialNumber: string;
  /** DIPLOMATIC only: the 3-digit code of the mission or organisation, else "". */
  missionCode: string;
  /** Type in GOST R 50577-2018, for example "1", "1Б" or "5, 7, 8". */
  gostType: string;
  /** Name of the federal subject of the region code in Russian, or "" for military formation codes. */
  regionName: string;
  /** Name of the federal subject of the region code in English, or "" for military formation codes. */
  regionNameEn: string;
}

/** Outcome of parsePlate: the plate taken apart, or the reason the input was rejected. */
export type ParseResult = { ok: true; plate: PlateDetails } | { ok: false; error: PlateError };

const latinByCyrillic = new Map(Array.from(plateLetters, (letter, index) => [letter, latinTwins.charAt(index)]));

/** Types that carry a military formation code where other plates carry the region. */
const formationCodeTypes: ReadonlySet<string> = new Set(layouts.filter((layout) => layout.formationCode).map((layout) => layout.type));

/**
 * Looks up the region that the code of a plate of `type` names. Returns undefined for the
 * military types, whose code names a formation and not a region, and for codes not in the
 * directory.
 */
export function plateRegion(type: PlateType | string, regionCode: string): Region | undefined {
  return formationCodeTypes.has(type) ? undefined : findRegion(regionCode);
}

/** Corrects and checks a typed number as normalizePlate does, and takes a valid one apart. */
export function parsePlate(input: string, options?: NormalizeOptions): ParseResult {
  const result = normalizePlate(input, options);
  return result.ok ? { ok: true, plate: describePlate(result.plate) } : result;
}

/**
 * Takes apart a plate that normalizePlate returned. Throws a RangeError when the number fits no
 * pattern of its type, which a result of normalizePlate always fits.
 */
export function describePlate(plate: NormalizedPlate): PlateDetails {
  const { number, type, regionCode } = plate;
  const layout = layoutOfNumber(type, number);
  if (layout === undefined) {
    throw new RangeError(`invalid plate ${number}: it fits no pattern of type ${type}`);
  }

  let series = "";
  for (let position = 0; position < layout.regionStart; position++) {
    const character = number.charAt(position);
    if (character < "0" || character > "9") {
      series += character;
    }
  }
  const region = plateRegion(type, regionCode);

  return {
    number,
    type,
    regionCode,
    displayNumber: `${number.slice(0, layout.regionStart)} ${regionCode}`,
    latinNumber: Array.from(number, (character) => latinByCyrillic.get(character) ?? character).join(""),
    series,
    serialNumber: number.slice(layout.numberStart, layout.numberEnd),
    missionCode: number.slice(0, layout.missionEnd),
    gostType: layout.gostType,
    regionName: region?.nameRu ?? "",
    regionNameEn: region?.nameEn ?? "",
  };
}
