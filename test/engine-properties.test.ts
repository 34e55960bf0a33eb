import fc from "fast-check";
import { describe, it, expect } from "vitest";

import { describePlate } from "../src/plate/describe.ts";
import { checkSeries, generatableTypes, randomPlateNumber, regionCodesFor } from "../src/plate/generate.ts";
import { normalizePlate, platePatterns, plateReadings, plateTypes } from "../src/plate/normalize.ts";
import type { NormalizeOptions, PlateErrorReason, PlateType } from "../src/plate/normalize.ts";
import { findRegion, regions } from "../src/plate/regions.ts";

const allReasons: readonly PlateErrorReason[] = [
  "EMPTY",
  "INVALID_CHARACTER",
  "INVALID_FORMAT",
  "ZERO_SEQUENCE",
  "REGION_LEADING_ZERO",
  "UNKNOWN_REGION",
];

// Ways people type each kind of slot: the symbol itself, lower case, Latin twins, О for 0 and
// the other way round, and the digit lookalikes З and I.
const typedLetters = Array.from("АВЕКМНОРСТУХавекмнорстухABEKMHOPCTYXabekmhopctyx0");
const typedDigits = Array.from("01234567890123456789ОoOIiЗз");
const typedFixed: Readonly<Record<string, readonly string[]>> = { c: ["С", "с", "C", "c"], d: ["D", "d"], t: ["Т", "т", "T", "t"] };
const regionCodes = [...regions.map((region) => region.code), "00", "000", "014", "100", "999"];

/** Builds inputs shaped like a random pattern, with typing variants, separators and a trailing RUS. */
function plateLikeInput(): fc.Arbitrary<string> {
  const gap = fc.constantFrom("", "", "", " ", "-", ".", "_", " - ");
  return fc.constantFrom(...platePatterns).chain(({ pattern }) => {
    const groups = pattern.match(/L+|N+|K+|R+|F+|[cdt]+/g) ?? [];
    const group = (slots: string) => {
      if (/^R+$/.test(slots)) {
        return fc.constantFrom(...regionCodes.filter((code) => code.length === slots.length), "7О", "1ЗЗ");
      }
      const slot = (kind: string) =>
        fc.constantFrom(...(kind === "L" ? typedLetters : (typedFixed[kind] ?? typedDigits)));
      return fc.tuple(...Array.from(slots, slot)).map((characters) => characters.join(""));
    };
    return fc
      .tuple(fc.tuple(...groups.map((slots) => fc.tuple(group(slots), gap))), fc.constantFrom("", "", " RUS", "рус"))
      .map(([parts, suffix]) => parts.map(([text, separator], index) => (index === 0 ? text : separator + text)).join("") + suffix);
  });
}

const preferredTypes = fc.array(fc.constantFrom(...plateTypes), { maxLength: 3 });

const options: fc.Arbitrary<NormalizeOptions | undefined> = fc.option(
  preferredTypes.map((types) => ({ preferredTypes: types })),
  { nil: undefined },
);

function expectSameReading(input: string, type: PlateType, number: string) {
  const result = normalizePlate(input, { preferredTypes: [type] });
  expect(result.ok ? [result.plate.type, result.plate.number] : result.error.message, JSON.stringify(input)).toEqual([type, number]);
}

