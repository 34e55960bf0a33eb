import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import fc from "fast-check";
import { describe, it, expect } from "vitest";

import { randomCarNumber } from "../src/plate/generate.ts";
import { normalizePlate, plateLetters } from "../src/plate/normalize.ts";
import type { PlateErrorReason, PlateType } from "../src/plate/normalize.ts";
import { currentRegionCodes, findRegion, regions } from "../src/plate/regions.ts";

// Outputs of gosnomer 0.0.9 (Python) on typing variants of type 1 car plates, kept next to the
// repository: <repository>/../shared/vectors/gosnomer-car.jsonl.
const vectorPath = fileURLToPath(new URL("../../shared/vectors/gosnomer-car.jsonl", import.meta.url));

interface Vector {
  input: string;
  output?: string;
  error?: string;
}

function readVectors(): Vector[] {
  if (!existsSync(vectorPath)) {
    throw new Error(`test vectors not found at ${vectorPath}: check out the shared folder next to the repository`);
  }
  return readFileSync(vectorPath, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Vector);
}

const vectors = readVectors();

const reasonByVectorError: Readonly<Record<string, PlateErrorReason>> = {
  invalid_character: "INVALID_CHARACTER",
  invalid_format: "INVALID_FORMAT",
  zero_sequence: "ZERO_SEQUENCE",
  region_leading_zero: "REGION_LEADING_ZERO",
};

const allReasons: readonly PlateErrorReason[] = [
  "EMPTY",
  "INVALID_CHARACTER",
  "INVALID_FORMAT",
  "ZERO_SEQUENCE",
  "REGION_LEADING_ZERO",
  "UNKNOWN_REGION",
];

const accepted = vectors
  .filter((vector) => vector.output !== undefined)
  .map((vector) => ({ label: JSON.stringify(vector.input), input: vector.input, output: vector.output ?? "" }));

const rejected = vectors
  .filter((vector) => vector.error !== undefined)
  .map((vector) => ({ label: JSON.stringify(vector.input), input: vector.input, error: vector.error ?? "" }));

/** Returns the canonical number, or fails the test with the error the engine returned. */
function expectAccepted(input: string): { number: string; type: PlateType; regionCode: string } {
  const result = normalizePlate(input);
  if (!result.ok) {
    expect.fail(`expected ${JSON.stringify(input)} to be accepted, got ${result.error.reason}: ${result.error.message}`);
  }
  return result.plate;
}

function expectRejected(input: string, reason: PlateErrorReason) {
  const result = normalizePlate(input);
  if (result.ok) {
    expect.fail(`expected ${JSON.stringify(input)} to be rejected with ${reason}, got ${result.plate.number}`);
  }
  expect(result.error.reason).toBe(reason);
  expect(result.error.message).not.toBe("");
  expect(result.error.messageRu).toMatch(/[А-Яа-яЁё]/);
  return result.error;
}

describe("normalizePlate on gosnomer 0.0.9 vectors", () => {
  it("reads all 388 vectors", () => {
    expect(vectors).toHaveLength(388);
    expect(accepted.length + rejected.length).toBe(388);
  });

  it.each(accepted)("accepts $label", ({ input, output }) => {
    const plate = expectAccepted(input);
    expect(plate.number).toBe(output);
    expect(plate.type).toBe("CAR");
    expect(findRegion(plate.regionCode)).toBeDefined();
  });

  it.each(rejected)("rejects $label with $error", ({ input, error }) => {
    const reason = reasonByVectorError[error];
    expect(reason, `unknown error kind ${error}`).toBeDefined();
    expectRejected(input, reason ?? "EMPTY");
  });
});

