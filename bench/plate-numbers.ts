// Letters that Russian plates use, the same twelve as plateLetters in src/plate/normalize.ts.
const letters = "АВЕКМНОРСТУХ";
// Region codes of Moscow and the Moscow region, all in the region directory.
const regionCodes = ["77", "97", "99", "177", "197", "199", "777", "797", "799", "50", "90", "150", "190", "750", "790"];
const serialsPerRegion = 999 * letters.length ** 3;

/**
 * Returns the type 1 car number (letter, 3 digits, 2 letters, region) at
 * `index`. Distinct indexes below 15 × 999 × 12³ (25,894,080) give distinct
 * valid numbers, so loads of Add that use separate ranges never collide.
 */
export function plateNumberAt(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0 || index >= serialsPerRegion * regionCodes.length) {
    throw new RangeError(`plate number index ${index} is out of range`);
  }
  const digits = String((index % 999) + 1).padStart(3, "0");
  let rest = Math.floor(index / 999);
  const series: string[] = [];
  for (let position = 0; position < 3; position++) {
    series.push(letters[rest % letters.length]!);
    rest = Math.floor(rest / letters.length);
  }
  const region = regionCodes[rest]!;
  return `${series[0]}${digits}${series[1]}${series[2]}${region}`;
}
