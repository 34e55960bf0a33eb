import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { PlateSchema, type GenerateRequest, type GenerateResponseSchema } from "../../gen/plates/v1/plate_service_pb.ts";
import { randomCarNumber } from "../plate/generate.ts";
import type { PlateStore } from "../store/plate-store.ts";

/** Maximum `amount` of one Generate call. */
export const maxGenerateAmount = 1000;
// Rounds of drawing replacements for generated numbers that turned out to be
// stored. With 1.7 million numbers per region a second round is already rare.
const maxGenerateRounds = 20;

/** Source of random integers in [0, maxExclusive). */
export type RandomInt = (maxExclusive: number) => number;

/** Returns distinct valid numbers that are not stored. */
export async function generate(
  store: PlateStore,
  random: RandomInt,
  request: GenerateRequest,
): Promise<MessageInitShape<typeof GenerateResponseSchema>> {
  const amount = request.amount === 0 ? 1 : request.amount;
  if (amount > maxGenerateAmount) {
    throw new ConnectError(`invalid amount ${amount}: expected at most ${maxGenerateAmount}`, Code.InvalidArgument);
  }
  const numbers = await drawUnstoredNumbers(store, amount, random);
  return { plates: numbers.map((number) => create(PlateSchema, { number })) };
}

async function drawUnstoredNumbers(store: PlateStore, amount: number, random: RandomInt): Promise<string[]> {
  const chosen = new Set<string>();
  for (let round = 0; round < maxGenerateRounds && chosen.size < amount; round++) {
    const candidates = new Set<string>();
    while (candidates.size < amount - chosen.size) {
      const number = randomCarNumber(random);
      if (!chosen.has(number)) {
        candidates.add(number);
      }
    }
    const stored = await store.findStored([...candidates]);
    for (const number of candidates) {
      if (!stored.has(number)) {
        chosen.add(number);
      }
    }
  }
  if (chosen.size < amount) {
    throw new ConnectError(
      `could not find ${amount} unstored numbers in ${maxGenerateRounds} rounds`,
      Code.ResourceExhausted,
    );
  }
  return [...chosen];
}
