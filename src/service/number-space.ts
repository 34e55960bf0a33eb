import { Code, ConnectError } from "@connectrpc/connect";
import { PlateType } from "../../gen/plates/v1/plate_service_pb.ts";
import { checkSeries, generatableTypes, numberSpaceSize, randomPlateNumber, regionCodesFor } from "../plate/generate.ts";
import { normalizePlate } from "../plate/normalize.ts";
import type { PlateType as EnginePlateType } from "../plate/patterns.ts";
import type { NewPlate, NumberSpace } from "../store/plate-store.ts";
import { toEngineType } from "./plates.ts";
import type { RandomPermutation } from "./random-permutation.ts";

/** The numbers a Generate or GenerateStream request draws from. */
export interface ResolvedSpace extends NumberSpace {
  type: EnginePlateType;
  /** Canonical letters of the series (Latin twins and lower case corrected), or absent for any series. */
  series?: string;
  /** Count of numbers in each region. */
  sizePerRegion: number;
  /** Count of numbers in all regions together. */
  size: number;
  /** Numbering of the numbers of one region, by the length of the region code. */
  numberings: ReadonlyMap<number, Numbering>;
}

/** Fields that Generate and GenerateStream requests share. */
export interface SpaceRequest {
  type: PlateType;
  regionCodes: readonly string[];
  series: string;
}

/**
 * Checks the type, region codes and series of a request and describes the
 * numbers it draws from. Throws INVALID_ARGUMENT for an invalid field.
 */
export function resolveNumberSpace(request: SpaceRequest): ResolvedSpace {
  const type = resolveType(request.type);
  const allowedCodes = regionCodesFor(type);
  const regionCodes = request.regionCodes.length === 0 ? [...allowedCodes] : [...new Set(request.regionCodes)];
  const allowed = new Set(allowedCodes);
  for (const code of regionCodes) {
    if (!allowed.has(code)) {
      throw new ConnectError(
        `invalid region_codes: ${JSON.stringify(code)} is not a region code of PLATE_TYPE_${type} plates; leave region_codes empty to draw from all of them`,
        Code.InvalidArgument,
      );
    }
  }

  const typedSeries = request.series === "" ? undefined : request.series;
  if (typedSeries !== undefined) {
    const problem = checkSeries(type, typedSeries);
    if (problem !== undefined) {
      throw new ConnectError(problem, Code.InvalidArgument);
    }
  }

  const sizePerRegion = numberSpaceSize(type, typedSeries);
  const numberings = new Map<number, Numbering>();
  for (const code of regionCodes) {
    if (!numberings.has(code.length)) {
      numberings.set(code.length, new Numbering(type, code, typedSeries, sizePerRegion));
    }
  }

  // The engine corrects the typed series, so the letters of any number drawn
  // with it are the canonical series, which the store compares with.
  const firstCode = regionCodes[0];
  const series =
    typedSeries === undefined || firstCode === undefined
      ? undefined
      : lettersOf(randomPlateNumber(type, firstCode, () => 0, typedSeries));

  return { type, regionCodes, series, sizePerRegion, size: sizePerRegion * regionCodes.length, numberings };
}

function resolveType(type: PlateType): EnginePlateType {
  if (type === PlateType.UNSPECIFIED) {
    return "CAR";
  }
  const name = toEngineType(type) as EnginePlateType | undefined;
  if (name === undefined || !generatableTypes.includes(name)) {
    const expected = generatableTypes.map((generatable) => `PLATE_TYPE_${generatable}`).join(", ");
    const requested = PlateType[type] === undefined ? String(type) : `PLATE_TYPE_${PlateType[type]}`;
    throw new ConnectError(`invalid type ${requested}: expected one of ${expected}`, Code.InvalidArgument);
  }
  return name;
}

function lettersOf(number: string): string {
  return number.replace(/[0-9]/g, "");
}

/**
 * Returns the number at `index` (0 .. space.size - 1) of the space. Each
 * index gives another number, and index i is in region i mod (count of
 * regions).
 */
export function numberAt(space: ResolvedSpace, index: number): NewPlate {
  const regionCount = space.regionCodes.length;
  const regionCode = space.regionCodes[index % regionCount] ?? "";
  const numbering = space.numberings.get(regionCode.length);
  if (numbering === undefined) {
    throw new RangeError(`no numbering for region code ${regionCode}`);
  }
  const number = numbering.numberAt(regionCode, Math.floor(index / regionCount));
  return { number, type: space.type, regionCode };
}

/**
 * Returns the numbers at the next indexes of `order` that the engine reads
 * back as themselves, up to `count` of them, or fewer when the order runs out.
 *
 * NOTE: the engine draws some numbers that it reads as another number, such
 * as the tractor number 0001АА01, which reads as the car number О001АА01.
 * Once stored, Find and Add would not see them, so they are skipped here. The
 * space size still counts them, so a count of free numbers can be too high by
 * that many.
 */
