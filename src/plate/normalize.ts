import { MAX_PLATE_LENGTH, layoutsByLength, orderedLayouts, type Layout } from "./layouts.ts";
import type { PlateType } from "./patterns.ts";
import { regions } from "./regions.ts";
import {
  DIGIT_ZERO,
  INVALID,
  isDigit,
  LATIN_D,
  LETTER_O,
  lookalikeDigit,
  LOOKALIKE_ONE,
  LOOKALIKE_THREE,
  plateLetters,
  SEPARATOR,
  symbolTable,
  WHITESPACE,
} from "./symbols.ts";

export type { PlateType } from "./patterns.ts";
export { platePatterns, plateTypes } from "./patterns.ts";
export { plateLetters } from "./symbols.ts";

/** Machine-readable cause of a rejected plate number. Clients branch on it, so the values are stable. */
export type PlateErrorReason =
  /** Nothing but whitespace and separators, or nothing at all. */
  | "EMPTY"
  /**
   * A character that is no plate symbol or lookalike of one, a separator that does not stand
   * between two groups, or З or I where the plate has a letter.
   */
  | "INVALID_CHARACTER"
  /** The sequence of letters and digits fits no supported pattern. */
  | "INVALID_FORMAT"
  /** The registration number (such as 000), the mission code or the region code consists of zeros only. */
  | "ZERO_SEQUENCE"
  /** A 3-digit region code starts with 0, which no region code does. */
  | "REGION_LEADING_ZERO"
  /** The region code is not in the region directory. */
  | "UNKNOWN_REGION";

/** Error for an input that is not a valid plate number, with messages for logs and for end users. */
export interface PlateError {
  reason: PlateErrorReason;
  /** English message that names the rejected value. */
  message: string;
  /** Russian message for end users, in which positions count from 1. */
  messageRu: string;
  /**
   * INVALID_CHARACTER only: 0-based index of the rejected character in the original input.
   * Every character before it is a single UTF-16 code unit, so this is both the string index and
   * the code point index.
   */
  position?: number;
  /** INVALID_CHARACTER only: the rejected character as typed, a whole code point. */
  character?: string;
  /**
   * INVALID_FORMAT only: shape of the input after clean-up, with X for a letter, 9 for a digit and
   * * for 0 or О, which could be either. Example: "X9*9XX9". Cut to 18 symbols and "…" for longer
   * input.
   */
  mask?: string;
  /** ZERO_SEQUENCE, REGION_LEADING_ZERO and UNKNOWN_REGION: the reading that broke the rule. */
  number?: string;
  /** ZERO_SEQUENCE, REGION_LEADING_ZERO and UNKNOWN_REGION: the type of that reading. */
  type?: PlateType;
}

/** A plate number that passed every check. */
export interface NormalizedPlate {
  /**
   * Canonical form: Cyrillic capital letters and digits, no spaces, for example "А123ВС77". The
   * one exception is the letter D of diplomatic plates, which has no Cyrillic twin and stays Latin.
   */
  number: string;
  type: PlateType;
  /**
   * Region code as printed, for example "77" or "177", always one from the region directory. For
   * military types, the formation code printed in its place.
   */
  regionCode: string;
}

/** Outcome of normalizePlate: the plate, or the reason the input was rejected. */
export type NormalizeResult = { ok: true; plate: NormalizedPlate } | { ok: false; error: PlateError };

/** Options of normalizePlate. */
export interface NormalizeOptions {
  /**
   * Types to try first, in this order, when the input fits several patterns. The fixed order of
   * plateTypes follows for the others.
   */
  preferredTypes?: readonly PlateType[];
}

/** Flags (1) for the directory's region codes, indexed by regionKey() so the hot path builds no strings. */
const knownRegionKeys = buildRegionKeys();

