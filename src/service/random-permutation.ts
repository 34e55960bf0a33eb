/** Source of random integers in [0, maxExclusive). */
export type RandomInt = (maxExclusive: number) => number;

// Feistel rounds. Four is the usual minimum for a Feistel network to look
// random, and the round function here is a fast integer mix rather than a
// cryptographic one, so two more add a margin at little cost.
const roundCount = 6;
// Both halves of an index fit in 26 bits, so that the round function works
// on 32-bit integers, and indexes up to 2^52 stay exact in a double.
const maxHalfBits = 26;

/**
 * A random order of the integers 0 .. size - 1 that costs O(1) memory,
 * whatever the size. It is a balanced Feistel network on the smallest even
 * bit width that covers `size`, applied again to values that fall outside the
 * range ("cycle walking"), which keeps it a permutation of 0 .. size - 1.
 *
 * The round keys come from `randomInt`, so a seeded source replays the same
 * order. The round function is a fast integer mix, not a cryptographic
 * function, so the order is unpredictable without the keys but not proven so.
 */
export class RandomPermutation {
  private readonly halfBits: number;
  private readonly halfSize: number;
  private readonly halfMask: number;
  private readonly keys: number[];
  private position = 0;

  constructor(
    readonly size: number,
    randomInt: RandomInt,
  ) {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`invalid permutation size ${size}: expected a safe integer of 0 or more`);
    }
    let bits = 1;
    while (2 ** (2 * bits) < size) {
      bits++;
    }
    if (bits > maxHalfBits) {
      throw new RangeError(`invalid permutation size ${size}: expected at most 2^${2 * maxHalfBits}`);
    }
    this.halfBits = bits;
    this.halfSize = 2 ** bits;
    this.halfMask = this.halfSize - 1;
    // Each key is 32 random bits, drawn as two 16-bit halves so that any
    // randomInt accepting maxExclusive up to 2^16 can serve.
    this.keys = Array.from({ length: roundCount }, () => ((randomInt(0x10000) << 16) | randomInt(0x10000)) >>> 0);
  }

  /** Count of values not returned yet. */
  get remaining(): number {
    return this.size - this.position;
  }

  /** Returns the next value of the order, or undefined when every value has been returned. */
  next(): number | undefined {
    if (this.position >= this.size) {
      return undefined;
    }
    return this.at(this.position++);
  }

  /** Returns the value at `index` of the order. The same index always gives the same value. */
  at(index: number): number {
    // Applying the network to a value outside [0, size) again walks the cycle
    // of the network's permutation that contains it, and the first value of
    // the cycle inside the range is a unique image of `index`. A cycle
    // always comes back to `index`, which is inside, so the loop ends.
    let value = this.encrypt(index);
    while (value >= this.size) {
      value = this.encrypt(value);
    }
    return value;
  }

  private encrypt(value: number): number {
    let left = Math.floor(value / this.halfSize);
    let right = value % this.halfSize;
    for (const key of this.keys) {
      const mixed = (left ^ mix(right, key)) & this.halfMask;
      left = right;
      right = mixed;
    }
    return left * this.halfSize + right;
  }
}

// The finalizer of MurmurHash3 (fmix32) applied to value XOR key.
function mix(value: number, key: number): number {
  let hash = (value ^ key) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}
