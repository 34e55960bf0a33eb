/**
 * Plate types and their character patterns.
 *
 * Type numbers are those of GOST R 50577-2018, which replaced GOST R 50577-93 on 4 August 2020 and
 * kept its types, sizes and fonts. Plates made under the 1993 standard are still on the road and
 * have the same characters, so one pattern covers both.
 */

/**
 * Plate type a number was read as. The names are those of the protobuf enum `PlateType` without
 * the `PLATE_TYPE_` prefix, so the service maps them by name.
 */
export type PlateType =
  | "CAR"
  | "TAXI"
  | "TRAILER"
  | "TRACTOR"
  | "MOTORCYCLE"
  | "MOPED"
  | "MILITARY"
  | "MILITARY_TRAILER"
  | "DIPLOMATIC"
  | "TRANSIT"
  | "POLICE"
  | "POLICE_TRAILER"
  | "POLICE_MOTORCYCLE";

/**
 * The fixed order in which readings are tried when a string fits several patterns. The first
 * reading that passes every rule wins, so the result depends on nothing but the input and the
 * caller's preferred types, which go before this order.
 *
 * Type 1 comes first because it is by far the most common plate. The other civil types follow in
 * the order of their GOST type numbers (1Б, 2, 3, 4, 4Б, 15). Then come the police types (20, 21,
 * 22) and the diplomatic types (9, 10). The military types (5–8) come last, because their code is
 * not a region and cannot be checked against the region directory.
 *
 * So TRACTOR wins over MOTORCYCLE and MILITARY for `DDDD LL NN`, and TRAILER wins over
 * MILITARY_TRAILER. For `LL DDDDDD`, TAXI with a 3-digit region wins over TRAILER with a 2-digit
 * one when both regions exist.
 */
export const plateTypes: readonly PlateType[] = Object.freeze([
  "CAR",
  "TAXI",
  "TRAILER",
  "TRACTOR",
  "MOTORCYCLE",
  "MOPED",
  "TRANSIT",
  "POLICE",
  "POLICE_TRAILER",
  "POLICE_MOTORCYCLE",
  "DIPLOMATIC",
  "MILITARY",
  "MILITARY_TRAILER",
]);

/**
 * One character pattern of a plate type, written without spaces the way a registry stores it:
 *
 * - `L` one of the 12 plate letters А В Е К М Н О Р С Т У Х;
 * - `N` a digit of the registration number;
 * - `K` a digit of the 3-digit code of a diplomatic mission or international organisation;
 * - `R` a digit of the region code, which must be in the region directory;
 * - `F` a digit of the 2-digit code of a military formation, printed where other plates carry
 *   the region;
 * - `c`, `d`, `t` the fixed letters of diplomatic plates: Cyrillic С, Latin D and Cyrillic Т.
 */
export interface PlatePattern {
  readonly type: PlateType;
  readonly pattern: string;
  /** Type in the standard, for messages and documentation, for example "1Б". */
  readonly gostType: string;
}

/**
 * Every pattern the engine reads, in the order of `plateTypes`; within a type, the 2-digit
 * region comes before the 3-digit one.
 *
 * NOTE: some types are left out because no primary text of their pattern could be read. They
 * are type 4А (off-road vehicles, new in 2018, shown as `LL DDDD R` by one source and as
 * `DDDD LL R` by another), diplomatic motorcycles, retro and sports plates, and the transit
 * variants 16–19. The 1993 type 1А `L DDD LL` without a region is left out too, because the
 * protobuf enum has no value for it.
 */
