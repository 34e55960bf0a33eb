import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { GenerateStreamRequest, GenerateStreamResponseSchema } from "../../gen/plates/v1/plate_service_pb.ts";
import type { NewPlate, PlateStore } from "../store/plate-store.ts";
import { exhaustedError, toUnstoredPlate } from "./generate.ts";
import { drawNumbers, resolveNumberSpace } from "./number-space.ts";
import { RandomPermutation, type RandomInt } from "./random-permutation.ts";

/** Maximum `amount` of one GenerateStream call. */
export const maxStreamAmount = 1_000_000;
/** Numbers in each response message of GenerateStream, except a shorter last one. */
export const streamBatchSize = 1000;

// Candidates checked against the table in one query at most.
const maxCandidatesPerQuery = 50_000;
// Extra candidates drawn on top of the expected need, as a factor and a count.
const oversampleFactor = 1.25;
const oversampleCount = 8;
// The stream may draw up to this many times the candidates it expects to
// need, plus candidateMargin, before it gives up on a space that concurrent
// writers are filling.
const candidateBudgetFactor = 2;
const candidateMargin = 10_000;
// Candidates one stream may draw at most. A request that is expected to need
// more, because the space is nearly full, ends with RESOURCE_EXHAUSTED at once.
const maxCandidatesPerStream = 10_000_000;

/**
 * Yields batches of distinct valid numbers that were not stored when they were
 * drawn, and stores nothing.
 *
 * The numbers come from a random order of the whole space that takes constant
 * memory, so they are distinct without a set of the numbers sent. The
 * generator does its work only when the server pulls the next batch, which
 * Connect does once the previous one has been written to the connection, so
 * production follows the speed at which the client reads. It returns without
 * another query once `signal` aborts, which happens when the client cancels.
 */
export async function* generateStream(
  store: PlateStore,
  random: RandomInt,
  request: GenerateStreamRequest,
  signal: AbortSignal,
): AsyncGenerator<MessageInitShape<typeof GenerateStreamResponseSchema>> {
  const amount = request.amount === 0 ? 1 : request.amount;
  if (amount > maxStreamAmount) {
    throw new ConnectError(`invalid amount ${amount}: expected at most ${maxStreamAmount}`, Code.InvalidArgument);
  }
  const space = resolveNumberSpace(request);

  // Checking the count up front ends a request for more numbers than are
  // free before any batch is sent.
  const free = space.size - (await store.countStored(space));
  if (free < amount) {
    throw exhaustedError(space, amount, free);
  }

  const expectedCandidates = Math.ceil((amount * space.size) / free);
  if (expectedCandidates > maxCandidatesPerStream) {
    throw exhaustedError(space, amount, free);
  }

  const order = new RandomPermutation(space.size, random);
  const candidateBudget = Math.min(
    space.size,
    maxCandidatesPerStream,
    expectedCandidates * candidateBudgetFactor + candidateMargin,
  );
  let drawn = 0;
  let sent = 0;
  // Numbers found free but not sent yet, at most one query's worth.
  let pending: NewPlate[] = [];

  while (sent < amount) {
    const needed = Math.min(streamBatchSize, amount - sent);
    while (pending.length < needed) {
      if (signal.aborted) {
        return;
      }
      // Free numbers lie among the indexes not drawn yet at a density of about
      // (free - sent - pending) / remaining.
      const stillFree = Math.max(free - sent - pending.length, 1);
      const expected = Math.ceil(((needed - pending.length) * order.remaining) / stillFree);
      const count = Math.min(
        maxCandidatesPerQuery,
        candidateBudget - drawn,
        Math.ceil(expected * oversampleFactor) + oversampleCount,
      );
      const candidates = drawNumbers(space, order, count);
      if (candidates.length === 0) {
        throw exhaustedError(space, amount, space.size - (await store.countStored(space)));
      }
      drawn += candidates.length;
      const stored = await store.findStored(candidates.map((candidate) => candidate.number));
      pending = pending.concat(candidates.filter((candidate) => !stored.has(candidate.number)));
    }

    if (signal.aborted) {
      return;
    }
    const batch = pending.slice(0, needed);
    pending = pending.slice(needed);
    sent += batch.length;
    yield { plates: batch.map(toUnstoredPlate) };
  }
}
