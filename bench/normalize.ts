/**
 * Measures normalizations per second of the registration number engine on one core, against a
 * baseline in the same run, on a fixed corpus of valid and invalid inputs.
 *
 * Run: npx tsx bench/normalize.ts [--rounds N] [--previous MODULE]
 *
 * `--previous` also measures the `normalizePlate` export of another module, for example an older
 * engine checked out with `git worktree add /tmp/plates-old <commit>` and passed as
 * /tmp/plates-old/src/plate/normalize.ts.
 *
 * The baseline is a straightforward normalizer written here after the algorithm of the Python
 * library gosnomer 0.0.9. It cleans up with regular expressions and builds a mask of the input.
 * Then it tries every reading of the ambiguous О/0 positions against six masks and checks the zero
 * rules with regular expressions. It supports fewer types and has no region directory, so it does
 * less work than the engine.
 */
import path from "node:path";
import { performance } from "node:perf_hooks";

import { generatableTypes, randomPlateNumber, regionCodesFor } from "../src/plate/generate.ts";
import { normalizePlate } from "../src/plate/normalize.ts";

const corpusSize = 10_000;

/** Seeded generator (mulberry32), so that every run measures the same corpus. */
function seededRandom(seed: number): (maxExclusive: number) => number {
  let state = seed;
  return (maxExclusive) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * maxExclusive);
  };
}

const cyrillic = "АВЕКМНОРСТУХ";
const latin = "ABEKMHOPCTYX";

/** Rewrites a canonical number the way people type it: case, Latin twins, spaces, hyphens, RUS. */
function typingVariant(number: string, random: (maxExclusive: number) => number): string {
  let typed = "";
  for (const character of number) {
    const index = cyrillic.indexOf(character);
    let symbol = index >= 0 && random(3) === 0 ? latin.charAt(index) : character;
    if (random(3) === 0) {
      symbol = symbol.toLowerCase();
    }
    typed += symbol;
  }
  switch (random(6)) {
    case 0:
      return ` ${typed.slice(0, 1)} ${typed.slice(1, 4)} ${typed.slice(4)} `;
    case 1:
      return `${typed.slice(0, -2)} ${typed.slice(-2)}`;
    case 2:
      return `${typed}RUS`;
    default:
      return typed;
  }
}

/**
 * Builds the corpus: about 60 % valid numbers of every type and spelling, the rest invalid
 * (invalid characters, formats, zero groups, unknown and leading-zero regions).
 */
function buildCorpus(): string[] {
  const random = seededRandom(20261204);
  const corpus: string[] = [];
  const invalidTemplates = [
    (number: string) => `Б${number.slice(1)}`,
    (number: string) => `${number}Щ`,
    (number: string) => number.slice(0, -1),
    (number: string) => `${number}12`,
    () => "А000ВС77",
    () => "А123ВС00",
    () => "А123ВС100",
    () => "а123вс014",
    () => "",
    () => "А12ВС77",
    () => "З123ВС77",
    () => "А1-23ВС77",
  ];
  while (corpus.length < corpusSize) {
    const type = generatableTypes[random(generatableTypes.length)] ?? "CAR";
    // Half of the draws are cars, the most common plate.
    const chosenType = random(2) === 0 ? "CAR" : type;
    const codes = regionCodesFor(chosenType);
    const number = randomPlateNumber(chosenType, codes[random(codes.length)] ?? "77", random);
    if (random(10) < 6) {
      corpus.push(typingVariant(number, random));
    } else {
      const template = invalidTemplates[random(invalidTemplates.length)] ?? invalidTemplates[0];
      corpus.push(template?.(number) ?? "");
    }
  }
  return corpus;
}

// The six masks of the baseline, X a letter and 9 a digit: types 1, 1Б, 2, 3 and 4Б.
const baselineMasks = ["X999XX99", "X999XX999", "XX99999", "XX999999", "9999XX99", "XX99XX99"];
const baselineLatin = /[ABCEHKMOPTXY]/g;
const baselineLatinMap: Record<string, string> = Object.fromEntries(Array.from(latin, (letter, index) => [letter, cyrillic.charAt(index)]));
const baselineAllowed = /^[0-9АВЕКМНОРСТУХ]*$/;
const baselineZeroGroup = /(^|[^0-9])0+($|[^0-9])/;

/** Outcome of the baseline normalizer: the canonical number or the reason of the rejection. */
type BaselineResult = { ok: true; number: string } | { ok: false; reason: string };