export const platePatterns: readonly PlatePattern[] = Object.freeze([
  // GOST R 50577-2018 (and -93) type 1: cars, lorries and buses, with region codes of 2 or 3
  // digits. One region code has room for 12³ series × 999 numbers, because 000 is not issued.
  { type: "CAR", pattern: "LNNNLLRR", gostType: "1" },
  { type: "CAR", pattern: "LNNNLLRRR", gostType: "1" },
  // Type 1Б, added to GOST R 50577-93 by Amendment No. 4 (2013, sample "ММ 000 55") and kept in
  // GOST R 50577-2018: taxis and commercial carriers of passengers, black on yellow.
  { type: "TAXI", pattern: "LLNNNRR", gostType: "1Б" },
  { type: "TAXI", pattern: "LLNNNRRR", gostType: "1Б" },
  // GOST R 50577-2018 type 2: trailers and semi-trailers.
  // NOTE: sources disagree on whether trailers carry 3-digit region codes; the engine accepts them.
  { type: "TRAILER", pattern: "LLNNNNRR", gostType: "2" },
  { type: "TRAILER", pattern: "LLNNNNRRR", gostType: "2" },
  // GOST R 50577-2018 type 3: tractors and self-propelled machines, on two lines.
  { type: "TRACTOR", pattern: "NNNNLLRR", gostType: "3" },
  // GOST R 50577-2018 type 4: motorcycles, four digits above the letters and the region.
  { type: "MOTORCYCLE", pattern: "NNNNLLRR", gostType: "4" },
  // GOST R 50577-2018 type 4Б (new in 2018): mopeds, press samples "ММ55АА77" and "ММ22АА777".
  { type: "MOPED", pattern: "LLNNLLRR", gostType: "4Б" },
  { type: "MOPED", pattern: "LLNNLLRRR", gostType: "4Б" },
  // GOST R 50577-2018 type 15: transit plates with the word ТРАНЗИТ.
  { type: "TRANSIT", pattern: "LLNNNLRR", gostType: "15" },
  { type: "TRANSIT", pattern: "LLNNNLRRR", gostType: "15" },
  // GOST R 50577-2018 types 20–22: the Ministry of Internal Affairs, white on blue. The letter
  // names a police service, not a series.
  // NOTE: only 2-digit region codes, because the libraries that know these types accept only
  // those. No source read settles whether police plates carry 3-digit codes.
  { type: "POLICE", pattern: "LNNNNRR", gostType: "20" },
  { type: "POLICE_TRAILER", pattern: "NNNLRR", gostType: "21" },
  { type: "POLICE_MOTORCYCLE", pattern: "NNNNLRR", gostType: "22" },
  // GOST R 50577-93 §3.2.3, types 9 and 10, white on red: the mission code, then CD (head of a
  // mission, one digit), D (staff with diplomatic status) or T (staff without it), then the region.
  // NOTE: mission codes are checked only for not being 000, because the official list (Appendix 2
  // of MVD order No. 766) was not available.
  { type: "DIPLOMATIC", pattern: "KKKcdNRR", gostType: "9" },
  { type: "DIPLOMATIC", pattern: "KKKdNNNRR", gostType: "10" },
  { type: "DIPLOMATIC", pattern: "KKKtNNNRR", gostType: "10" },
  // GOST R 50577-93 §3.2.2, types 5, 7 and 8 (vehicles, tractors, motorcycles of the armed
  // forces) and type 6 (their trailers), white on black, with a formation code of the Ministry
  // of Defence in place of the region.
  // NOTE: the formation codes are not published, so any code from 01 to 99 is accepted.
  { type: "MILITARY", pattern: "NNNNLLFF", gostType: "5, 7, 8" },
  { type: "MILITARY_TRAILER", pattern: "LLNNNNFF", gostType: "6" },
] satisfies PlatePattern[]);

/** Letter that each fixed slot `c`, `d`, `t` of a pattern stands for. */
export const fixedLetterBySlot: Readonly<Record<string, string>> = Object.freeze({ c: "С", d: "D", t: "Т" });

/** Returns the patterns of one type, in the order of `platePatterns`. */
export function patternsOf(type: PlateType): readonly PlatePattern[] {
  return platePatterns.filter((pattern) => pattern.type === type);
}
