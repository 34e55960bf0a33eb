import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { PlateSchema, type GenerateRequest, type GenerateResponseSchema, type Plate } from "../../gen/plates/v1/plate_service_pb.ts";
import { plateRegion } from "../plate/describe.ts";
import type { NewPlate, PlateRecord, PlateStore } from "../store/plate-store.ts";
import { drawNumbers, resolveNumberSpace, type ResolvedSpace } from "./number-space.ts";
import { toPlate, toProtoType } from "./plates.ts";
import { RandomPermutation, type RandomInt } from "./random-permutation.ts";

export type { RandomInt } from "./random-permutation.ts";

/**
 * Maximum `amount` of one Generate call, reserved or not. It is 10,000 so
 * that a client can reserve a large block in one transaction; GenerateStream
 * serves larger counts of unreserved numbers.
 */
export const maxGenerateAmount = 10_000;

// Rounds of drawing candidates in one call, and candidates per round. They
// bound the work of a call whatever the state of the table: a space that is
// nearly full ends the call with RESOURCE_EXHAUSTED instead of a long search.
const maxDrawRounds = 10;
const maxCandidatesPerRound = 50_000;
// Extra candidates drawn on top of the expected need, as a factor and a count,
// so that one round is usually enough.
const oversampleFactor = 1.25;
const oversampleCount = 8;

/** Returns distinct valid numbers that are not stored, and stores them first when the request sets reserve. */
export async function generate(
  store: PlateStore,
  random: RandomInt,
  request: GenerateRequest,
): Promise<MessageInitShape<typeof GenerateResponseSchema>> {
  const amount = request.amount === 0 ? 1 : request.amount;
  if (amount > maxGenerateAmount) {
    throw new ConnectError(`invalid amount ${amount}: expected at most ${maxGenerateAmount}`, Code.InvalidArgument);
  }
  const space = resolveNumberSpace(request);

  if (request.reserve) {
    const records = await reserve(store, space, amount, random);
    return { plates: records.map(toPlate) };
  }
  const plates = await drawUnstored(store, space, amount, random);
  return { plates: plates.map(toUnstoredPlate) };
}

/** Converts a number that is not stored to a Plate without id and creation time. */
export function toUnstoredPlate(plate: NewPlate): Plate {
  return create(PlateSchema, {
    number: plate.number,
    type: toProtoType(plate.type),
    regionCode: plate.regionCode,
    regionName: plateRegion(plate.type, plate.regionCode)?.nameRu ?? "",
  });
}

/**
 * Builds the RESOURCE_EXHAUSTED error of a space with too few free numbers,
 * where `left` is the count of its numbers that are not stored.
 */
export function exhaustedError(space: ResolvedSpace, amount: number, left: number): ConnectError {
  const series = space.series === undefined ? "" : ` of series ${space.series}`;
  const regions =
    space.regionCodes.length === 1 ? `region ${space.regionCodes[0]}` : `${space.regionCodes.length} region codes`;
  const what = `cannot generate ${amount} ${amount === 1 ? "number" : "numbers"} of type ${space.type}${series} in ${regions}`;
  const next = "ask for fewer or widen the regions or series";
  if (left < amount) {
    return new ConnectError(
      `${what}: only ${left} of ${space.size} numbers are not stored; ${next}`,
      Code.ResourceExhausted,
    );
  }
  // Enough numbers are free, but so few of the space that the bounded search
  // did not find them, or concurrent writers took them first.
  return new ConnectError(
    `${what}: the space is nearly full, with ${left} of ${space.size} numbers not stored, too few to find by random draws; ${next}`,
    Code.ResourceExhausted,
  );
}

// Thrown inside the reserve transaction to roll it back when the space runs
// short. The error for the client is built after the rollback.
class SpaceExhausted extends Error {
  override name = "SpaceExhausted";
}

