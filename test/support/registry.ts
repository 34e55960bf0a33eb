import { ConnectError } from "@connectrpc/connect";
import type { Knex } from "knex";
import type { PlateStore } from "../../src/store/plate-store.ts";

/** Awaits a call that must fail and returns its error as a ConnectError. */
export async function connectErrorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/**
 * Returns a seeded source of random integers in [0, maxExclusive)
 * (mulberry32), so that a test can replay the same draws.
 */
export function seededRandomInt(seed: number): { next: (maxExclusive: number) => number; reset: () => void } {
  let state = seed;
  return {
    next: (maxExclusive) => {
      state = (state + 0x6d2b79f5) | 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * maxExclusive);
    },
    reset: () => {
      state = seed;
    },
  };
}

/** Counts the rows of the plates table. */
export async function countPlates(db: Knex): Promise<number> {
  const rows = await db("plates").count<{ count: string | number }[]>("* as count");
  return Number(rows[0]?.count ?? 0);
}

/** Wraps a store to count its findStored calls, the one query that GenerateStream runs per batch of candidates. */
export function countingStore(store: PlateStore): { store: PlateStore; findStoredCalls: () => number } {
  let calls = 0;
  const counting: PlateStore = Object.create(store) as PlateStore;
  counting.findStored = (numbers) => {
    calls++;
    return store.findStored(numbers);
  };
  return { store: counting, findStoredCalls: () => calls };
}