/** Normalizes like the baseline; see the top of this file. */
function baselineNormalize(input: string): BaselineResult {
  const cleaned = input
    .replace(/\s+/g, "")
    .replace(/RUS$/i, "")
    .toUpperCase()
    .replace(baselineLatin, (letter) => baselineLatinMap[letter] ?? letter)
    .replace(/I/g, "1")
    .replace(/З/g, "3");
  if (!baselineAllowed.test(cleaned)) {
    return { ok: false, reason: "invalid character" };
  }

  const mask = Array.from(cleaned, (character) => (character === "0" || character === "О" ? "*" : /[0-9]/.test(character) ? "9" : "X")).join("");
  const ambiguous = [...mask].flatMap((character, index) => (character === "*" ? [index] : []));
  for (const target of baselineMasks) {
    if (target.length !== mask.length) {
      continue;
    }
    for (let variant = 0; variant < 1 << ambiguous.length; variant++) {
      const chars = [...mask];
      ambiguous.forEach((position, bit) => {
        chars[position] = (variant >> bit) & 1 ? "9" : "X";
      });
      if (chars.join("") !== target) {
        continue;
      }
      let resolved = "";
      for (let index = 0; index < cleaned.length; index++) {
        const character = cleaned.charAt(index);
        if (character !== "0" && character !== "О") {
          resolved += character;
        } else {
          resolved += target[index] === "9" ? "0" : "О";
        }
      }
      if (baselineZeroGroup.test(resolved)) {
        return { ok: false, reason: "zero sequence" };
      }
      if (target.endsWith("999") && target.length === 9 && resolved.charAt(6) === "0") {
        return { ok: false, reason: "region leading zero" };
      }
      return { ok: true, number: resolved };
    }
  }
  return { ok: false, reason: "invalid format" };
}

interface Normalizer {
  name: string;
  /** Returns whether the input is accepted. */
  normalize: (input: string) => boolean;
}

interface Measurement {
  name: string;
  perSecond: number;
  accepted: number;
}

/** Returns how many inputs of the corpus `normalize` accepts, and warms it up by the way. */
function countAccepted(normalize: (input: string) => boolean, corpus: readonly string[]): number {
  let accepted = 0;
  for (const input of corpus) {
    accepted += normalize(input) ? 1 : 0;
  }
  return accepted;
}

/** Returns the rate of 10 passes of `normalize` over the corpus, in inputs per second. */
function timePasses(normalize: (input: string) => boolean, corpus: readonly string[]): number {
  const start = performance.now();
  for (let pass = 0; pass < 10; pass++) {
    for (const input of corpus) {
      normalize(input);
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return (corpus.length * 10) / seconds;
}

/**
 * Times every normalizer `rounds` times and returns the median rate of each. The normalizers take
 * turns within each round, so that load from other processes slows them alike.
 */
function measureAll(normalizers: readonly Normalizer[], corpus: readonly string[], rounds: number): Measurement[] {
  const accepted = normalizers.map(({ normalize }) => {
    countAccepted(normalize, corpus);
    countAccepted(normalize, corpus);
    return countAccepted(normalize, corpus);
  });

  const rates = normalizers.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    normalizers.forEach(({ normalize }, index) => {
      rates[index]?.push(timePasses(normalize, corpus));
    });
  }

  return normalizers.map(({ name }, index) => {
    const sorted = [...(rates[index] ?? [])].sort((left, right) => left - right);
    return { name, perSecond: sorted[Math.floor(sorted.length / 2)] ?? 0, accepted: accepted[index] ?? 0 };
  });
}

function optionValue(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  const roundsValue = optionValue("--rounds");
  const rounds = roundsValue === undefined ? 15 : Number(roundsValue);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`invalid --rounds ${roundsValue}: expected a positive integer`);
  }

  const corpus = buildCorpus();
  const normalizers: Normalizer[] = [
    { name: "engine (normalizePlate)", normalize: (input) => normalizePlate(input).ok },
    { name: "baseline (regex, 6 masks)", normalize: (input) => baselineNormalize(input).ok },
  ];
  const previousPath = optionValue("--previous");
  if (previousPath !== undefined) {
    const previous = (await import(path.resolve(previousPath))) as { normalizePlate: (input: string) => { ok: boolean } };
    normalizers.push({ name: `previous (${previousPath})`, normalize: (input) => previous.normalizePlate(input).ok });
  }
  const results = measureAll(normalizers, corpus, rounds);

  console.log(`corpus: ${corpus.length} inputs; median of ${rounds} rounds of 10 passes each; Node ${process.version}`);
  console.log("| normalizer | normalizations/s | accepted inputs |");
  console.log("|---|---:|---:|");
  for (const result of results) {
    console.log(`| ${result.name} | ${Math.round(result.perSecond).toLocaleString("en-US")} | ${result.accepted} |`);
  }
  const [engine, baseline] = results;
  if (engine !== undefined && baseline !== undefined) {
    console.log(`engine / baseline: ${(engine.perSecond / baseline.perSecond).toFixed(1)}×`);
  }
}

await main();
