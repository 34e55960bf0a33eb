/**
 * Table from typed characters to plate symbols: the first step of correction.
 */

/** The 12 Cyrillic letters allowed on plates, those with a Latin twin of the same shape. */
export const plateLetters = "АВЕКМНОРСТУХ";

/** Upper-case Latin twins of the plate letters, in the order of plateLetters. */
export const latinTwins = "ABEKMHOPCTYX";

/** The Latin letter D of diplomatic plates, which has no Cyrillic twin and stays Latin. */
export const LATIN_D = 0x44;

export const DIGIT_ZERO = 0x30;
export const DIGIT_NINE = 0x39;
/** Cyrillic О, which people type for the digit 0 and the other way round. */
export const LETTER_O = 0x41e;

// Values in the table besides the char code of a plate symbol. All are below DIGIT_ZERO.
export const INVALID = 0;
/** Whitespace, dropped anywhere. */
export const WHITESPACE = 1;
/** A hyphen, dash, dot or underscore, dropped only between two groups of the plate. */
export const SEPARATOR = 2;
/** Cyrillic З, read as the digit 3 only where a digit belongs. */
export const LOOKALIKE_THREE = 3;
/** Latin I, read as the digit 1 only where a digit belongs. */
export const LOOKALIKE_ONE = 4;

/** Digit that a LOOKALIKE_* value stands for, indexed by the value. */
export const lookalikeDigit: readonly number[] = [0, 0, 0, 0x33, 0x31];

// Whitespace as JavaScript's `\s` defines it: Unicode White_Space plus U+FEFF.
const whitespaceCodes = [
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff,
];

// Hyphen-minus, dot and underscore, plus the Unicode hyphens and dashes that word processors
// substitute for a typed hyphen: U+2010 hyphen, U+2011 non-breaking hyphen, U+2012 figure dash,
// U+2013 en dash, U+2014 em dash and U+2212 minus sign.
const separatorCodes = [0x2d, 0x2e, 0x5f, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2212];

// Characters other than plain lower case whose upper case (String.prototype.toUpperCase) is a
// mapped letter: Latin dotless ı (to I), and the old Cyrillic forms U+1C80 (to В), U+1C82 (to О),
// U+1C83 (to С), U+1C84 and U+1C85 (to Т). A test compares the table with toUpperCase over
// every code unit.
const extraUpperCaseSources = "ıᲀᲂᲃᲄᲅ";

/**
 * Table from a UTF-16 code unit to the plate symbol it stands for (a digit, one of the 12
 * Cyrillic letters or Latin D), or to one of INVALID, WHITESPACE, SEPARATOR, LOOKALIKE_THREE and
 * LOOKALIKE_ONE. Letters are mapped by shape only, in either case. Surrogates are INVALID, so any
 * character outside the Basic Multilingual Plane is rejected.
 */
export const symbolTable: Uint16Array = buildSymbolTable();

/** Returns whether a table value is a digit 0–9. */
export function isDigit(symbol: number): boolean {
  return symbol >= DIGIT_ZERO && symbol <= DIGIT_NINE;
}

function buildSymbolTable(): Uint16Array {
  const table = new Uint16Array(0x10000);
  const targets = new Map<string, number>();
  for (let digit = 0; digit <= 9; digit++) {
    targets.set(String(digit), DIGIT_ZERO + digit);
  }
  for (const letter of plateLetters) {
    targets.set(letter, letter.charCodeAt(0));
  }
  for (let index = 0; index < latinTwins.length; index++) {
    targets.set(latinTwins.charAt(index), plateLetters.charCodeAt(index));
  }
  targets.set("D", LATIN_D);
  targets.set("З", LOOKALIKE_THREE);
  targets.set("I", LOOKALIKE_ONE);

  for (const [source, target] of targets) {
    table[source.charCodeAt(0)] = target;
    table[source.toLowerCase().charCodeAt(0)] = target;
  }
  for (const source of extraUpperCaseSources) {
    const target = targets.get(source.toUpperCase());
    if (target !== undefined) {
      table[source.charCodeAt(0)] = target;
    }
  }
  for (const code of whitespaceCodes) {
    table[code] = WHITESPACE;
  }
  for (const code of separatorCodes) {
    table[code] = SEPARATOR;
  }
  return table;
}