// Scratch state of one call. Sharing it is safe because every call is synchronous and none calls
// another, and each worker thread loads its own copy of this module.
/** Cleaned symbols: table values of the plate characters, lookalikes still unresolved. */
const symbols = new Uint16Array(MAX_PLATE_LENGTH);
/** Input index of each symbol that is a lookalike (З or I), for errors. */
const lookalikeIndex = new Int32Array(MAX_PLATE_LENGTH);
/** Input index of the first separator before symbol k (k = length: after the last symbol). */
const separatorIndex = new Int32Array(MAX_PLATE_LENGTH + 1);
/** Char codes of the chosen reading. */
const resolved = new Uint16Array(MAX_PLATE_LENGTH);

type RuleFailure = "ZERO_MISSION" | "ZERO_NUMBER" | "ZERO_REGION" | "REGION_LEADING_ZERO" | "UNKNOWN_REGION";

const noPreferredTypes: readonly PlateType[] = [];

// Masks of the last scan, with bit k for symbol k: symbols that can be read as a digit, as one of
// the 12 letters, lookalikes (З, I), and separators before symbol k.
let digitCapable = 0;
let letterCapable = 0;
let lookalikes = 0;
let separators = 0;

/**
 * Cleans up a typed plate number, reads it as one of the plate types and checks it.
 *
 * Clean-up drops every whitespace character (those JavaScript's `\s` matches) and a trailing
 * `RUS` or `РУС` after the region, upper-cases, and maps the 12 Latin letters shaped like plate
 * letters to their Cyrillic twins. Hyphens, dashes, dots and underscores are dropped where they
 * stand between two groups of the reading (А-123-ВС-77), and a reading with one elsewhere does
 * not fit. Each digit 0 or letter О becomes the letter О at a letter position of the pattern and
 * the digit 0 at a digit position. Cyrillic З and Latin I become 3 and 1 only when the most
 * preferred pattern that the input fits, with them counted as either letter or digit, has a
 * digit at their position. Otherwise they are rejected, so З123ВС77 is not read as a tractor.
 *
 * Readings are tried in the order of `options.preferredTypes` and then of plateTypes, and the
 * first one that passes every rule wins, so the result depends on nothing but the input and the
 * options. The rules: no digit group made only of zeros, no 3-digit region code starting with 0,
 * and a region code in the region directory (military formation codes: any but 00). When the
 * input fits a pattern but no reading passes, the error is that of the most preferred reading.
 */
export function normalizePlate(input: string, options?: NormalizeOptions): NormalizeResult {
  const end = endBeforeRus(input);
  const length = scan(input, end);
  if (length < 0) {
    return invalidCharacter(input, -length - 1);
  }
  if (length === 0) {
    return fail("EMPTY", "plate number is empty", "Номер не указан");
  }
  if (length > MAX_PLATE_LENGTH) {
    return invalidFormat(input, end);
  }

  const preferredTypes = options?.preferredTypes ?? noPreferredTypes;
  const order = preferredTypes.length === 0 ? (layoutsByLength[length] ?? []) : orderedLayouts(length, preferredTypes);
  if (lookalikes !== 0) {
    const misread = misreadLookalike(order);
    if (misread !== undefined) {
      return lookalikeAsLetter(input, misread);
    }
  }

  let firstFit: Layout | undefined;
  let firstFailure: RuleFailure | undefined;
  let firstShapeFit: Layout | undefined;
  for (const layout of order) {
    if (!fitsSymbols(layout, digitCapable, letterCapable)) {
      continue;
    }
    if ((separators & ~layout.boundaryMask) !== 0) {
      firstShapeFit ??= layout;
      continue;
    }
    const failure = checkRules(layout);
    if (failure === undefined) {
      return accept(layout);
    }
    if (firstFit === undefined) {
      firstFit = layout;
      firstFailure = failure;
    }
  }

  if (firstFit !== undefined && firstFailure !== undefined) {
    return ruleError(firstFit, firstFailure);
  }
  if (firstShapeFit !== undefined) {
    return misplacedSeparator(input, lowestBit(separators & ~firstShapeFit.boundaryMask));
  }
  return invalidFormat(input, end);
}

/**
 * Returns every valid reading of a typed number, most preferred first: the one normalizePlate
 * returns, then the others that pass every rule, such as the MOTORCYCLE and MILITARY readings of
 * a TRACTOR number. Returns an empty array when normalizePlate rejects the input.
 */
