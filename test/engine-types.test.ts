import { describe, it, expect } from "vitest";

import { describePlate, parsePlate, plateRegion } from "../src/plate/describe.ts";
import { normalizePlate, plateReadings, plateTypes } from "../src/plate/normalize.ts";
import type { NormalizeOptions, PlateErrorReason, PlateType } from "../src/plate/normalize.ts";

interface ValidCase {
  input: string;
  type: PlateType;
  number: string;
  regionCode: string;
  series: string;
  serialNumber: string;
  preferred?: PlateType;
}

// At least one valid example of every type. Types whose shape another type reads first are
// given with that type preferred.
const validCases: ValidCase[] = [
  { input: "А123ВС77", type: "CAR", number: "А123ВС77", regionCode: "77", series: "АВС", serialNumber: "123" },
  { input: "в 001 ор 777", type: "CAR", number: "В001ОР777", regionCode: "777", series: "ВОР", serialNumber: "001" },
  { input: "АВ123 77", type: "TAXI", number: "АВ12377", regionCode: "77", series: "АВ", serialNumber: "123" },
  { input: "ав 123 177", type: "TAXI", number: "АВ123177", regionCode: "177", series: "АВ", serialNumber: "123" },
  { input: "АВ1234 77", type: "TRAILER", number: "АВ123477", regionCode: "77", series: "АВ", serialNumber: "1234" },
  { input: "АВ1234 750", type: "TRAILER", number: "АВ1234750", regionCode: "750", series: "АВ", serialNumber: "1234" },
  { input: "АВ1231 77", type: "TRAILER", number: "АВ123177", regionCode: "77", series: "АВ", serialNumber: "1231", preferred: "TRAILER" },
  { input: "1234 АВ 77", type: "TRACTOR", number: "1234АВ77", regionCode: "77", series: "АВ", serialNumber: "1234" },
  { input: "1234 АВ 77", type: "MOTORCYCLE", number: "1234АВ77", regionCode: "77", series: "АВ", serialNumber: "1234", preferred: "MOTORCYCLE" },
  { input: "ММ55АА77", type: "MOPED", number: "ММ55АА77", regionCode: "77", series: "ММАА", serialNumber: "55" },
  { input: "ММ22АА777", type: "MOPED", number: "ММ22АА777", regionCode: "777", series: "ММАА", serialNumber: "22" },
  { input: "АВ123С77", type: "TRANSIT", number: "АВ123С77", regionCode: "77", series: "АВС", serialNumber: "123" },
  { input: "АВ123С 177", type: "TRANSIT", number: "АВ123С177", regionCode: "177", series: "АВС", serialNumber: "123" },
  { input: "А1234 77", type: "POLICE", number: "А123477", regionCode: "77", series: "А", serialNumber: "1234" },
  { input: "123 А 77", type: "POLICE_TRAILER", number: "123А77", regionCode: "77", series: "А", serialNumber: "123" },
  { input: "1234 А 77", type: "POLICE_MOTORCYCLE", number: "1234А77", regionCode: "77", series: "А", serialNumber: "1234" },
  { input: "004 CD 1 77", type: "DIPLOMATIC", number: "004СD177", regionCode: "77", series: "СD", serialNumber: "1" },
  { input: "004 D 123 77", type: "DIPLOMATIC", number: "004D12377", regionCode: "77", series: "D", serialNumber: "123" },
  { input: "511 t 001 78", type: "DIPLOMATIC", number: "511Т00178", regionCode: "78", series: "Т", serialNumber: "001" },
  { input: "1234 АВ 45", type: "MILITARY", number: "1234АВ45", regionCode: "45", series: "АВ", serialNumber: "1234", preferred: "MILITARY" },
  { input: "АВ 1234 10", type: "MILITARY_TRAILER", number: "АВ123410", regionCode: "10", series: "АВ", serialNumber: "1234", preferred: "MILITARY_TRAILER" },
];

interface InvalidCase {
  input: string;
  reason: PlateErrorReason;
  /** Type of the reading that broke a rule, for the rule reasons. */
  type?: PlateType;
  preferred?: PlateType;
}