describe("normalizePlate clean-up", () => {
  it.each([
    ["А123ВС77", "А123ВС77"],
    [" А 123 ВС 77 ", "А123ВС77"],
    ["А\t123\nВС\r77", "А123ВС77"],
    ["А\u00a0123\u2009ВС\u202f77", "А123ВС77"],
    ["\ufeffА123ВС77\u3000", "А123ВС77"],
    ["А\u2028123\u2029ВС\u000b\u000c77", "А123ВС77"],
    ["a123bc77", "А123ВС77"],
    ["e001kx177", "Е001КХ177"],
    ["h555mp50", "Н555МР50"],
    ["o123ty97", "О123ТУ97"],
    ["а123вс77", "А123ВС77"],
    ["А123Вc77", "А123ВС77"],
    ["АI23ВС77", "А123ВС77"],
    ["Аi23ВС77", "А123ВС77"],
    ["Аı23ВС77", "А123ВС77"],
    ["А12З ВС77", "А123ВС77"],
    ["А12з ВС77", "А123ВС77"],
  ])("reads %j as %s", (input, expected) => {
    expect(expectAccepted(input).number).toBe(expected);
  });
});

describe("normalizePlate О and 0", () => {
  it.each([
    ["о001тр98", "О001ТР98"],
    ["0001ТР98", "О001ТР98"],
    ["С 065 МК 78", "С065МК78"],
    ["С О65 МК 78", "С065МК78"],
    ["СО65МК78", "С065МК78"],
    ["Е 001 КХ 77", "Е001КХ77"],
    ["o123oo97", "О123ОО97"],
    ["0123ОО97", "О123ОО97"],
    ["ОOO1ВСО7", "О001ВС07"],
    ["А10О0С177", "А100ОС177"],
    ["Р918ТрO1", "Р918ТР01"],
  ])("reads %j as %s", (input, expected) => {
    const plate = expectAccepted(input);
    expect(plate.number).toBe(expected);
    expect(plate.type).toBe("CAR");
  });
});

describe("normalizePlate plate types", () => {
  it.each<[string, string, PlateType, string]>([
    ["А123ВС77", "А123ВС77", "CAR", "77"],
    ["А123ВС777", "А123ВС777", "CAR", "777"],
    ["АВ120 77", "АВ12077", "TAXI", "77"],
    ["ав 123 О5", "АВ12305", "TAXI", "05"],
    ["АВ1230 77", "АВ123077", "TRAILER", "77"],
    ["АВ 0001 77", "АВ000177", "TRAILER", "77"],
    ["1234 АВ 77", "1234АВ77", "TRACTOR", "77"],
    ["1000 ВО 50", "1000ВО50", "TRACTOR", "50"],
    ["ММ55АА77", "ММ55АА77", "MOPED", "77"],
    ["ав1осо01", "АВ10СО01", "MOPED", "01"],
  ])("reads %j as %s", (input, expected, type, regionCode) => {
    const plate = expectAccepted(input);
    expect(plate.number).toBe(expected);
    expect(plate.type).toBe(type);
    expect(plate.regionCode).toBe(regionCode);
  });

  it("accepts legacy region code 20", () => {
    expect(expectAccepted("А123ВС20").regionCode).toBe("20");
  });
});

describe("normalizePlate rules", () => {
  it.each<[string, PlateErrorReason]>([
    ["А000ВС77", "ZERO_SEQUENCE"],
    ["А123ВС00", "ZERO_SEQUENCE"],
    ["А123ВС000", "ZERO_SEQUENCE"],
    ["АООО ВС 77", "ZERO_SEQUENCE"],
    ["АВ000 77", "ZERO_SEQUENCE"],
    ["АВ123 00", "ZERO_SEQUENCE"],
    ["АВ0000 77", "ZERO_SEQUENCE"],
    ["0000 АВ 77", "ZERO_SEQUENCE"],
    ["АВ00ВС77", "ZERO_SEQUENCE"],
    ["А123ВС014", "REGION_LEADING_ZERO"],
    ["А123ВСО77", "REGION_LEADING_ZERO"],
    ["А123ВС100", "UNKNOWN_REGION"],
    ["А123ВС999", "UNKNOWN_REGION"],
    ["А123ВС109", "UNKNOWN_REGION"],
    ["А123ВС192", "UNKNOWN_REGION"],
  ])("rejects %j with %s", (input, reason) => {
    expectRejected(input, reason);
  });

  it("names the zero group in the message", () => {
    const error = expectRejected("А000ВС77", "ZERO_SEQUENCE");
    expect(error.message).toContain('"000"');
    expect(error.messageRu).toContain("«000»");
  });

  it("names the unknown region in the message", () => {
    const error = expectRejected("а123вс100", "UNKNOWN_REGION");
    expect(error.message).toContain('"100"');
    expect(error.message).toContain("А123ВС100");
    expect(error.messageRu).toContain("«100»");
  });

  it("names the leading-zero region in the message", () => {
    const error = expectRejected("А123ВС014", "REGION_LEADING_ZERO");
    expect(error.message).toContain('"014"');
    expect(error.messageRu).toContain("«014»");
  });
});