export function plateReadings(input: string, options?: NormalizeOptions): NormalizedPlate[] {
  const length = scan(input, endBeforeRus(input));
  if (length <= 0 || length > MAX_PLATE_LENGTH) {
    return [];
  }
  const order = orderedLayouts(length, options?.preferredTypes ?? noPreferredTypes);
  if (lookalikes !== 0 && misreadLookalike(order) !== undefined) {
    return [];
  }

  const readings: NormalizedPlate[] = [];
  for (const layout of order) {
    const fits = fitsSymbols(layout, digitCapable, letterCapable) && (separators & ~layout.boundaryMask) === 0;
    if (!fits || checkRules(layout) !== undefined) {
      continue;
    }
    const reading = accept(layout);
    if (reading.ok && !readings.some((known) => known.number === reading.plate.number && known.type === reading.plate.type)) {
      readings.push(reading.plate);
    }
  }
  return readings;
}

/**
 * Reads input[0, end) into `symbols` and the scan masks. Returns the count of plate symbols
 * (counting on past MAX_PLATE_LENGTH without storing them), or -(index + 1) for the first
 * character that is no plate symbol, lookalike, whitespace or separator.
 */
function scan(input: string, end: number): number {
  let length = 0;
  digitCapable = 0;
  letterCapable = 0;
  lookalikes = 0;
  separators = 0;

  for (let index = 0; index < end; index++) {
    const symbol = symbolTable[input.charCodeAt(index)] ?? INVALID;
    if (symbol === WHITESPACE) {
      continue;
    }
    if (symbol === SEPARATOR) {
      if (length <= MAX_PLATE_LENGTH && (separators & (1 << length)) === 0) {
        separators |= 1 << length;
        separatorIndex[length] = index;
      }
      continue;
    }
    if (symbol === INVALID) {
      return -index - 1;
    }

    if (length < MAX_PLATE_LENGTH) {
      const bit = 1 << length;
      symbols[length] = symbol;
      if (symbol === LETTER_O || symbol === DIGIT_ZERO) {
        digitCapable |= bit;
        letterCapable |= bit;
      } else if (isDigit(symbol)) {
        digitCapable |= bit;
      } else if (symbol === LOOKALIKE_THREE || symbol === LOOKALIKE_ONE) {
        digitCapable |= bit;
        lookalikes |= bit;
        lookalikeIndex[length] = index;
      } else if (symbol !== LATIN_D) {
        letterCapable |= bit;
      }
    }
    length++;
  }
  return length;
}

/**
 * Returns the end of the plate in `input`: before a trailing `RUS` or `РУС` (any case, Latin
 * twins allowed for РУС) that follows a digit, possibly after whitespace or separators, and
 * otherwise the input length.
 */
function endBeforeRus(input: string): number {
  let end = input.length;
  while (end > 0 && symbolTable[input.charCodeAt(end - 1)] === WHITESPACE) {
    end--;
  }
  if (end < 4) {
    return input.length;
  }

  // Most inputs end in a digit, so the last character alone settles them.
  const third = input.charCodeAt(end - 1);
  const latinS = (third | 0x20) === 0x73;
  if (!latinS && symbolTable[third] !== 0x421) {
    return input.length;
  }
  const first = input.charCodeAt(end - 3);
  const second = input.charCodeAt(end - 2);
  const latin = latinS && (first | 0x20) === 0x72 && (second | 0x20) === 0x75;
  const cyrillic = !latinS && symbolTable[first] === 0x420 && symbolTable[second] === 0x423;
  if (!latin && !cyrillic) {
    return input.length;
  }

  let plateEnd = end - 3;
  for (;;) {
    const symbol = plateEnd === 0 ? INVALID : (symbolTable[input.charCodeAt(plateEnd - 1)] ?? INVALID);
    if (symbol !== WHITESPACE && symbol !== SEPARATOR) {
      const endsInDigit = isDigit(symbol) || symbol === LETTER_O || symbol === LOOKALIKE_THREE || symbol === LOOKALIKE_ONE;
      return endsInDigit ? plateEnd : input.length;
    }
    plateEnd--;
  }
}

