import { describe, it, expect } from "vitest";

import { currentRegionCodes, findRegion, regionDirectoryDate, regions } from "../src/plate/regions.ts";

describe("findRegion", () => {
  it.each([
    ["77", "Москва", "Moscow"],
    ["177", "Москва", "Moscow"],
    ["82", "Республика Крым", "Republic of Crimea"],
    ["91", "Калининградская область", "Kaliningrad Oblast"],
    ["95", "Чеченская республика", "Chechen Republic"],
    ["01", "Республика Адыгея", "Republic of Adygea"],
  ])("finds code %s", (code, nameRu, nameEn) => {
    const region = findRegion(code);
    expect(region?.code).toBe(code);
    expect(region?.nameRu).toBe(nameRu);
    expect(region?.nameEn).toBe(nameEn);
    expect(region?.status).toBe("current");
  });

  it("marks retired code 20 as legacy", () => {
    expect(findRegion("20")?.status).toBe("legacy");
    expect(currentRegionCodes).not.toContain("20");
  });

  it.each(["00", "000", "109", "139", "169", "192", "1", "7", "077", "999", "", " 77", "77 "])(
    "finds nothing for %j",
    (code) => {
      expect(findRegion(code)).toBeUndefined();
    },
  );
});

describe("region directory", () => {
  it("contains 174 current codes and 1 legacy code", () => {
    expect(regions).toHaveLength(175);
    expect(currentRegionCodes).toHaveLength(174);
    expect(regionDirectoryDate).toBe("2026-06-22");
  });

  it("has no duplicate codes", () => {
    const codes = regions.map((region) => region.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it("has only valid code shapes", () => {
    for (const region of regions) {
      expect(region.code, region.code).toMatch(/^\d{2,3}$/);
      if (region.code.length === 3) {
        expect(region.code.startsWith("0"), region.code).toBe(false);
      }
      expect(region.code, region.code).not.toMatch(/^0+$/);
    }
  });

  it("names every region in both languages", () => {
    for (const region of regions) {
      expect(region.nameRu.trim(), region.code).not.toBe("");
      expect(region.nameEn.trim(), region.code).not.toBe("");
    }
  });

  it("lists every 2-digit code except 00 and 20 as current", () => {
    for (let value = 1; value <= 99; value++) {
      const code = String(value).padStart(2, "0");
      expect(findRegion(code), code).toBeDefined();
      if (code !== "20") {
        expect(currentRegionCodes, code).toContain(code);
      }
    }
  });
});
