import { regions } from "./regions.ts";

/**
 * Plate type a string was read as, numbered as in GOST R 50577-2018, which kept the types of
 * GOST R 50577-93 and added 4Б. L is one of the 12 plate letters, D a digit, R2 and R3 a 2- or
 * 3-digit region code.
 */
export type PlateType =
  /** Type 1, cars, lorries and buses: `L DDD LL R2` or `L DDD LL R3`. */
  | "CAR"
  /** Type 1Б, taxis and commercial passenger carriers (yellow plate): `LL DDD R2`. */
  | "TAXI"
  /**
   * Type 2, trailers and semi-trailers: `LL DDDD R2`. The same string also reads as type 1Б with a
   * 3-digit region, which this engine does not report.
   */
  | "TRAILER"
  /**
   * Type 3, tractors and self-propelled machines: `DDDD LL R2`. Motorcycles (type 4) and military
   * plates (types 5, 7, 8) share the shape and differ only in size and colour.
   */
  | "TRACTOR"
  /** Type 4Б, mopeds: `LL DD LL R2`. */
  | "MOPED";

/** Machine-readable cause of a rejected plate number. */
export type PlateErrorReason =
  /** Nothing but whitespace, or nothing at all. */
  | "EMPTY"
  /** A character that is neither whitespace, a digit, a plate letter nor a lookalike of one. */
  | "INVALID_CHARACTER"
  /** The sequence of letters and digits fits no supported pattern. */
  | "INVALID_FORMAT"
  /** The registration number (such as 000) or the region code (00) consists of zeros only. */
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
   * INVALID_CHARACTER only: 0-based index of the first rejected character in the original input.
   * Every character before it is a single UTF-16 code unit, so this is both the string index and
   * the code point index.
   */
  position?: number;
  /** INVALID_CHARACTER only: the rejected character as typed, a whole code point. */
  character?: string;
  /**
   * INVALID_FORMAT only: shape of the input after clean-up, with X for a letter, 9 for a digit and
   * * for 0 or О, which could be either. Example: "X9*9XX9".
   */
  mask?: string;
}

/** A plate number that passed every check. */
export interface NormalizedPlate {
  /** Canonical form: Cyrillic capital letters and digits, no spaces, for example "А123ВС77". */
  number: string;
  type: PlateType;
  /** Region code as printed, for example "77" or "177", always one from the region directory. */
  regionCode: string;
}

/** Outcome of normalizePlate: the plate, or the reason the input was rejected. */
export type NormalizeResult = { ok: true; plate: NormalizedPlate } | { ok: false; error: PlateError };

/** The 12 Cyrillic letters allowed on plates, those with a Latin twin of the same shape. */
export const plateLetters = "АВЕКМНОРСТУХ";

const DIGIT_ZERO = 0x30;
const DIGIT_NINE = 0x39;
const LETTER_O = 0x41e; // Cyrillic О, which people type for the digit 0 and the other way round.

// Maximum plate length, that of type 1 with a 3-digit region.
const MAX_PLATE_LENGTH = 9;

// Values in the character table besides the char code of a plate symbol.
const INVALID = 0;
const WHITESPACE = 1;

// Upper-case Latin twins of the plate letters, in the order of plateLetters.
const latinTwins = "ABEKMHOPCTYX";

// Characters read as digits, as gosnomer 0.0.9 does: Latin I as 1 and Cyrillic З as 3.
// TODO: restrict these readings, because they can turn a typo into another plate type
// (З123ВС77 reads as the type 3 number 3123ВС77).
const lookalikeDigits: ReadonlyArray<readonly [string, string]> = [
  ["I", "1"],
  ["З", "3"],
];

// Whitespace as JavaScript's `\s` defines it: Unicode White_Space plus U+FEFF.
const whitespaceCodes = [
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff,
];

