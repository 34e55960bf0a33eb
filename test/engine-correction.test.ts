import { describe, it, expect } from "vitest";

import { normalizePlate } from "../src/plate/normalize.ts";
import type { PlateType } from "../src/plate/normalize.ts";

function read(input: string): string {
  const result = normalizePlate(input);
  return result.ok ? result.plate.number : `${result.error.reason} at ${result.error.position ?? "-"}`;
}

describe("correction of separators", () => {
  it.each([
    ["А-123-ВС-77", "А123ВС77"],
    ["А.123.ВС.77", "А123ВС77"],
    ["А_123_ВС_77", "А123ВС77"],
    ["А123ВС-77", "А123ВС77"],
    ["А 123 ВС - 77", "А123ВС77"],
    ["А–123–ВС–77", "А123ВС77"],
    ["А\u2011123\u2011ВС\u201177", "А123ВС77"],
    ["А−123−ВС−77", "А123ВС77"],
    ["А--123ВС77", "А123ВС77"],
    ["АВ-123-77", "АВ12377"],
    ["004-CD-1-77", "004СD177"],
  ])("reads %j as %s", (input, number) => {
    expect(read(input)).toBe(number);
  });

  it.each<[string, number]>([
    ["А1-23ВС77", 2],
    ["А123В-С77", 5],
    ["А123ВС7-7", 7],
    ["-А123ВС77", 0],
    ["А123ВС77.", 8],
    ["А123ВС77 _", 9],
  ])("rejects the separator in %j at %i", (input, position) => {
    const result = normalizePlate(input);
    expect(result.ok ? "accepted" : result.error.reason).toBe("INVALID_CHARACTER");
    expect(result.ok ? undefined : result.error.position).toBe(position);
    expect(result.ok ? "" : result.error.messageRu).toContain("между группами");
  });

  it("lets separators choose between readings", () => {
    const taxi = normalizePlate("АВ123-177");
    const trailer = normalizePlate("АВ1231-77");
    expect(taxi.ok ? [taxi.plate.type, taxi.plate.regionCode] : undefined).toEqual(["TAXI", "177"]);
    expect(trailer.ok ? [trailer.plate.type, trailer.plate.regionCode] : undefined).toEqual(["TRAILER", "77"]);
  });
});

describe("correction of a trailing RUS", () => {
  it.each([
    ["А123ВС77RUS", "А123ВС77"],
    ["А123ВС77 RUS", "А123ВС77"],
    ["а123вс777 rus ", "А123ВС777"],
    ["А123ВС77-RUS", "А123ВС77"],
    ["А123ВС77Rus", "А123ВС77"],
    ["А123ВС77РУС", "А123ВС77"],
    ["а123вс77 рус", "А123ВС77"],
    ["А123ВС77PYC", "А123ВС77"],
    ["АВ1234 77 RUS", "АВ123477"],
    ["А123ВСО7RUS", "А123ВС07"],
  ])("reads %j as %s", (input, number) => {
    expect(read(input)).toBe(number);
  });

  it.each([
    ["RUS", "INVALID_CHARACTER at 0"],
    ["RUSА123ВС77", "INVALID_CHARACTER at 0"],
    ["А123ВС77RU", "INVALID_CHARACTER at 8"],
    ["А123ВС77RUSS", "INVALID_CHARACTER at 8"],
    ["А123ВС77 RUS RUS", "INVALID_CHARACTER at 9"],
    ["А123ВСRUS", "INVALID_CHARACTER at 6"],
    ["А123ВС77RУС", "INVALID_CHARACTER at 8"],
  ])("rejects %j", (input, outcome) => {
    expect(read(input)).toBe(outcome);
  });

  it("does not strip РУС after a letter", () => {
    const result = normalizePlate("А123ВСРУС");
    expect(result.ok ? "accepted" : result.error.mask).toBe("X999XXXXX");
  });
});

describe("correction of Latin lookalikes", () => {
  it.each([
    ["A123BC77", "А123ВС77"],
    ["a123bc77", "А123ВС77"],
    ["E001KX177", "Е001КХ177"],
    ["h555mp50", "Н555МР50"],
    ["o123ty97", "О123ТУ97"],
    ["X777XX77", "Х777ХХ77"],
    ["А123Вc77", "А123ВС77"],
  ])("reads %j as %s", (input, number) => {
    expect(read(input)).toBe(number);
  });

  it.each([
    ["D123ВС77", "INVALID_FORMAT at -"],
    ["Г123ВС77", "INVALID_CHARACTER at 0"],
    ["R123ВС77", "INVALID_CHARACTER at 0"],
    ["Д123ВС77", "INVALID_CHARACTER at 0"],
  ])("does not map %j by sound", (input, outcome) => {
    expect(read(input)).toBe(outcome);
  });
});

describe("correction of О and 0", () => {
  it.each<[string, string, PlateType]>([
    ["0123АВ77", "О123АВ77", "CAR"],
    ["А1О0ВС77", "А100ВС77", "CAR"],
    ["А100ВСО7", "А100ВС07", "CAR"],
    ["ОО 1234 77", "ОО123477", "TRAILER"],
    ["ОО12ВС 77", "О012ВС77", "CAR"],
  ])("reads %j as %s", (input, number, type) => {
    const result = normalizePlate(input);
    expect(result.ok ? [result.plate.number, result.plate.type] : result.error.reason).toEqual([number, type]);
  });
});

describe("correction of З and I", () => {
  it.each([
    ["А12З ВС77", "А123ВС77"],
    ["АI23ВС77", "А123ВС77"],
    ["Аi2iВС77", "А121ВС77"],
    ["А123ВС7з", "А123ВС73"],
    ["1234АВ7З", "1234АВ73"],
    ["ЗЗЗЗ АВ 77", "INVALID_CHARACTER at 0"],
    ["З123ВС77", "INVALID_CHARACTER at 0"],
    ["I123ВС77", "INVALID_CHARACTER at 0"],
    ["А123ЗС77", "INVALID_CHARACTER at 4"],
    ["А123ВI77", "INVALID_CHARACTER at 5"],
  ])("reads %j as %s", (input, outcome) => {
    expect(read(input)).toBe(outcome);
  });

  it("reads З as 3 where a preferred type has a digit", () => {
    const result = normalizePlate("З123ВС77", { preferredTypes: ["TRACTOR"] });
    expect(result.ok ? [result.plate.type, result.plate.number] : result.error.reason).toEqual(["TRACTOR", "3123ВС77"]);
  });

  it("explains the rejected lookalike", () => {
    const result = normalizePlate("З123ВС77");
    expect(result.ok ? undefined : result.error).toMatchObject({ position: 0, character: "З" });
    expect(result.ok ? "" : result.error.message).toContain("digit 3");
    expect(result.ok ? "" : result.error.messageRu).toContain("цифра 3");
  });

  it("shows З and I as digits in a format mask", () => {
    const result = normalizePlate("ЗI");
    expect(result.ok ? undefined : result.error.mask).toBe("99");
  });
});