// Every reason, and for the rule reasons every type where the rule can fail. Where a zero may be
// read as О, the most preferred reading is another type unless the type is preferred.
// UNKNOWN_REGION needs a 3-digit code, because every 2-digit code from 01 to 99 is in the directory.
const invalidCases: InvalidCase[] = [
  { input: "", reason: "EMPTY" },
  { input: " \t ", reason: "EMPTY" },
  { input: "- . _", reason: "EMPTY" },
  { input: "Б123ВС77", reason: "INVALID_CHARACTER" },
  { input: "А1-23ВС77", reason: "INVALID_CHARACTER" },
  { input: "З123ВС77", reason: "INVALID_CHARACTER" },
  { input: "004Д12377", reason: "INVALID_CHARACTER" },
  { input: "А12ВС77", reason: "INVALID_FORMAT" },
  { input: "АВ12345677", reason: "INVALID_FORMAT" },
  { input: "004 CD 12 77", reason: "INVALID_FORMAT" },
  { input: "А000ВС77", reason: "ZERO_SEQUENCE", type: "CAR" },
  { input: "А123ВС00", reason: "ZERO_SEQUENCE", type: "CAR" },
  { input: "АВ000 77", reason: "ZERO_SEQUENCE", type: "TAXI" },
  { input: "АВ0000 777", reason: "ZERO_SEQUENCE", type: "TRAILER" },
  { input: "0000 АВ 77", reason: "ZERO_SEQUENCE", type: "CAR" },
  { input: "0000 АВ 77", reason: "ZERO_SEQUENCE", type: "TRACTOR", preferred: "TRACTOR" },
  { input: "0000 АВ 77", reason: "ZERO_SEQUENCE", type: "MOTORCYCLE", preferred: "MOTORCYCLE" },
  { input: "АВ00ВС77", reason: "ZERO_SEQUENCE", type: "MOPED" },
  { input: "АВ000С77", reason: "ZERO_SEQUENCE", type: "MOPED" },
  { input: "АВ000С77", reason: "ZERO_SEQUENCE", type: "TRANSIT", preferred: "TRANSIT" },
  { input: "А0000 77", reason: "ZERO_SEQUENCE", type: "TAXI" },
  { input: "А0000 77", reason: "ZERO_SEQUENCE", type: "POLICE", preferred: "POLICE" },
  { input: "000А77", reason: "ZERO_SEQUENCE", type: "POLICE_TRAILER" },
  { input: "0000А77", reason: "ZERO_SEQUENCE", type: "POLICE_MOTORCYCLE" },
  { input: "000 D 123 77", reason: "ZERO_SEQUENCE", type: "DIPLOMATIC" },
  { input: "004 D 000 77", reason: "ZERO_SEQUENCE", type: "DIPLOMATIC" },
  { input: "004 CD 0 77", reason: "ZERO_SEQUENCE", type: "DIPLOMATIC" },
  { input: "1234 АВ 00", reason: "ZERO_SEQUENCE", type: "MILITARY", preferred: "MILITARY" },
  { input: "АВ 1234 00", reason: "ZERO_SEQUENCE", type: "MILITARY_TRAILER", preferred: "MILITARY_TRAILER" },
  { input: "А123ВС077", reason: "REGION_LEADING_ZERO", type: "CAR" },
  { input: "АВ1234 077", reason: "REGION_LEADING_ZERO", type: "TRAILER" },
  { input: "АВ12ВС 077", reason: "REGION_LEADING_ZERO", type: "MOPED" },
  { input: "АВ123С 077", reason: "REGION_LEADING_ZERO", type: "TRANSIT" },
  { input: "А123ВС100", reason: "UNKNOWN_REGION", type: "CAR" },
  { input: "АВ123 100", reason: "UNKNOWN_REGION", type: "TAXI" },
  { input: "АВ1234 999", reason: "UNKNOWN_REGION", type: "TRAILER" },
  { input: "АВ12ВС 999", reason: "UNKNOWN_REGION", type: "MOPED" },
  { input: "АВ123С 999", reason: "UNKNOWN_REGION", type: "TRANSIT" },
];

function optionsFor(preferred: PlateType | undefined): NormalizeOptions | undefined {
  return preferred === undefined ? undefined : { preferredTypes: [preferred] };
}

describe("engine valid examples", () => {
  it("cover every type", () => {
    expect(new Set(validCases.map((example) => example.type))).toEqual(new Set(plateTypes));
  });

  it.each(validCases)("reads $input as $type $number", (example) => {
    const result = parsePlate(example.input, optionsFor(example.preferred));
    if (!result.ok) {
      expect.fail(`expected ${example.input} to be accepted, got ${result.error.reason}: ${result.error.message}`);
    }
    expect(result.plate.type).toBe(example.type);
    expect(result.plate.number).toBe(example.number);
    expect(result.plate.regionCode).toBe(example.regionCode);
    expect(result.plate.series).toBe(example.series);
    expect(result.plate.serialNumber).toBe(example.serialNumber);
  });
});