describe("normalizePlate input errors", () => {
  it.each(["", " ", " \t\n\u00a0\u3000"])("rejects %j as empty", (input) => {
    expectRejected(input, "EMPTY");
  });

  it.each<[string, number, string]>([
    ["А123ВС77RU", 8, "R"],
    ["А1-23-ВС-77", 2, "-"],
    ["А123.В.С77", 6, "."],
    ["З123ВС77", 0, "З"],
    ["  А12z", 5, "z"],
    ["Б123ВС77", 0, "Б"],
    ["А123ВС7\u200b7", 7, "\u200b"],
    ["А1😀", 2, "😀"],
    ["А1\ud800", 2, "\ud800"],
    ["１２３", 0, "１"],
    ["А123ВС77\u0000", 8, "\u0000"],
  ])("rejects %j at position %i", (input, position, character) => {
    const error = expectRejected(input, "INVALID_CHARACTER");
    expect(error.position).toBe(position);
    expect(error.character).toBe(character);
    expect(error.message).toContain(`position ${position}`);
    expect(error.messageRu).toContain(`в позиции ${position + 1}`);
    expect(error.messageRu).toContain(`«${character}»`);
  });

  it("shows an invisible character by its code point", () => {
    const error = expectRejected("А\u200b", "INVALID_CHARACTER");
    expect(error.message).toContain("U+200B");
    expect(error.messageRu).toContain("U+200B");
  });

  it("reports the first invalid character", () => {
    const error = expectRejected("А12ZЯ", "INVALID_CHARACTER");
    expect(error.character).toBe("Z");
  });

  it.each<[string, string]>([
    ["В780ТХ4", "X99*XX9"],
    ["А123ВС7712", "X999XX9999"],
    ["АВ", "XX"],
    ["оо", "**"],
    ["А12ВС77", "X99XX99"],
    ["  О 12 ", "*99"],
  ])("rejects %j with mask %s", (input, mask) => {
    const error = expectRejected(input, "INVALID_FORMAT");
    expect(error.mask).toBe(mask);
    expect(error.message).toContain(mask);
    expect(error.messageRu).toContain(mask);
  });
});

// Every character JavaScript upper-cases to one of these is read as the plate symbol listed.
const symbolByUpperCase = new Map<string, string>([
  ...Array.from("0123456789", (digit): [string, string] => [digit, digit]),
  ...Array.from(plateLetters, (letter): [string, string] => [letter, letter]),
  ...Array.from("ABEKMHOPCTYX", (latin, index): [string, string] => [latin, plateLetters.charAt(index)]),
  ["I", "1"],
  ["З", "3"],
  ["D", "D"],
]);