function fitsSymbols(layout: Layout, digitCapable: number, letterCapable: number): boolean {
  if ((layout.digitMask & ~digitCapable) !== 0 || (layout.letterMask & ~letterCapable) !== 0) {
    return false;
  }
  const { fixedPositions, fixedCodes } = layout;
  for (let index = 0; index < fixedPositions.length; index++) {
    if (symbols[fixedPositions[index] ?? 0] !== fixedCodes[index]) {
      return false;
    }
  }
  return true;
}

/**
 * Finds the most preferred layout that the scanned symbols fit when each lookalike may be a
 * letter or a digit. Returns the position of the first lookalike that it puts at a letter
 * position, or undefined when it puts every lookalike at a digit position or no layout fits.
 */
function misreadLookalike(order: readonly Layout[]): number | undefined {
  for (const layout of order) {
    if (fitsSymbols(layout, digitCapable, letterCapable | lookalikes) && (separators & ~layout.boundaryMask) === 0) {
      const misread = layout.letterMask & lookalikes;
      return misread === 0 ? undefined : lowestBit(misread);
    }
  }
  return undefined;
}

/**
 * Checks the reading of symbols under a layout that fits them, in the order zeros, leading zero,
 * region directory. Returns undefined when the reading passes.
 */
function checkRules(layout: Layout): RuleFailure | undefined {
  if (layout.missionEnd > 0 && allZeros(0, layout.missionEnd)) {
    return "ZERO_MISSION";
  }
  if (allZeros(layout.numberStart, layout.numberEnd)) {
    return "ZERO_NUMBER";
  }

  const regionEnd = layout.length;
  if (allZeros(layout.regionStart, regionEnd)) {
    return "ZERO_REGION";
  }
  if (layout.formationCode) {
    return undefined;
  }
  if (regionEnd - layout.regionStart === 3 && digitAt(layout.regionStart) === 0) {
    return "REGION_LEADING_ZERO";
  }
  if (knownRegionKeys[regionKey(layout.regionStart, regionEnd)] !== 1) {
    return "UNKNOWN_REGION";
  }
  return undefined;
}

/** Returns the digit value of the symbol at a digit position: 0 for О, 3 for З, 1 for I. */
function digitAt(position: number): number {
  const symbol = symbols[position] ?? DIGIT_ZERO;
  if (symbol === LETTER_O) {
    return 0;
  }
  return (symbol < DIGIT_ZERO ? (lookalikeDigit[symbol] ?? DIGIT_ZERO) : symbol) - DIGIT_ZERO;
}

function allZeros(start: number, end: number): boolean {
  for (let position = start; position < end; position++) {
    if (digitAt(position) !== 0) {
      return false;
    }
  }
  return true;
}

/** Numeric key of the region digits symbols[start..end): 1000 × digit count + value, so "07" ≠ "7". */
function regionKey(start: number, end: number): number {
  let value = 0;
  for (let position = start; position < end; position++) {
    value = value * 10 + digitAt(position);
  }
  return (end - start) * 1000 + value;
}

/** Builds the canonical string of the reading of symbols under a layout that fits them. */
function resolveReading(layout: Layout): string {
  const digitMask = layout.digitMask;
  for (let position = 0; position < layout.length; position++) {
    const symbol = symbols[position] ?? INVALID;
    if ((digitMask & (1 << position)) !== 0) {
      resolved[position] = DIGIT_ZERO + digitAt(position);
    } else {
      resolved[position] = symbol === DIGIT_ZERO ? LETTER_O : symbol;
    }
  }
  return resolvedString(layout.length);
}

/**
 * Returns the first `length` codes of `resolved` as a string. Explicit arguments made
 * String.fromCharCode about four times faster than applying it to the array, on Node 20.
 */