describe("engine invalid examples", () => {
  it("cover every reason", () => {
    const reasons = new Set(invalidCases.map((example) => example.reason));
    expect(reasons).toEqual(
      new Set(["EMPTY", "INVALID_CHARACTER", "INVALID_FORMAT", "ZERO_SEQUENCE", "REGION_LEADING_ZERO", "UNKNOWN_REGION"]),
    );
  });

  it("cover the zero rule of every type", () => {
    const types = new Set(invalidCases.filter((example) => example.reason === "ZERO_SEQUENCE").map((example) => example.type));
    expect(types).toEqual(new Set(plateTypes));
  });

  it.each(invalidCases)("rejects $input with $reason of $type", (example) => {
    const result = normalizePlate(example.input, optionsFor(example.preferred));
    if (result.ok) {
      expect.fail(`expected ${example.input} to be rejected, got ${result.plate.type} ${result.plate.number}`);
    }
    expect(result.error.reason).toBe(example.reason);
    expect(result.error.message).not.toBe("");
    expect(result.error.messageRu).toMatch(/[А-Яа-яЁё]/);
    expect(result.error.type).toBe(example.type);
  });
});

describe("engine error details", () => {
  it("gives the position and character of an invalid character", () => {
    const result = normalizePlate(" А12Щ");
    expect(result.ok ? undefined : result.error).toMatchObject({ reason: "INVALID_CHARACTER", position: 4, character: "Щ" });
  });

  it("gives the mask of an invalid format", () => {
    const result = normalizePlate("А12 ВС 7О");
    expect(result.ok ? undefined : result.error).toMatchObject({ reason: "INVALID_FORMAT", mask: "X99XX9*" });
  });

  it("cuts the mask of a long input", () => {
    const result = normalizePlate(`А${"1".repeat(1000)}`);
    expect(result.ok ? undefined : result.error.mask).toBe(`X${"9".repeat(17)}…`);
  });

  it("gives the reading that broke a rule", () => {
    const result = normalizePlate("а123вс100");
    expect(result.ok ? undefined : result.error).toMatchObject({ reason: "UNKNOWN_REGION", number: "А123ВС100", type: "CAR" });
  });

  it("names a formation code of a military reading", () => {
    const result = normalizePlate("1234АВ00", { preferredTypes: ["MILITARY"] });
    expect(result.ok ? "" : result.error.message).toContain('formation code "00"');
  });

  it("names the mission code of a diplomatic reading", () => {
    const result = normalizePlate("000D12377");
    expect(result.ok ? "" : result.error.message).toContain('mission code "000"');
    expect(result.ok ? "" : result.error.messageRu).toContain("«000»");
  });
});

describe("engine choice between readings", () => {
  it.each<[string, PlateType[], PlateType, string]>([
    ["1234АВ77", [], "TRACTOR", "1234АВ77"],
    ["1234АВ77", ["MOTORCYCLE"], "MOTORCYCLE", "1234АВ77"],
    ["1234АВ77", ["MILITARY", "MOTORCYCLE"], "MILITARY", "1234АВ77"],
    ["АВ123177", [], "TAXI", "АВ123177"],
    ["АВ123177", ["TRAILER"], "TRAILER", "АВ123177"],
    ["АВ123177", ["MILITARY_TRAILER"], "MILITARY_TRAILER", "АВ123177"],
    ["АВ123477", [], "TRAILER", "АВ123477"],
    ["АВ123477", ["TAXI"], "TRAILER", "АВ123477"],
    ["о001тр98", [], "CAR", "О001ТР98"],
    ["о001тр98", ["MOPED"], "MOPED", "ОО01ТР98"],
    ["о001тр98", ["TRACTOR"], "TRACTOR", "0001ТР98"],
    ["0123ОО97", [], "CAR", "О123ОО97"],
    ["0123ОО97", ["MOTORCYCLE"], "MOTORCYCLE", "0123ОО97"],
    ["А 0123 77", [], "TAXI", "АО12377"],
    ["А 0123 77", ["POLICE"], "POLICE", "А012377"],
    ["А123ВС77", ["MOPED", "TAXI"], "CAR", "А123ВС77"],
    ["1234АВ77", ["MOTORCYCLE", "MOTORCYCLE", "TRACTOR"], "MOTORCYCLE", "1234АВ77"],
  ])("reads %s with preferred %j as %s", (input, preferredTypes, type, number) => {
    const result = normalizePlate(input, { preferredTypes });
    expect(result.ok ? [result.plate.type, result.plate.number] : result.error.reason).toEqual([type, number]);
  });

  it("reads the same way every time", () => {
    const first = normalizePlate("о001тр98");
    for (let round = 0; round < 100; round++) {
      expect(normalizePlate("о001тр98")).toEqual(first);
    }
  });

  it("reports the rule of the most preferred reading", () => {
    const result = normalizePlate("АВ000077", { preferredTypes: ["TRAILER"] });
    expect(result.ok ? undefined : result.error).toMatchObject({ reason: "ZERO_SEQUENCE", type: "TRAILER" });
  });
});

