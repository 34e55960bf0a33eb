import { fixedLetterBySlot, patternsOf, plateTypes, type PlatePattern, type PlateType } from "./patterns.ts";
import { currentRegionCodes } from "./regions.ts";
import { isDigit, LATIN_D, plateLetters, symbolTable, WHITESPACE } from "./symbols.ts";

/** Source of random integers in [0, maxExclusive). */
type RandomInt = (maxExclusive: number) => number;

/** Types that Generate can produce: every type the engine reads. */
export const generatableTypes: readonly PlateType[] = plateTypes;

/**
 * Codes of diplomatic missions that generated DIPLOMATIC numbers carry: 001–170 for states,
 * 499–567 for international organisations and 900 for consulates headed by honorary consuls.
 * NOTE: these ranges come from an unofficial list, so the engine accepts any code but 000 on
 * input and draws generated numbers only from these ranges.
 */
export const diplomaticMissionCodes: readonly string[] = Object.freeze([
  ...codeRange(1, 170),
  ...codeRange(499, 567),
  "900",
]);

/** Codes of military formations: the engine accepts any 2-digit code except 00 on military plates. */
const formationCodes: readonly string[] = Object.freeze(codeRange(1, 99).map((code) => code.slice(1)));

const regionCodesByType = new Map<PlateType, readonly string[]>(
  plateTypes.map((type) => [type, Object.freeze(computeRegionCodes(type))]),
);
const regionCodeSetsByType = new Map<PlateType, ReadonlySet<string>>(
  plateTypes.map((type) => [type, new Set(regionCodesByType.get(type))]),
);

/**
 * Returns the region codes that generated numbers of `type` carry: the directory's current codes
 * of the lengths the type's patterns allow, or every formation code 01–99 for the military types.
 * The retired code 20 validates but is left out, because no new plate carries it.
 */
export function regionCodesFor(type: PlateType): readonly string[] {
  return regionCodesByType.get(type) ?? [];
}

/**
 * Returns an error message when `series` is not a valid series of `type`, else undefined.
 *
 * A series is the plate's letters in reading order, such as "АВС" for the car number А123ВС77,
 * "D" or "CD" for diplomatic numbers. Latin twins and lower case are accepted, as in numbers.
 * The empty string is not a series.
 */
export function checkSeries(type: PlateType, series: string): string | undefined {
  const letters = canonicalSeries(series);
  if (letters === undefined || letters === "") {
    return `invalid series ${JSON.stringify(series)}: use only the plate letters ${plateLetters}, or D on diplomatic plates`;
  }
  if (matchingPatterns(type, letters).length === 0) {
    const examples = [...new Set(patternsOf(type).map(exampleSeries))].join(" or ");
    return `invalid series ${JSON.stringify(series)} for ${type} plates: expected letters like ${examples}`;
  }
  return undefined;
}

/**
 * Returns the count of distinct numbers of `type` that randomPlateNumber can build for one region
 * code, and of one series when `series` is given and not empty. That is every valid number of the
 * type, except for DIPLOMATIC, whose mission codes are drawn from diplomaticMissionCodes only.
 * Throws a RangeError for an invalid series.
 */
export function numberSpaceSize(type: PlateType, series?: string): number {
  const letters = requireSeries(type, series);
  // Patterns that differ only in the length of the region code give the same count per code.
  const bodies = new Map<string, PlatePattern>();
  for (const pattern of matchingPatterns(type, letters)) {
    bodies.set(pattern.pattern.replace(/[RF]/g, ""), pattern);
  }
  let size = 0;
  for (const pattern of bodies.values()) {
    size += countNumbers(pattern, letters);
  }
  return size;
}

/**
 * Returns a random valid number of `type` in `regionCode` in canonical form, of one series when
 * `series` is given and not empty. Each distinct number is equally likely.
 *
 * `randomInt(maxExclusive)` must return an integer in [0, maxExclusive); pass `crypto.randomInt`
 * in production and a seeded function in tests. Throws a RangeError for a region code not in
 * regionCodesFor(type), an invalid series, or a random value out of range.
 */
export function randomPlateNumber(type: PlateType, regionCode: string, randomInt: RandomInt, series?: string): string {
  if (!(regionCodeSetsByType.get(type)?.has(regionCode) ?? false)) {
    throw new RangeError(
      `cannot generate a ${type} number in region ${JSON.stringify(regionCode)}: the code is not one that ${type} plates carry`,
    );
  }
  const letters = requireSeries(type, series);
  const patterns = matchingPatterns(type, letters).filter((pattern) => regionLength(pattern) === regionCode.length);
  const pattern = pickPattern(patterns, letters, randomInt);
  if (pattern === undefined) {
    throw new RangeError(`cannot generate a ${type} number in region ${regionCode} of series ${JSON.stringify(series)}`);
  }
  return fillPattern(pattern.pattern, regionCode, letters, randomInt);
}

/**
 * Builds a random type 1 car plate number in canonical form, such as "А123ВС77": one plate
 * letter, a registration number from 001 to 999 (000 is not issued), two plate letters and a
 * region code with status current.
 *
 * `randomInt(maxExclusive)` must return an integer in [0, maxExclusive); pass `crypto.randomInt`
 * in production and a seeded function in tests. Throws a RangeError when it returns anything else.
 */
export function randomCarNumber(randomInt: RandomInt): string {
  const series = [pickLetter(randomInt), pickLetter(randomInt), pickLetter(randomInt)];
  const registrationNumber = String(pickIndex(randomInt, 999) + 1).padStart(3, "0");
  const regionCode = currentRegionCodes[pickIndex(randomInt, currentRegionCodes.length)];
  if (regionCode === undefined) {
    throw new RangeError("cannot generate a plate number: the region directory has no current code");
  }

  return `${series[0]}${registrationNumber}${series[1]}${series[2]}${regionCode}`;
}