// Characters other than plain lower case whose upper case (String.prototype.toUpperCase) is a
// mapped letter: Latin dotless ı (to I), and the old Cyrillic forms U+1C80 (to В), U+1C82 (to О),
// U+1C83 (to С), U+1C84 and U+1C85 (to Т). A test compares the table with toUpperCase over
// every code unit.
const extraUpperCaseSources = "ıᲀᲂᲃᲄᲅ";

/**
 * Table from a UTF-16 code unit to the plate symbol it stands for (a digit or one of the 12
 * Cyrillic letters), WHITESPACE, or INVALID. Surrogates are INVALID, so any character outside
 * the Basic Multilingual Plane is rejected.
 */
const symbolTable = buildSymbolTable();

/** Flags (1) for the directory's region codes, indexed by regionKey() so the hot path builds no strings. */
const knownRegionKeys = buildRegionKeys();

interface Layout {
  type: PlateType;
  /** Per position: true for a digit, false for a letter. */
  digitSlots: readonly boolean[];
  numberStart: number;
  numberEnd: number;
  /** The region code runs from here to the end of the plate. */
  regionStart: number;
}

/**
 * Patterns tried in order of preference (L letter, D digit of the registration number, R digit
 * of the region code), so that an ambiguous string is read the same way every time. Type 1 comes
 * first because it is the most common plate.
 */
const layouts: readonly Layout[] = [
  parseLayout("CAR", "LDDDLLRR"),
  parseLayout("CAR", "LDDDLLRRR"),
  parseLayout("TAXI", "LLDDDRR"),
  parseLayout("TRAILER", "LLDDDDRR"),
  parseLayout("TRACTOR", "DDDDLLRR"),
  parseLayout("MOPED", "LLDDLLRR"),
];

// Scratch buffer of cleaned symbols. Sharing it is safe because normalizePlate is synchronous and
// never calls itself, and each worker thread loads its own copy of this module.
const symbols = new Uint16Array(MAX_PLATE_LENGTH);

// Scratch buffer of the chosen reading, and its prefix views by length, so that building the
// canonical string needs one String.fromCharCode call and no new array.
const resolved = new Uint16Array(MAX_PLATE_LENGTH);
const resolvedViews = Array.from({ length: MAX_PLATE_LENGTH + 1 }, (_, length) => resolved.subarray(0, length));

type RuleFailure = "ZERO_NUMBER" | "ZERO_REGION" | "REGION_LEADING_ZERO" | "UNKNOWN_REGION";

/**
 * Cleans up a typed plate number, reads it as one of the supported plate types and checks it.
 *
 * Clean-up removes every whitespace character (those JavaScript's `\s` matches), upper-cases,
 * maps the 12 Latin letters shaped like plate letters to their Cyrillic twins, and maps Latin I
 * to 1 and Cyrillic З to 3 as gosnomer 0.0.9 does. Each digit 0 or letter О then becomes the letter
 * О at a letter position of the pattern and the digit 0 at a digit position. Readings are tried in the order
 * CAR (2-digit region, then 3-digit), TAXI, TRAILER, TRACTOR, MOPED, and the first one that
 * passes every rule wins, so the result never depends on anything but the input.
 * The rules: no digit group made only of zeros, no 3-digit region code starting with 0, and the
 * region code must be in the region directory. When the input fits a pattern but no reading
 * passes, the error is that of the most preferred reading.
 */