describe("engine properties", () => {
  it("accepts many plate-like inputs", () => {
    const samples = fc.sample(plateLikeInput(), { numRuns: 2000, seed: 1 });
    const accepted = samples.filter((input) => normalizePlate(input).ok);
    expect(accepted.length).toBeGreaterThan(200);
  });

  it("reads the canonical form to itself", () => {
    fc.assert(
      fc.property(plateLikeInput(), options, (input, given) => {
        const result = normalizePlate(input, given);
        if (!result.ok) {
          return;
        }
        const { number, type, regionCode } = result.plate;
        const again = normalizePlate(number, { preferredTypes: [type] });
        expect(again).toEqual({ ok: true, plate: { number, type, regionCode } });
        if (!/[-._]/.test(input)) {
          // Without separators, which can rule out readings, the same options give the same result.
          expect(normalizePlate(number, given)).toEqual(result);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("lists the chosen reading first", () => {
    fc.assert(
      fc.property(plateLikeInput(), options, (input, given) => {
        const result = normalizePlate(input, given);
        const readings = plateReadings(input, given);
        expect(readings[0]).toEqual(result.ok ? result.plate : undefined);
        expect(new Set(readings.map((plate) => `${plate.type} ${plate.number}`)).size).toBe(readings.length);
      }),
      { numRuns: 3000 },
    );
  });

  it("reads display and Latin forms back", () => {
    fc.assert(
      fc.property(plateLikeInput(), options, (input, given) => {
        const result = normalizePlate(input, given);
        if (!result.ok) {
          return;
        }
        const details = describePlate(result.plate);
        expectSameReading(details.displayNumber, details.type, details.number);
        expectSameReading(details.latinNumber, details.type, details.number);
        expectSameReading(details.latinNumber.toLowerCase(), details.type, details.number);
        expect(details.latinNumber).toMatch(/^[0-9ABCDEHKMOPTXY]+$/);
        expect(details.number).toMatch(/^[0-9АВЕКМНОРСТУХD]+$/);
      }),
      { numRuns: 5000 },
    );
  });

  it("validates every generated number", () => {
    const draw = fc
      .constantFrom(...generatableTypes)
      .chain((type) => fc.tuple(fc.constant(type), fc.constantFrom(...regionCodesFor(type)), fc.array(fc.nat(), { minLength: 12, maxLength: 12 })));
    fc.assert(
      fc.property(draw, ([type, regionCode, values]) => {
        let call = 0;
        const seeded = (maxExclusive: number) => (values[call++ % values.length] ?? 0) % maxExclusive;
        const number = randomPlateNumber(type, regionCode, seeded);

        expectSameReading(number, type, number);
        const details = describePlate({ number, type, regionCode });
        expect(details.regionCode).toBe(regionCode);
        expect(checkSeries(type, details.series)).toBeUndefined();

        const ofSeries = randomPlateNumber(type, regionCode, seeded, details.series);
        expectSameReading(ofSeries, type, ofSeries);
        expect(describePlate({ number: ofSeries, type, regionCode }).series).toBe(details.series);
      }),
      { numRuns: 5000 },
    );
  });

  it("returns a result or a reason for any Unicode string", () => {
    const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
    const input = fc.oneof(
      fc.string({ unit: "binary" }),
      fc.string({ unit: "grapheme" }),
      fc.string({ unit: anyCodeUnit }),
      plateLikeInput(),
      fc.tuple(plateLikeInput(), fc.string({ unit: "binary", maxLength: 2 }), fc.nat()).map(
        ([text, noise, at]) => text.slice(0, at % (text.length + 1)) + noise + text.slice(at % (text.length + 1)),
      ),
    );
    fc.assert(
      fc.property(input, options, (text, given) => {
        const result = normalizePlate(text, given);
        if (result.ok) {
          const details = describePlate(result.plate);
          if (!details.type.startsWith("MILITARY")) {
            expect(findRegion(details.regionCode)).toBeDefined();
          }
          return;
        }
        const { error } = result;
        expect(allReasons).toContain(error.reason);
        expect(error.message).not.toBe("");
        expect(error.messageRu).not.toBe("");
        if (error.reason === "INVALID_CHARACTER") {
          const position = error.position ?? -1;
          expect(String.fromCodePoint(text.codePointAt(position) ?? -1)).toBe(error.character);
        }
        if (error.reason === "INVALID_FORMAT") {
          expect(error.mask).toMatch(/^[X9*]{1,18}…?$/);
        }
      }),
      { numRuns: 10000 },
    );
  });
});