function computeRegionCodes(type: PlateType): string[] {
  const patterns = patternsOf(type);
  if (patterns.some((pattern) => pattern.pattern.includes("F"))) {
    return [...formationCodes];
  }
  const lengths = new Set(patterns.map(regionLength));
  return currentRegionCodes.filter((code) => lengths.has(code.length));
}

function regionLength(pattern: PlatePattern): number {
  let length = 0;
  for (const slot of pattern.pattern) {
    if (slot === "R" || slot === "F") {
      length++;
    }
  }
  return length;
}

/** Maps a typed series to canonical letters, or returns undefined when it contains a non-letter. */
function canonicalSeries(series: string): string | undefined {
  let letters = "";
  for (let index = 0; index < series.length; index++) {
    const symbol = symbolTable[series.charCodeAt(index)] ?? 0;
    if (symbol === WHITESPACE) {
      continue;
    }
    if (symbol !== LATIN_D && (symbol < 0x400 || isDigit(symbol))) {
      return undefined;
    }
    letters += String.fromCharCode(symbol);
  }
  return letters;
}

/** Returns the canonical series, undefined for none, or throws a RangeError for an invalid one. */
function requireSeries(type: PlateType, series: string | undefined): string | undefined {
  if (series === undefined || series === "") {
    return undefined;
  }
  const message = checkSeries(type, series);
  if (message !== undefined) {
    throw new RangeError(message);
  }
  return canonicalSeries(series);
}

/** Letter slots of a pattern (L, c, d, t) in reading order. */
function letterSlots(pattern: PlatePattern): string {
  return pattern.pattern.replace(/[NKRF]/g, "");
}

function matchingPatterns(type: PlateType, letters: string | undefined): PlatePattern[] {
  return patternsOf(type).filter((pattern) => letters === undefined || seriesFits(letterSlots(pattern), letters));
}

function seriesFits(slots: string, letters: string): boolean {
  if (slots.length !== letters.length) {
    return false;
  }
  for (let index = 0; index < slots.length; index++) {
    const slot = slots.charAt(index);
    const letter = letters.charAt(index);
    const fixed = fixedLetterBySlot[slot];
    if (fixed !== undefined ? letter !== fixed : letter === "D") {
      return false;
    }
  }
  return true;
}

function exampleSeries(pattern: PlatePattern): string {
  const examples = "АВСЕКМ";
  let index = 0;
  return Array.from(letterSlots(pattern), (slot) => fixedLetterBySlot[slot] ?? examples.charAt(index++)).join("");
}

function countNumbers(pattern: PlatePattern, letters: string | undefined): number {
  let count = 1;
  for (const group of pattern.pattern.match(/L|N+|K+/g) ?? []) {
    if (group === "L") {
      count *= letters === undefined ? plateLetters.length : 1;
    } else if (group.startsWith("N")) {
      // Every digit group except the one of zeros only.
      count *= 10 ** group.length - 1;
    } else {
      count *= diplomaticMissionCodes.length;
    }
  }
  return count;
}

/** Picks one of the patterns with a probability proportional to its count of numbers. */
function pickPattern(
  patterns: readonly PlatePattern[],
  letters: string | undefined,
  randomInt: RandomInt,
): PlatePattern | undefined {
  if (patterns.length <= 1) {
    return patterns[0];
  }
  const counts = patterns.map((pattern) => countNumbers(pattern, letters));
  let drawn = pickIndex(randomInt, counts.reduce((sum, count) => sum + count, 0));
  for (let index = 0; index < patterns.length; index++) {
    const count = counts[index] ?? 0;
    if (drawn < count) {
      return patterns[index];
    }
    drawn -= count;
  }
  return patterns.at(-1);
}

function fillPattern(pattern: string, regionCode: string, letters: string | undefined, randomInt: RandomInt): string {
  let number = "";
  let letterIndex = 0;
  let position = 0;
  while (position < pattern.length) {
    const slot = pattern.charAt(position);
    if (slot === "R" || slot === "F") {
      return number + regionCode;
    }

    let end = position + 1;
    if (slot === "N" || slot === "K") {
      while (pattern.charAt(end) === slot) {
        end++;
      }
    }
    const digits = end - position;
    if (slot === "N") {
      number += String(pickIndex(randomInt, 10 ** digits - 1) + 1).padStart(digits, "0");
    } else if (slot === "K") {
      number += diplomaticMissionCodes[pickIndex(randomInt, diplomaticMissionCodes.length)] ?? "";
    } else {
      const fixed = fixedLetterBySlot[slot];
      number += letters?.charAt(letterIndex) ?? fixed ?? pickLetter(randomInt);
      letterIndex++;
    }
    position = end;
  }
  return number + regionCode;
}

function pickLetter(randomInt: RandomInt): string {
  return plateLetters.charAt(pickIndex(randomInt, plateLetters.length));
}

function pickIndex(randomInt: RandomInt, maxExclusive: number): number {
  const value = randomInt(maxExclusive);
  if (!Number.isInteger(value) || value < 0 || value >= maxExclusive) {
    throw new RangeError(
      `invalid random value ${value}: randomInt(${maxExclusive}) must return an integer from 0 to ${maxExclusive - 1}`,
    );
  }
  return value;
}

function codeRange(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, index) => String(first + index).padStart(3, "0"));
}