// Hyphens, dashes, dots and underscores, dropped only between two groups of a plate.
const separators = new Set(["-", ".", "_", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212"]);

describe("normalizePlate character table", () => {
  it("matches toUpperCase and \\s on every UTF-16 code unit", () => {
    for (let code = 0; code <= 0xffff; code++) {
      const character = String.fromCharCode(code);
      const label = `U+${code.toString(16).padStart(4, "0")}`;
      const result = normalizePlate(`${character}А123ВС77`);

      if (/\s/.test(character)) {
        expect(result.ok, label).toBe(true);
        continue;
      }
      if (separators.has(character)) {
        expect(result.ok ? "accepted" : result.error.reason, label).toBe("INVALID_CHARACTER");
        expect(normalizePlate(`А${character}123ВС77`).ok, label).toBe(true);
        continue;
      }
      const upper = character.toUpperCase();
      const symbol = upper.length === 1 ? symbolByUpperCase.get(upper) : undefined;
      if (symbol !== undefined) {
        expect(result.ok ? "accepted" : result.error.reason, label).toBe("INVALID_FORMAT");
        if (!result.ok) {
          expect(result.error.mask?.length, label).toBe(9);
        }
        continue;
      }
      expect(result.ok ? "accepted" : result.error.reason, label).toBe("INVALID_CHARACTER");
      if (!result.ok) {
        expect(result.error.position, label).toBe(0);
      }
    }
  });
});

// Characters people type for plate symbols, to build inputs that often fit a pattern.
const plateInputCharacters = Array.from(`0123456789${plateLetters}${plateLetters.toLowerCase()}ABEKMHOPCTYXabekmhopctyxOoIiЗз \t\u00a0`);

/** Builds inputs shaped like one of the patterns, with lookalikes, case and whitespace mixed in. */
function plateLikeInput(): fc.Arbitrary<string> {
  const letter = fc.constantFrom(...Array.from(`${plateLetters}${plateLetters.toLowerCase()}ABEKMHOPCTYXabekmhopctyx0`));
  const digit = fc.constantFrom(...Array.from("0123456789ОoOIЗ"));
  const regionCode = fc.constantFrom(...regions.map((region) => region.code), "00", "014", "100");
  const space = fc.constantFrom("", "", " ", "\t", "\u00a0");
  const slot = (pattern: string) =>
    fc.tuple(...Array.from(pattern, (kind) => fc.tuple(kind === "L" ? letter : digit, space))).map((parts) =>
      parts.map(([character, gap]) => character + gap).join(""),
    );
  const shape = fc.oneof(
    fc.tuple(slot("LDDDLL"), regionCode),
    fc.tuple(slot("LLDDD"), regionCode),
    fc.tuple(slot("LLDDDD"), regionCode),
    fc.tuple(slot("DDDDLL"), regionCode),
    fc.tuple(slot("LLDDLL"), regionCode),
  );
  return fc.oneof(
    shape.map(([head, region]) => head + region),
    fc.array(fc.constantFrom(...plateInputCharacters), { maxLength: 12 }).map((characters) => characters.join("")),
  );
}

describe("normalizePlate properties", () => {
  it("never throws on arbitrary strings", () => {
    const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: anyCodeUnit }), plateLikeInput()),
        (input) => {
          const result = normalizePlate(input);
          if (result.ok) {
            expect(findRegion(result.plate.regionCode)).toBeDefined();
            return;
          }
          expect(allReasons).toContain(result.error.reason);
          expect(result.error.messageRu).not.toBe("");
          if (result.error.reason === "INVALID_CHARACTER") {
            const position = result.error.position ?? -1;
            expect(Array.from(input)[position]).toBe(result.error.character);
            expect(String.fromCodePoint(input.codePointAt(position) ?? -1)).toBe(result.error.character);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("returns a fixed point for every accepted input", () => {
    fc.assert(
      fc.property(plateLikeInput(), (input) => {
        const first = normalizePlate(input);
        if (!first.ok) {
          return;
        }
        const second = normalizePlate(first.plate.number);
        expect(second).toEqual(first);
      }),
      { numRuns: 5000 },
    );
  });

  it("gives the same result for the canonical form of every vector", () => {
    for (const { output } of accepted) {
      expect(expectAccepted(output).number).toBe(output);
    }
  });
});

describe("randomCarNumber", () => {
  it("builds valid type 1 numbers", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 5, maxLength: 5 }), (values) => {
        let call = 0;
        const seeded = (maxExclusive: number) => (values[call++] ?? 0) % maxExclusive;
        const number = randomCarNumber(seeded);

        const plate = expectAccepted(number);
        expect(plate.number).toBe(number);
        expect(plate.type).toBe("CAR");
        expect(findRegion(plate.regionCode)?.status).toBe("current");
        expect(call).toBe(5);
      }),
      { numRuns: 2000 },
    );
  });

  it("covers the smallest and largest choices", () => {
    expect(randomCarNumber(() => 0)).toBe(`А001АА${currentRegionCodes[0]}`);
    expect(randomCarNumber((maxExclusive) => maxExclusive - 1)).toBe(`Х999ХХ${currentRegionCodes.at(-1)}`);
  });

  it.each([-1, 12, 0.5, Number.NaN])("rejects random value %d", (value) => {
    expect(() => randomCarNumber(() => value)).toThrow(RangeError);
  });
});
