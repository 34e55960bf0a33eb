import { describe, it, expect } from "vitest";

import {
  checkSeries,
  diplomaticMissionCodes,
  generatableTypes,
  numberSpaceSize,
  randomPlateNumber,
  regionCodesFor,
} from "../src/plate/generate.ts";
import { normalizePlate, plateTypes } from "../src/plate/normalize.ts";
import type { PlateType } from "../src/plate/normalize.ts";
import { currentRegionCodes } from "../src/plate/regions.ts";

const lowest = () => 0;
const highest = (maxExclusive: number) => maxExclusive - 1;

describe("generatableTypes", () => {
  it("lists every type", () => {
    expect([...generatableTypes].sort()).toEqual([...plateTypes].sort());
  });
});

describe("regionCodesFor", () => {
  it("gives every current code for cars", () => {
    expect(regionCodesFor("CAR")).toEqual(currentRegionCodes);
  });

  it.each<PlateType>(["TRACTOR", "MOTORCYCLE", "POLICE", "POLICE_TRAILER", "POLICE_MOTORCYCLE", "DIPLOMATIC"])(
    "gives 2-digit codes for %s",
    (type) => {
      const codes = regionCodesFor(type);
      expect(codes.every((code) => code.length === 2)).toBe(true);
      expect(codes).toContain("77");
      expect(codes).not.toContain("20");
    },
  );

  it.each<PlateType>(["MILITARY", "MILITARY_TRAILER"])("gives formation codes 01 to 99 for %s", (type) => {
    const codes = regionCodesFor(type);
    expect(codes).toHaveLength(99);
    expect(codes[0]).toBe("01");
    expect(codes.at(-1)).toBe("99");
  });
});

describe("checkSeries", () => {
  it.each<[PlateType, string]>([
    ["CAR", "АВС"],
    ["CAR", "abc"],
    ["CAR", " А В С "],
    ["TAXI", "ММ"],
    ["MOPED", "ММАА"],
    ["TRANSIT", "АВС"],
    ["POLICE", "у"],
    ["DIPLOMATIC", "CD"],
    ["DIPLOMATIC", "сd"],
    ["DIPLOMATIC", "D"],
    ["DIPLOMATIC", "T"],
    ["MILITARY", "ОО"],
  ])("accepts %s series %j", (type, series) => {
    expect(checkSeries(type, series)).toBeUndefined();
  });

  it.each<[PlateType, string, string]>([
    ["CAR", "", "use only the plate letters"],
    ["CAR", "АВ", "expected letters like АВС"],
    ["CAR", "АВ1", "use only the plate letters"],
    ["CAR", "АБВ", "use only the plate letters"],
    ["CAR", "АВD", "expected letters like АВС"],
    ["TAXI", "АВС", "expected letters like АВ"],
    ["DIPLOMATIC", "АВ", "expected letters like СD or D or Т"],
    ["DIPLOMATIC", "DC", "expected letters like"],
  ])("rejects %s series %j", (type, series, message) => {
    expect(checkSeries(type, series)).toContain(message);
  });
});

describe("numberSpaceSize", () => {
  it.each<[PlateType, string | undefined, number]>([
    ["CAR", undefined, 1_726_272],
    ["CAR", "АВС", 999],
    ["TAXI", undefined, 144 * 999],
    ["TRAILER", undefined, 144 * 9999],
    ["TRACTOR", "АВ", 9999],
    ["MOPED", undefined, 12 ** 4 * 99],
    ["MOPED", "ММАА", 99],
    ["TRANSIT", undefined, 12 ** 3 * 999],
    ["POLICE", undefined, 12 * 9999],
    ["POLICE_TRAILER", "А", 999],
    ["MILITARY_TRAILER", undefined, 144 * 9999],
    ["DIPLOMATIC", undefined, diplomaticMissionCodes.length * (9 + 999 + 999)],
    ["DIPLOMATIC", "CD", diplomaticMissionCodes.length * 9],
    ["DIPLOMATIC", "T", diplomaticMissionCodes.length * 999],
  ])("counts %s series %s as %i", (type, series, size) => {
    expect(numberSpaceSize(type, series)).toBe(size);
  });

  it("treats an empty series as any series", () => {
    expect(numberSpaceSize("CAR", "")).toBe(numberSpaceSize("CAR"));
  });

  it("rejects an invalid series", () => {
    expect(() => numberSpaceSize("CAR", "АВ")).toThrow(RangeError);
  });
});

describe("randomPlateNumber", () => {
  it.each<[PlateType, string, string | undefined, string, string]>([
    ["CAR", "77", undefined, "А001АА77", "Х999ХХ77"],
    ["CAR", "777", "ВОР", "В001ОР777", "В999ОР777"],
    ["TAXI", "77", undefined, "АА00177", "ХХ99977"],
    ["TRAILER", "750", undefined, "АА0001750", "ХХ9999750"],
    ["TRACTOR", "77", undefined, "0001АА77", "9999ХХ77"],
    ["MOPED", "77", undefined, "АА01АА77", "ХХ99ХХ77"],
    ["TRANSIT", "77", undefined, "АА001А77", "ХХ999Х77"],
    ["POLICE", "77", undefined, "А000177", "Х999977"],
    ["POLICE_TRAILER", "77", "у", "001У77", "999У77"],
    ["POLICE_MOTORCYCLE", "77", undefined, "0001А77", "9999Х77"],
    ["MILITARY", "45", undefined, "0001АА45", "9999ХХ45"],
    ["MILITARY_TRAILER", "10", undefined, "АА000110", "ХХ999910"],
    ["DIPLOMATIC", "77", undefined, "001СD177", "900Т99977"],
    ["DIPLOMATIC", "78", "d", "001D00178", "900D99978"],
  ])("draws %s in %s of series %s from %s to %s", (type, regionCode, series, first, last) => {
    expect(randomPlateNumber(type, regionCode, lowest, series)).toBe(first);
    expect(randomPlateNumber(type, regionCode, highest, series)).toBe(last);
  });

  it("maps every random draw to a distinct number", () => {
    // A draw for DIPLOMATIC of series CD is the mission code index, then the digit.
    const numbers = new Set<string>();
    for (let mission = 0; mission < diplomaticMissionCodes.length; mission++) {
      for (let digit = 0; digit < 9; digit++) {
        const draws = [mission, digit];
        let call = 0;
        numbers.add(randomPlateNumber("DIPLOMATIC", "77", () => draws[call++] ?? 0, "CD"));
      }
    }
    expect(numbers.size).toBe(numberSpaceSize("DIPLOMATIC", "CD"));
    for (const number of numbers) {
      expect(normalizePlate(number).ok, number).toBe(true);
    }
  });

  it.each<[PlateType, string]>([
    ["CAR", "20"],
    ["CAR", "100"],
    ["CAR", "7"],
    ["TRACTOR", "177"],
    ["POLICE", "777"],
    ["MILITARY", "00"],
    ["MILITARY", "100"],
  ])("rejects %s in region %j", (type, regionCode) => {
    expect(() => randomPlateNumber(type, regionCode, lowest)).toThrow(RangeError);
  });

  it("rejects an invalid series", () => {
    expect(() => randomPlateNumber("CAR", "77", lowest, "АБВ")).toThrow(RangeError);
  });

  it.each([-1, 0.5, Number.NaN, 12])("rejects random value %d", (value) => {
    expect(() => randomPlateNumber("CAR", "77", () => value)).toThrow(RangeError);
  });
});