export function drawNumbers(space: ResolvedSpace, order: RandomPermutation, count: number): NewPlate[] {
  const numbers: NewPlate[] = [];
  while (numbers.length < count) {
    const index = order.next();
    if (index === undefined) {
      break;
    }
    const plate = numberAt(space, index);
    const reading = normalizePlate(plate.number);
    if (reading.ok && reading.plate.number === plate.number) {
      numbers.push(plate);
    }
  }
  return numbers;
}

/** Range [start, end) of first draws for which the engine picks one pattern. */
interface PatternRange {
  start: number;
  end: number;
}

/**
 * One-to-one map from 0 .. sizePerRegion - 1 to the numbers of one region,
 * built on the engine's random draw.
 *
 * randomPlateNumber makes each choice with one randomInt(n) call: a letter,
 * a group of digits, and, when several patterns fit, first a pattern with a
 * weight equal to its count of numbers. Feeding it the digits of an index in
 * the mixed radix of those calls, in place of random values, gives each index
 * its own number. When the first call picks among patterns, it receives the
 * whole index, and the calls after it receive the offset of the index within
 * the range of that pattern. The constructor checks that the radices fit the
 * size of the space and throws otherwise, so a change in how the engine draws
 * fails loudly instead of repeating numbers.
 */
export class Numbering {
  // Ranges of the pattern pick, or undefined when the first call is an
  // ordinary choice (one pattern only).
  private readonly ranges: readonly PatternRange[] | undefined;

  constructor(
    private readonly type: EnginePlateType,
    sampleRegionCode: string,
    private readonly series: string | undefined,
    private readonly size: number,
  ) {
    const radices = this.radicesAt(sampleRegionCode, 0);
    const product = radices.reduce((total, radix) => total * radix, 1);
    if (product === size) {
      this.ranges = undefined;
      return;
    }
    if (radices[0] !== size) {
      throw new Error(
        `cannot number ${type} plates: the engine's draws cover ${product} choices, but the space contains ${size} numbers`,
      );
    }
    this.ranges = this.findPatternRanges(sampleRegionCode);
    for (const range of this.ranges) {
      const offsets = this.radicesAt(sampleRegionCode, range.start).slice(1).reduce((total, radix) => total * radix, 1);
      if (offsets !== range.end - range.start) {
        throw new Error(
          `cannot number ${type} plates: a pattern picked for ${range.end - range.start} first draws contains ${offsets} numbers`,
        );
      }
    }
  }

  /** Returns the number at `index` (0 .. size - 1) in the region. */
  numberAt(regionCode: string, index: number): string {
    let rest = index;
    let first = this.ranges !== undefined;
    if (this.ranges !== undefined) {
      const range = this.ranges.find((candidate) => index < candidate.end) ?? this.ranges[0];
      rest = index - (range?.start ?? 0);
    }
    return randomPlateNumber(
      this.type,
      regionCode,
      (radix) => {
        if (first) {
          first = false;
          return index;
        }
        const digit = rest % radix;
        rest = Math.floor(rest / radix);
        return digit;
      },
      this.series,
    );
  }

  /** Returns the radices of the engine's calls when its first call returns `firstDraw` and every later one 0. */
  private radicesAt(regionCode: string, firstDraw: number): number[] {
    const radices: number[] = [];
    this.drawShape(regionCode, firstDraw, radices);
    return radices;
  }

  // Returns the shape of the number drawn with the first call returning
  // `firstDraw` and every later one 0, with digits as 9 and letters kept.
  // Patterns of one type differ in their shapes.
  private drawShape(regionCode: string, firstDraw: number, radices: number[] = []): string {
    const number = randomPlateNumber(
      this.type,
      regionCode,
      (radix) => {
        radices.push(radix);
        return radices.length === 1 ? firstDraw : 0;
      },
      this.series,
    );
    return number.replace(/[0-9]/g, "9");
  }

  // The engine gives each pattern a contiguous range of first draws, so a
  // binary search for the first draw of another shape finds each range's end.
  private findPatternRanges(regionCode: string): PatternRange[] {
    const ranges: PatternRange[] = [];
    let start = 0;
    while (start < this.size) {
      const shape = this.drawShape(regionCode, start);
      let low = start + 1;
      let high = this.size;
      while (low < high) {
        const middle = Math.floor((low + high) / 2);
        if (this.drawShape(regionCode, middle) === shape) {
          low = middle + 1;
        } else {
          high = middle;
        }
      }
      ranges.push({ start, end: low });
      start = low;
    }
    return ranges;
  }
}