export function normalizePlate(input: string): NormalizeResult {
  let length = 0;
  for (let index = 0; index < input.length; index++) {
    const symbol = symbolTable[input.charCodeAt(index)] ?? INVALID;
    if (symbol === WHITESPACE) {
      continue;
    }
    if (symbol === INVALID) {
      return invalidCharacter(input, index);
    }
    if (length < MAX_PLATE_LENGTH) {
      symbols[length] = symbol;
    }
    length++;
  }

  if (length === 0) {
    return fail("EMPTY", "plate number is empty", "Номер не указан");
  }
  if (length > MAX_PLATE_LENGTH) {
    return invalidFormat(input);
  }

  let firstFit: Layout | undefined;
  let firstFailure: RuleFailure | undefined;
  for (const layout of layouts) {
    if (!fitsLayout(layout, length)) {
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

  if (firstFit === undefined || firstFailure === undefined) {
    return invalidFormat(input);
  }
  return ruleError(firstFit, firstFailure);
}

function isDigit(symbol: number): boolean {
  return symbol >= DIGIT_ZERO && symbol <= DIGIT_NINE;
}

/** Checks whether symbols[position] reads as 0 at a digit position (digit 0 or letter О). */
function readsAsZero(position: number): boolean {
  const symbol = symbols[position];
  return symbol === DIGIT_ZERO || symbol === LETTER_O;
}

function fitsLayout(layout: Layout, length: number): boolean {
  const slots = layout.digitSlots;
  if (slots.length !== length) {
    return false;
  }

  for (let position = 0; position < length; position++) {
    const symbol = symbols[position] ?? INVALID;
    const fits = slots[position]
      ? isDigit(symbol) || symbol === LETTER_O
      : !isDigit(symbol) || symbol === DIGIT_ZERO;
    if (!fits) {
      return false;
    }
  }
  return true;
}

/**
 * Checks the reading of symbols under a layout that fits them, in the order zeros, leading zero,
 * region directory. Returns undefined when the reading passes.
 */
function checkRules(layout: Layout): RuleFailure | undefined {
  if (allZeros(layout.numberStart, layout.numberEnd)) {
    return "ZERO_NUMBER";
  }

  const regionEnd = layout.digitSlots.length;
  if (allZeros(layout.regionStart, regionEnd)) {
    return "ZERO_REGION";
  }
  if (regionEnd - layout.regionStart === 3 && readsAsZero(layout.regionStart)) {
    return "REGION_LEADING_ZERO";
  }
  if (knownRegionKeys[regionKey(layout.regionStart, regionEnd)] !== 1) {
    return "UNKNOWN_REGION";
  }
  return undefined;
}

function allZeros(start: number, end: number): boolean {
  for (let position = start; position < end; position++) {
    if (!readsAsZero(position)) {
      return false;
    }
  }
  return true;
}

/** Numeric key of the region digits symbols[start..end): 1000 × digit count + value, so "07" ≠ "7". */
function regionKey(start: number, end: number): number {
  let value = 0;
  for (let position = start; position < end; position++) {
    const symbol = symbols[position] ?? DIGIT_ZERO;
    value = value * 10 + (symbol === LETTER_O ? 0 : symbol - DIGIT_ZERO);
  }
  return (end - start) * 1000 + value;
}

/** Builds the canonical string of the reading of symbols under a layout that fits them. */
function resolveReading(layout: Layout): string {
  const slots = layout.digitSlots;
  for (let position = 0; position < slots.length; position++) {
    const symbol = symbols[position] ?? INVALID;
    if (slots[position]) {
      resolved[position] = symbol === LETTER_O ? DIGIT_ZERO : symbol;
    } else {
      resolved[position] = symbol === DIGIT_ZERO ? LETTER_O : symbol;
    }
  }
  const codes: ArrayLike<number> = resolvedViews[slots.length] ?? resolved;
  return Reflect.apply(String.fromCharCode, undefined, codes) as string;
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

function ruleError(layout: Layout, failure: RuleFailure): NormalizeResult {
  const number = resolveReading(layout);
  const digits = number.slice(layout.numberStart, layout.numberEnd);
  const region = number.slice(layout.regionStart);

  switch (failure) {
    case "ZERO_NUMBER":
      return fail(
        "ZERO_SEQUENCE",
        `invalid registration number "${digits}" in ${number}: it must not consist of zeros only`,
        `Номер ${number}: цифры номера «${digits}» не могут состоять только из нулей`,
      );
    case "ZERO_REGION":
      return fail(
        "ZERO_SEQUENCE",
        `invalid region code "${region}" in ${number}: it must not consist of zeros only`,
        `Номер ${number}: код региона «${region}» не может состоять только из нулей`,
      );
    case "REGION_LEADING_ZERO":
      return fail(
        "REGION_LEADING_ZERO",
        `invalid region code "${region}" in ${number}: a 3-digit region code must not start with 0`,
        `Номер ${number}: трёхзначный код региона «${region}» не может начинаться с нуля`,
      );
    case "UNKNOWN_REGION":
      return fail(
        "UNKNOWN_REGION",
        `unknown region code "${region}" in ${number}: it is not in the region directory`,
        `Номер ${number}: неизвестный код региона «${region}»`,
      );
  }
}

// Invisible characters (controls, format characters, separators, combining marks) are also shown
// as U+XXXX in messages, because quoting them alone shows nothing.
const invisibleCharacter = /^[\p{C}\p{Z}\p{M}]$/u;

function invalidCharacter(input: string, index: number): NormalizeResult {
  const codePoint = input.codePointAt(index) ?? 0;
  const character = String.fromCodePoint(codePoint);
  const codeSuffix = invisibleCharacter.test(character)
    ? ` (U+${codePoint.toString(16).toUpperCase().padStart(4, "0")})`
    : "";

  return {
    ok: false,
    error: {
      reason: "INVALID_CHARACTER",
      message: `invalid character "${character}"${codeSuffix} at position ${index}: a plate number contains only digits and the letters ${plateLetters}`,
      // Positions for people count from 1.
      messageRu: `Недопустимый символ «${character}»${codeSuffix} в позиции ${index + 1}: в номере допустимы только цифры и буквы ${plateLetters}`,
      position: index,
      character,
    },
  };
}

/**
 * Rejects a string whose shape fits no pattern. Call it only after the scan, because it treats
 * every character that is not whitespace as a plate symbol.
 */
function invalidFormat(input: string): NormalizeResult {
  let mask = "";
  for (let index = 0; index < input.length; index++) {
    const symbol = symbolTable[input.charCodeAt(index)] ?? INVALID;
    if (symbol === WHITESPACE) {
      continue;
    }
    if (symbol === DIGIT_ZERO || symbol === LETTER_O) {
      mask += "*";
    } else {
      mask += isDigit(symbol) ? "9" : "X";
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

function parseLayout(type: PlateType, pattern: string): Layout {
  return {
    type,
    digitSlots: Array.from(pattern, (slot) => slot !== "L"),
    numberStart: pattern.indexOf("D"),
    numberEnd: pattern.lastIndexOf("D") + 1,
    regionStart: pattern.indexOf("R"),
  };
}

function buildRegionKeys(): Uint8Array {
  const keys = new Uint8Array(4000);
  for (const region of regions) {
    keys[region.code.length * 1000 + Number(region.code)] = 1;
  }
  return keys;
}

function buildSymbolTable(): Uint16Array {
  const table = new Uint16Array(0x10000);
  const targets = new Map<string, string>();
  for (let digit = 0; digit <= 9; digit++) {
    targets.set(String(digit), String(digit));
  }
  for (const letter of plateLetters) {
    targets.set(letter, letter);
  }
  for (let index = 0; index < latinTwins.length; index++) {
    targets.set(latinTwins.charAt(index), plateLetters.charAt(index));
  }
  for (const [source, digit] of lookalikeDigits) {
    targets.set(source, digit);
  }

  for (const [source, target] of targets) {
    const code = target.charCodeAt(0);
    table[source.charCodeAt(0)] = code;
    table[source.toLowerCase().charCodeAt(0)] = code;
  }
  for (const source of extraUpperCaseSources) {
    const target = targets.get(source.toUpperCase());
    if (target !== undefined) {
      table[source.charCodeAt(0)] = target.charCodeAt(0);
    }
  }
  for (const code of whitespaceCodes) {
    table[code] = WHITESPACE;
  }
  return table;
}
