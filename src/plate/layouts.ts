import { fixedLetterBySlot, platePatterns, plateTypes, type PlatePattern, type PlateType } from "./patterns.ts";

/** Maximum plate length, that of type 1 with a 3-digit region and of type 10. */
export const MAX_PLATE_LENGTH = 9;

/**
 * A pattern compiled to bit masks, so that the fit of a cleaned string is a few integer
 * operations. Bit k of a mask stands for position k of the plate.
 */
export interface Layout {
  readonly type: PlateType;
  readonly pattern: string;
  readonly gostType: string;
  readonly length: number;
  /** Positions of digits: the number, the mission code and the region or formation code. */
  readonly digitMask: number;
  /** Positions of one of the 12 plate letters. */
  readonly letterMask: number;
  /** Positions of the fixed letters of diplomatic plates, and the char code each must have. */
  readonly fixedPositions: readonly number[];
  readonly fixedCodes: readonly number[];
  /** End of the mission code, which starts at 0, or 0 when the pattern has none. */
  readonly missionEnd: number;
  readonly numberStart: number;
  readonly numberEnd: number;
  /** The region or formation code runs from here to the end of the plate. */
  readonly regionStart: number;
  /** Whether the code at the end is a military formation code rather than a region code. */
  readonly formationCode: boolean;
  /** Bit k set when position k starts a group other than the first, where separators may stand. */
  readonly boundaryMask: number;
}

/** Every pattern compiled, in the order of platePatterns. */
export const layouts: readonly Layout[] = platePatterns.map(compileLayout);

/** Layouts of each length in the fixed order of plateTypes, indexed by length. */
export const layoutsByLength: readonly (readonly Layout[])[] = Array.from({ length: MAX_PLATE_LENGTH + 1 }, (_, length) =>
  orderLayouts(plateTypes).filter((layout) => layout.length === length),
);

/**
 * Returns the layouts of one length in the order of `preferredTypes` first and then the fixed
 * order. Unknown and repeated types in `preferredTypes` are skipped.
 */
export function orderedLayouts(length: number, preferredTypes: readonly PlateType[]): readonly Layout[] {
  const fixed = layoutsByLength[length] ?? [];
  const ordered: Layout[] = [];
  for (const type of preferredTypes) {
    for (const layout of fixed) {
      if (layout.type === type && !ordered.includes(layout)) {
        ordered.push(layout);
      }
    }
  }
  for (const layout of fixed) {
    if (!ordered.includes(layout)) {
      ordered.push(layout);
    }
  }
  return ordered;
}

/** Finds the layout of `type` that the canonical `number` fits exactly, if any. */
export function layoutOfNumber(type: PlateType, number: string): Layout | undefined {
  return layouts.find((layout) => layout.type === type && fitsCanonical(layout, number));
}

function fitsCanonical(layout: Layout, number: string): boolean {
  if (number.length !== layout.length) {
    return false;
  }
  for (let position = 0; position < number.length; position++) {
    const bit = 1 << position;
    const character = number.charAt(position);
    const isDigit = character >= "0" && character <= "9";
    if ((layout.digitMask & bit) !== 0 && !isDigit) {
      return false;
    }
    if ((layout.letterMask & bit) !== 0 && (isDigit || character === "D")) {
      return false;
    }
  }
  return layout.fixedPositions.every((position, index) => number.charCodeAt(position) === layout.fixedCodes[index]);
}

function orderLayouts(types: readonly PlateType[]): Layout[] {
  return types.flatMap((type) => layouts.filter((layout) => layout.type === type));
}

/** Returns the kind of group a pattern slot belongs to. A separator may stand where the kind changes. */
function groupKind(slot: string): string {
  if (slot === "L" || fixedLetterBySlot[slot] !== undefined) {
    return "letters";
  }
  return slot === "F" ? "R" : slot;
}

function compileLayout(source: PlatePattern): Layout {
  const { pattern } = source;
  let digitMask = 0;
  let letterMask = 0;
  let boundaryMask = 0;
  const fixedPositions: number[] = [];
  const fixedCodes: number[] = [];

  for (let position = 0; position < pattern.length; position++) {
    const slot = pattern.charAt(position);
    const fixed = fixedLetterBySlot[slot];
    if (fixed !== undefined) {
      fixedPositions.push(position);
      fixedCodes.push(fixed.charCodeAt(0));
    } else if (slot === "L") {
      letterMask |= 1 << position;
    } else {
      digitMask |= 1 << position;
    }
    if (position > 0 && groupKind(slot) !== groupKind(pattern.charAt(position - 1))) {
      boundaryMask |= 1 << position;
    }
  }

  const regionMatch = /[RF]+$/.exec(pattern);
  return Object.freeze({
    type: source.type,
    pattern,
    gostType: source.gostType,
    length: pattern.length,
    digitMask,
    letterMask,
    fixedPositions,
    fixedCodes,
    missionEnd: pattern.lastIndexOf("K") + 1,
    numberStart: pattern.indexOf("N"),
    numberEnd: pattern.lastIndexOf("N") + 1,
    regionStart: regionMatch?.index ?? pattern.length,
    formationCode: pattern.endsWith("F"),
    boundaryMask,
  });
}