describe("plateReadings", () => {
  it("lists every valid reading in order", () => {
    const readings = plateReadings("о001тр98").map((plate) => `${plate.type} ${plate.number}`);
    expect(readings).toEqual([
      "CAR О001ТР98",
      "TRACTOR 0001ТР98",
      "MOTORCYCLE 0001ТР98",
      "MOPED ОО01ТР98",
      "MILITARY 0001ТР98",
    ]);
  });

  it("puts preferred types first", () => {
    const readings = plateReadings("АВ123177", { preferredTypes: ["TRAILER"] }).map((plate) => plate.type);
    expect(readings).toEqual(["TRAILER", "TAXI", "MILITARY_TRAILER"]);
  });

  it("leaves out readings that break a rule", () => {
    expect(plateReadings("АВ123477").map((plate) => plate.type)).toEqual(["TRAILER", "MILITARY_TRAILER"]);
  });

  it.each(["", "А12ВС77", "А000ВС77", "З123ВС77", "А1-23ВС77", "Щ"])("returns nothing for %j", (input) => {
    expect(plateReadings(input)).toEqual([]);
  });
});

describe("describePlate", () => {
  it("builds display, Latin and region forms of a car", () => {
    const result = normalizePlate("а123вс777");
    expect(result.ok).toBe(true);
    if (!result.ok) {
      return;
    }
    expect(describePlate(result.plate)).toEqual({
      number: "А123ВС777",
      type: "CAR",
      regionCode: "777",
      displayNumber: "А123ВС 777",
      latinNumber: "A123BC777",
      series: "АВС",
      serialNumber: "123",
      missionCode: "",
      gostType: "1",
      regionName: "Москва",
      regionNameEn: "Moscow",
    });
  });

  it.each<[string, PlateType, string, string]>([
    ["АВ123 77", "TAXI", "АВ123 77", "AB12377"],
    ["АВ1234 77", "TRAILER", "АВ1234 77", "AB123477"],
    ["1234АВ77", "TRACTOR", "1234АВ 77", "1234AB77"],
    ["ММ55АА77", "MOPED", "ММ55АА 77", "MM55AA77"],
    ["АВ123С77", "TRANSIT", "АВ123С 77", "AB123C77"],
    ["У1234 77", "POLICE", "У1234 77", "Y123477"],
    ["004 CD 1 77", "DIPLOMATIC", "004СD1 77", "004CD177"],
    ["004 D 123 77", "DIPLOMATIC", "004D123 77", "004D12377"],
  ])("builds the forms of %s", (input, type, displayNumber, latinNumber) => {
    const result = parsePlate(input);
    expect(result.ok ? result.plate : undefined).toMatchObject({ type, displayNumber, latinNumber });
  });

  it("gives the mission code of a diplomatic plate", () => {
    const result = parsePlate("004 D 123 77");
    expect(result.ok ? result.plate.missionCode : undefined).toBe("004");
  });

  it("gives no region name for a formation code", () => {
    const result = parsePlate("1234АВ77", { preferredTypes: ["MILITARY"] });
    expect(result.ok ? result.plate : undefined).toMatchObject({ regionCode: "77", regionName: "", regionNameEn: "" });
  });

  it("names the legacy region 20", () => {
    const result = parsePlate("А123ВС20");
    expect(result.ok ? result.plate.regionName : undefined).toBe("Чеченская Республика");
  });

  it("looks up regions of civil types only", () => {
    expect(plateRegion("CAR", "45")?.nameEn).toBe("Kurgan Oblast");
    expect(plateRegion("MILITARY", "45")).toBeUndefined();
    expect(plateRegion("MILITARY_TRAILER", "45")).toBeUndefined();
    expect(plateRegion("CAR", "100")).toBeUndefined();
  });

  it("rejects a number that fits no pattern of its type", () => {
    expect(() => describePlate({ number: "А123ВС77", type: "TAXI", regionCode: "77" })).toThrow(RangeError);
  });
});
