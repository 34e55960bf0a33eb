import directory from "./regions.json" with { type: "json" };

/**
 * Whether new plates are issued with a code (`current`) or only old plates still carry it
 * (`legacy`, such as Chechnya's code 20, replaced by 95 in 2000).
 */
export type RegionStatus = "current" | "legacy";

/** A region code used on Russian registration plates, with the subject it is assigned to now. */
export interface Region {
  /** Two or three digits as printed on the plate, for example "77" or "177". */
  readonly code: string;
  /** Name of the subject in Russian, for example "Москва". */
  readonly nameRu: string;
  /** Name of the subject in English, for example "Moscow". */
  readonly nameEn: string;
  readonly status: RegionStatus;
}

/** Source of the directory: repository, file, snapshot date and the official list it reconstructs. */
export const regionDirectorySource: string = directory.source;

/** Date (YYYY-MM-DD) of the source snapshot behind the directory. */
export const regionDirectoryDate: string = directory.date;

/** Every region code in the directory, in the order of regions.json. */
export const regions: readonly Region[] = directory.regions.map(toRegion);

const regionsByCode: ReadonlyMap<string, Region> = new Map(
  regions.map((region) => [region.code, region]),
);

/** Codes of the regions whose status is `current`, the ones new plates are issued with. */
export const currentRegionCodes: readonly string[] = regions
  .filter((region) => region.status === "current")
  .map((region) => region.code);

/**
 * Looks up a region by its exact plate code ("07", not "7"). Returns undefined when the code is
 * not in the directory.
 */
export function findRegion(code: string): Region | undefined {
  return regionsByCode.get(code);
}

function toRegion(entry: { code: string; nameRu: string; nameEn: string; status: string }): Region {
  if (entry.status !== "current" && entry.status !== "legacy") {
    throw new Error(
      `invalid region directory entry ${entry.code}: status "${entry.status}" is neither "current" nor "legacy"`,
    );
  }

  return Object.freeze({
    code: entry.code,
    nameRu: entry.nameRu,
    nameEn: entry.nameEn,
    status: entry.status,
  });
}