/**
 * Stores `amount` new numbers of the space in one transaction and returns
 * them. Each round inserts a batch of candidates with one statement that skips
 * numbers already stored, including those that a concurrent reserve inserts
 * first, and draws again for the rest.
 */
async function reserve(store: PlateStore, space: ResolvedSpace, amount: number, random: RandomInt): Promise<PlateRecord[]> {
  try {
    return await store.transaction(async (transaction) => {
      // Reservations of one series draw from a small space (999 numbers per
      // region for cars), so concurrent ones often insert the same numbers.
      // Each statement takes its row locks in sorted order, but a transaction
      // in its second round can still wait for one that waits for it.
      // PostgreSQL breaks such a deadlock only after deadlock_timeout (1 s by
      // default), by aborting one of them, so these reservations take turns
      // instead. Reservations of a whole type rarely collide, and one aborted
      // by a deadlock runs again.
      if (space.series !== undefined) {
        await transaction.lockSeries(space);
      }
      const reserved = await collect(space, amount, random, {
        accept: (candidates, needed) => transaction.addNew(candidates, needed),
        // Stored numbers include the ones this transaction has inserted.
        countFree: async () => space.size - (await transaction.countStored(space)),
      });
      if (reserved === undefined) {
        throw new SpaceExhausted();
      }
      return reserved;
    });
  } catch (error) {
    if (error instanceof SpaceExhausted) {
      throw exhaustedError(space, amount, space.size - (await store.countStored(space)));
    }
    throw error;
  }
}

/** Returns `amount` numbers of the space that are not stored, without storing them. */
async function drawUnstored(store: PlateStore, space: ResolvedSpace, amount: number, random: RandomInt): Promise<NewPlate[]> {
  let chosen = 0;
  const plates = await collect(space, amount, random, {
    accept: async (candidates, needed) => {
      const stored = await store.findStored(candidates.map((candidate) => candidate.number));
      const fresh = candidates.filter((candidate) => !stored.has(candidate.number)).slice(0, needed);
      chosen += fresh.length;
      return fresh;
    },
    countFree: async () => space.size - (await store.countStored(space)) - chosen,
  });
  if (plates === undefined) {
    throw exhaustedError(space, amount, space.size - (await store.countStored(space)));
  }
  return plates;
}

interface CollectSteps<T> {
  /** Takes up to `needed` of the candidates (not stored, or newly inserted) and returns them. */
  accept(candidates: NewPlate[], needed: number): Promise<T[]>;
  /** Counts the numbers of the space that are neither stored nor accepted. */
  countFree(): Promise<number>;
}

/**
 * Draws candidates from a random order of the space in rounds until `amount`
 * of them are accepted. Returns undefined when the space runs short or the
 * rounds run out. A candidate is never drawn twice in one call.
 */
async function collect<T>(
  space: ResolvedSpace,
  amount: number,
  random: RandomInt,
  steps: CollectSteps<T>,
): Promise<T[] | undefined> {
  const order = new RandomPermutation(space.size, random);
  const accepted: T[] = [];
  // Numbers of the space still free. The count is unknown until the second
  // round, so the first one assumes that nothing is stored, which is close
  // for a large space.
  let free = space.size;
  for (let round = 0; round < maxDrawRounds && accepted.length < amount; round++) {
    const needed = amount - accepted.length;
    if (round > 0) {
      free = await steps.countFree();
      if (free < needed) {
        return undefined;
      }
    }
    // Free numbers lie among the indexes not drawn yet, at a density of
    // free / remaining, so this many candidates contain about `needed` of them.
    const expected = Math.ceil((needed * order.remaining) / Math.max(free, 1));
    const count = Math.min(maxCandidatesPerRound, Math.ceil(expected * oversampleFactor) + oversampleCount);
    const candidates = drawNumbers(space, order, count);
    if (candidates.length === 0) {
      return undefined;
    }
    accepted.push(...(await steps.accept(candidates, needed)));
  }
  return accepted.length < amount ? undefined : accepted;
}
