import { randomInt } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { PlateSchema, PlateService, type Plate } from "../gen/plates/v1/plate_service_pb.ts";
import { normalizePlate } from "./plate/normalize.ts";
import { randomCarNumber } from "./plate/generate.ts";
import type { PlateCursor, PlateRecord, PlateStore } from "./store/plate-store.ts";

/** Maximum `amount` of one Generate call. */
export const maxGenerateAmount = 1000;
/** Page size of List when the request gives none. */
export const defaultPageSize = 50;
/** Maximum page size of List; larger requests are served this many. */
export const maxPageSize = 1000;
// Rounds of drawing replacements for generated numbers that turned out to be
// stored. With 1.7 million numbers per region a second round is already rare.
const maxGenerateRounds = 20;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Options of the PlateService implementation. */
export interface PlateServiceOptions {
  store: PlateStore;
  /** Source of random integers in [0, maxExclusive); crypto.randomInt by default. */
  randomInt?: (maxExclusive: number) => number;
}

/** Implements plates.v1.PlateService on a PlateStore. */
export function createPlateService(options: PlateServiceOptions): ServiceImpl<typeof PlateService> {
  const { store } = options;
  const random = options.randomInt ?? ((maxExclusive: number) => randomInt(maxExclusive));

  return {
    async add(request) {
      const result = normalizePlate(request.number);
      if (!result.ok) {
        throw new ConnectError(
          `invalid number ${JSON.stringify(request.number)}: ${result.error.message}`,
          Code.InvalidArgument,
        );
      }
      const number = result.plate.number;
      const record = await store.add(number);
      if (record === undefined) {
        throw new ConnectError(`plate ${number} already exists`, Code.AlreadyExists);
      }
      return { plate: toPlate(record) };
    },

    async get(request) {
      if (!uuidPattern.test(request.id)) {
        throw new ConnectError(`invalid id ${JSON.stringify(request.id)}: expected a UUID`, Code.InvalidArgument);
      }
      const record = await store.get(request.id);
      if (record === undefined) {
        throw new ConnectError(`plate ${request.id} not found`, Code.NotFound);
      }
      return { plate: toPlate(record) };
    },

    async generate(request) {
      const amount = request.amount === 0 ? 1 : request.amount;
      if (amount > maxGenerateAmount) {
        throw new ConnectError(
          `invalid amount ${amount}: expected at most ${maxGenerateAmount}`,
          Code.InvalidArgument,
        );
      }
      const numbers = await drawUnstoredNumbers(store, amount, random);
      return { plates: numbers.map((number) => create(PlateSchema, { number })) };
    },

    async list(request) {
      if (request.pageSize < 0) {
        throw new ConnectError(`invalid page_size ${request.pageSize}: expected 0 or more`, Code.InvalidArgument);
      }
      const pageSize = Math.min(request.pageSize === 0 ? defaultPageSize : request.pageSize, maxPageSize);
      const after = request.pageToken === "" ? undefined : decodePageToken(request.pageToken);
      // One row more than the page shows whether another page follows.
      const records = await store.list({ limit: pageSize + 1, after });
      const page = records.slice(0, pageSize);
      const last = page.at(-1);
      const nextPageToken = records.length > pageSize && last !== undefined ? encodePageToken(last) : "";
      return { plates: page.map(toPlate), nextPageToken };
    },
  };
}

async function drawUnstoredNumbers(
  store: PlateStore,
  amount: number,
  random: (maxExclusive: number) => number,
): Promise<string[]> {
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

function toPlate(record: PlateRecord): Plate {
  return create(PlateSchema, {
    id: record.id,
    number: record.number,
    createTime: timestampFromDate(record.createTime),
  });
}

// A page token is the base64url JSON of [creation time in ms, id] of the last
// plate of the previous page. Clients must treat it as opaque.
function encodePageToken(record: PlateRecord): string {
  return Buffer.from(JSON.stringify([record.createTime.getTime(), record.id])).toString("base64url");
}

function decodePageToken(token: string): PlateCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    Number.isSafeInteger(parsed[0]) &&
    typeof parsed[1] === "string" &&
    uuidPattern.test(parsed[1])
  ) {
    return { createTime: new Date(parsed[0] as number), id: parsed[1] };
  }
  throw new ConnectError("invalid page_token: pass next_page_token of a previous response", Code.InvalidArgument);
}