function resolvedString(length: number): string {
  const r = resolved;
  switch (length) {
    case 6:
      return String.fromCharCode(r[0] ?? 0, r[1] ?? 0, r[2] ?? 0, r[3] ?? 0, r[4] ?? 0, r[5] ?? 0);
    case 7:
      return String.fromCharCode(r[0] ?? 0, r[1] ?? 0, r[2] ?? 0, r[3] ?? 0, r[4] ?? 0, r[5] ?? 0, r[6] ?? 0);
    case 8:
      return String.fromCharCode(r[0] ?? 0, r[1] ?? 0, r[2] ?? 0, r[3] ?? 0, r[4] ?? 0, r[5] ?? 0, r[6] ?? 0, r[7] ?? 0);
    case 9:
      return String.fromCharCode(r[0] ?? 0, r[1] ?? 0, r[2] ?? 0, r[3] ?? 0, r[4] ?? 0, r[5] ?? 0, r[6] ?? 0, r[7] ?? 0, r[8] ?? 0);
    default:
      return String.fromCharCode(...r.subarray(0, length));
  }
}

function lowestBit(mask: number): number {
  return 31 - Math.clz32(mask & -mask);
}

function accept(layout: Layout): NormalizeResult {
  const number = resolveReading(layout);
  return {
    ok: true,
    plate: { number, type: layout.type, regionCode: number.slice(layout.regionStart) },
  };
}

function fail(reason: PlateErrorReason, message: string, messageRu: string): NormalizeResult {
  return { ok: false, error: { reason, message, messageRu } };
}

/** Builds the error of a reading that broke a rule, naming the reading and its type. */
function readingError(
  layout: Layout,
  number: string,
  reason: PlateErrorReason,
  message: string,
  messageRu: string,
): NormalizeResult {
  return { ok: false, error: { reason, message, messageRu, number, type: layout.type } };
}

function ruleError(layout: Layout, failure: RuleFailure): NormalizeResult {
  const number = resolveReading(layout);
  const region = number.slice(layout.regionStart);

  switch (failure) {
    case "ZERO_MISSION": {
      const mission = number.slice(0, layout.missionEnd);
      return readingError(
        layout,
        number,
        "ZERO_SEQUENCE",
        `invalid mission code "${mission}" in ${number}: it must not consist of zeros only`,
        `Номер ${number}: код представительства «${mission}» не может состоять только из нулей`,
      );
    }
    case "ZERO_NUMBER": {
      const digits = number.slice(layout.numberStart, layout.numberEnd);
      return readingError(
        layout,
        number,
        "ZERO_SEQUENCE",
        `invalid registration number "${digits}" in ${number}: it must not consist of zeros only`,
        `Номер ${number}: цифры номера «${digits}» не могут состоять только из нулей`,
      );
    }
    case "ZERO_REGION":
      return layout.formationCode
        ? readingError(
            layout,
            number,
            "ZERO_SEQUENCE",
            `invalid formation code "${region}" in ${number}: it must not consist of zeros only`,
            `Номер ${number}: код воинского формирования «${region}» не может состоять только из нулей`,
          )
        : readingError(
            layout,
            number,
            "ZERO_SEQUENCE",
            `invalid region code "${region}" in ${number}: it must not consist of zeros only`,
            `Номер ${number}: код региона «${region}» не может состоять только из нулей`,
          );
    case "REGION_LEADING_ZERO":
      return readingError(
        layout,
        number,
        "REGION_LEADING_ZERO",
        `invalid region code "${region}" in ${number}: a 3-digit region code must not start with 0`,
        `Номер ${number}: трёхзначный код региона «${region}» не может начинаться с нуля`,
      );
    case "UNKNOWN_REGION":
      return readingError(
        layout,
        number,
        "UNKNOWN_REGION",
        `unknown region code "${region}" in ${number}: it is not in the region directory`,
        `Номер ${number}: неизвестный код региона «${region}»`,
      );
  }
}

// Invisible characters (controls, format characters, separators, combining marks) are also shown
// as U+XXXX in messages, because quoting them alone shows nothing.
const invisibleCharacter = /^[\p{C}\p{Z}\p{M}]$/u;

