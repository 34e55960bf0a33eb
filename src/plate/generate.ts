import { plateLetters } from "./normalize.ts";
import { currentRegionCodes } from "./regions.ts";

/**
 * Builds a random type 1 car plate number in canonical form, such as "А123ВС77": one plate
 * letter, a registration number from 001 to 999 (000 is not issued), two plate letters and a
 * region code with status current.
 *
 * `randomInt(maxExclusive)` must return an integer in [0, maxExclusive); pass `crypto.randomInt`
 * in production and a seeded function in tests. Throws a RangeError when it returns anything else.
 */
export function randomCarNumber(randomInt: (maxExclusive: number) => number): string {
  const series = [pickLetter(randomInt), pickLetter(randomInt), pickLetter(randomInt)];
  const registrationNumber = String(pickIndex(randomInt, 999) + 1).padStart(3, "0");
  const regionCode = currentRegionCodes[pickIndex(randomInt, currentRegionCodes.length)];
  if (regionCode === undefined) {
    throw new RangeError("cannot generate a plate number: the region directory has no current code");
  }

  return `${series[0]}${registrationNumber}${series[1]}${series[2]}${regionCode}`;
}

function pickLetter(randomInt: (maxExclusive: number) => number): string {
  return plateLetters.charAt(pickIndex(randomInt, plateLetters.length));
}

function pickIndex(randomInt: (maxExclusive: number) => number, maxExclusive: number): number {
  const value = randomInt(maxExclusive);
  if (!Number.isInteger(value) || value < 0 || value >= maxExclusive) {
    throw new RangeError(
      `invalid random value ${value}: randomInt(${maxExclusive}) must return an integer from 0 to ${maxExclusive - 1}`,
    );
  }
  return value;
}