/** Returns the character at `index` as a whole code point, and a U+XXXX suffix when it is invisible. */
function describeCharacter(input: string, index: number): { character: string; codeSuffix: string } {
  const codePoint = input.codePointAt(index) ?? 0;
  const character = String.fromCodePoint(codePoint);
  const codeSuffix = invisibleCharacter.test(character)
    ? ` (U+${codePoint.toString(16).toUpperCase().padStart(4, "0")})`
    : "";
  return { character, codeSuffix };
}

function characterError(index: number, character: string, message: string, messageRu: string): NormalizeResult {
  return {
    ok: false,
    error: { reason: "INVALID_CHARACTER", message, messageRu, position: index, character },
  };
}

function invalidCharacter(input: string, index: number): NormalizeResult {
  const { character, codeSuffix } = describeCharacter(input, index);
  return characterError(
    index,
    character,
    `invalid character "${character}"${codeSuffix} at position ${index}: a plate number contains only digits and the letters ${plateLetters}, Latin D on diplomatic plates`,
    // Positions for people count from 1.
    `Недопустимый символ «${character}»${codeSuffix} в позиции ${index + 1}: в номере допустимы только цифры и буквы ${plateLetters}, на дипломатических номерах также латинская D`,
  );
}

function misplacedSeparator(input: string, symbolPosition: number): NormalizeResult {
  const index = separatorIndex[symbolPosition] ?? 0;
  const { character } = describeCharacter(input, index);
  return characterError(
    index,
    character,
    `invalid character "${character}" at position ${index}: a hyphen, dot or underscore may stand only between the groups of a plate number, as in А-123-ВС-77`,
    `Недопустимый символ «${character}» в позиции ${index + 1}: дефис, точка или подчёркивание допустимы только между группами номера, например А-123-ВС-77`,
  );
}

function lookalikeAsLetter(input: string, symbolPosition: number): NormalizeResult {
  const index = lookalikeIndex[symbolPosition] ?? 0;
  const { character } = describeCharacter(input, index);
  const digit = String.fromCharCode(lookalikeDigit[symbols[symbolPosition] ?? 0] ?? DIGIT_ZERO);
  return characterError(
    index,
    character,
    `invalid character "${character}" at position ${index}: it is read as the digit ${digit} only where a digit belongs, and the number has a letter there`,
    `Недопустимый символ «${character}» в позиции ${index + 1}: он читается как цифра ${digit} только там, где в номере стоит цифра, а здесь должна быть буква`,
  );
}

// Maximum length of the mask in an error. Longer inputs get the first symbols and "…", so that no
// message grows with the input.
const MAX_MASK_LENGTH = 2 * MAX_PLATE_LENGTH;

/**
 * Rejects a string whose shape fits no pattern. Call it only after the scan of input[0, end),
 * because it treats every character that is not whitespace or a separator as a plate symbol.
 */
function invalidFormat(input: string, end: number): NormalizeResult {
  let mask = "";
  for (let index = 0; index < end; index++) {
    const symbol = symbolTable[input.charCodeAt(index)] ?? INVALID;
    if (symbol === WHITESPACE || symbol === SEPARATOR) {
      continue;
    }
    if (mask.length === MAX_MASK_LENGTH) {
      mask += "…";
      break;
    }
    if (symbol === DIGIT_ZERO || symbol === LETTER_O) {
      mask += "*";
    } else {
      mask += isDigit(symbol) || symbol === LOOKALIKE_THREE || symbol === LOOKALIKE_ONE ? "9" : "X";
    }
  }

  return {
    ok: false,
    error: {
      reason: "INVALID_FORMAT",
      message: `invalid format "${mask}" (X letter, 9 digit, * 0 or О): it fits no supported plate pattern, such as А123ВС77`,
      messageRu: `Недопустимый формат номера «${mask}» (X — буква, 9 — цифра, * — 0 или О): ожидается номер вида А123ВС77`,
      mask,
    },
  };
}

function buildRegionKeys(): Uint8Array {
  const keys = new Uint8Array(4000);
  for (const region of regions) {
    keys[region.code.length * 1000 + Number(region.code)] = 1;
  }
  return keys;
}
