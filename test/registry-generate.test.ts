import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerateRequestSchema, GenerateStreamRequestSchema, PlateType } from "../gen/plates/v1/plate_service_pb.ts";
import { generatableTypes, regionCodesFor } from "../src/plate/generate.ts";
import { generate, maxGenerateAmount } from "../src/service/generate.ts";
import { generateStream } from "../src/service/generate-stream.ts";
import { resolveNumberSpace } from "../src/service/number-space.ts";
import { toProtoType } from "../src/service/plates.ts";
import type { PlateStore } from "../src/store/plate-store.ts";
import { connectClient, type ConnectProtocol } from "./support/clients.ts";
import { connectErrorOf, countPlates, seededRandomInt } from "./support/registry.ts";
import { backends, startTestServer, type TestServer } from "./support/server.ts";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const protocols: ConnectProtocol[] = ["connect", "grpc-web", "grpc"];

describe.each(backends)("Generate on %s", (backend) => {
  const random = seededRandomInt(4_2026);
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(backend, { randomInt: random.next });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("reserves numbers with ids and creation times", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const response = await client.generate({ amount: 20, reserve: true });

    expect(response.plates).toHaveLength(20);
    expect(new Set(response.plates.map((plate) => plate.number)).size).toBe(20);
    for (const plate of response.plates) {
      expect(plate.id).toMatch(uuidPattern);
      expect(plate.createTime?.seconds).toBeGreaterThan(0n);
      expect(plate.type).toBe(PlateType.CAR);
      expect(plate.number.endsWith(plate.regionCode)).toBe(true);
      const stored = await client.get({ id: plate.id });
      expect(stored.plate).toEqual(plate);
    }
  });

  it("leaves unreserved numbers unstored", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const before = await countPlates(server.database.db);
    const response = await client.generate({ amount: 30 });

    expect(response.plates).toHaveLength(30);
    for (const plate of response.plates) {
      expect(plate.id).toBe("");
      expect(plate.createTime).toBeUndefined();
      expect(plate.regionName).not.toBe("");
    }
    expect(await countPlates(server.database.db)).toBe(before);
  });

  it.each(generatableTypes)("draws %s numbers of the requested type", async (type) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const response = await client.generate({ amount: 40, type: toProtoType(type), reserve: true });

    const allowed = new Set(regionCodesFor(type));
    expect(response.plates).toHaveLength(40);
    for (const plate of response.plates) {
      expect(plate.type).toBe(toProtoType(type));
      expect(allowed.has(plate.regionCode)).toBe(true);
      expect(plate.number.endsWith(plate.regionCode)).toBe(true);
    }
    // Every reserved number is found under its own spelling.
    const found = await Promise.all(response.plates.map((plate) => client.find({ number: plate.number })));
    expect(found.map((result) => result.plate?.id)).toEqual(response.plates.map((plate) => plate.id));
  });

  it("draws from the requested regions only", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const response = await client.generate({ amount: 200, regionCodes: ["77", "177", "05"] });

    const regions = new Set(response.plates.map((plate) => plate.regionCode));
    expect([...regions].sort()).toEqual(["05", "177", "77"]);
  });

  it("draws from the requested series, typed in Latin lower case", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const response = await client.generate({ amount: 50, regionCodes: ["50"], series: "abc" });

    for (const plate of response.plates) {
      expect(plate.number).toMatch(/^А\d{3}ВС50$/);
    }
  });

  it("replays the same numbers from the same seed", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    random.reset();
    const first = await client.generate({ amount: 10, regionCodes: ["61"] });
    random.reset();
    const second = await client.generate({ amount: 10, regionCodes: ["61"] });

    expect(second.plates.map((plate) => plate.number)).toEqual(first.plates.map((plate) => plate.number));
  });

  it("reserves the maximum amount in one call", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const before = await countPlates(server.database.db);
    const response = await client.generate({ amount: maxGenerateAmount, reserve: true, regionCodes: ["78"] });

    expect(new Set(response.plates.map((plate) => plate.id)).size).toBe(maxGenerateAmount);
    expect(new Set(response.plates.map((plate) => plate.number)).size).toBe(maxGenerateAmount);
    expect(await countPlates(server.database.db)).toBe(before + maxGenerateAmount);
  });

  it.each([
    ["an amount over the maximum", { amount: maxGenerateAmount + 1 }, String(maxGenerateAmount)],
    ["a region code of no plate", { regionCodes: ["00"] }, '"00"'],
    ["a 3-digit code on a 2-digit type", { type: PlateType.POLICE, regionCodes: ["177"] }, '"177"'],
    ["a series with a digit", { series: "А1В" }, "series"],
    ["a series of the wrong length", { series: "АВ" }, "series"],
    ["a type out of range", { type: 99 as PlateType }, "type"],
  ])("rejects %s", async (_case, request, mention) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.generate({ ...request, reserve: true }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain(mention);
  });
});

describe.each(backends)("Generate in a small space on %s", (backend) => {
  // One region and one series hold 999 car numbers: А001ВС13 to А999ВС13.
  const space = { regionCodes: ["13"], series: "АВС" };
  const spaceSize = 999;
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(backend);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("reserves every number, then reports the space exhausted", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    await client.add({ number: "А500ВС13" });

    const all = await client.generate({ ...space, amount: spaceSize - 1, reserve: true });
    const numbers = new Set(all.plates.map((plate) => plate.number));
    expect(numbers.size).toBe(spaceSize - 1);
    expect(numbers.has("А500ВС13")).toBe(false);

    const started = performance.now();
    const reserveError = await connectErrorOf(client.generate({ ...space, amount: 1, reserve: true }));
    expect(reserveError.code).toBe(Code.ResourceExhausted);
    expect(reserveError.rawMessage).toContain(`only 0 of ${spaceSize}`);

    const drawError = await connectErrorOf(client.generate({ ...space, amount: 1 }));
    expect(drawError.code).toBe(Code.ResourceExhausted);
    expect(drawError.rawMessage).toContain(`only 0 of ${spaceSize}`);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("reports how many numbers are left and reserves none of them", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const freed = ["А001ВС13", "А002ВС13", "А003ВС13"];
    for (const number of freed) {
      const found = await client.find({ number });
      await client.delete({ id: found.plate?.id ?? "" });
    }
    const before = await countPlates(server.database.db);

    const error = await connectErrorOf(client.generate({ ...space, amount: 5, reserve: true }));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toContain(`only 3 of ${spaceSize}`);
    expect(await countPlates(server.database.db)).toBe(before);

    const unreserved = await client.generate({ ...space, amount: 3 });
    expect(unreserved.plates.map((plate) => plate.number).sort()).toEqual(freed);
    const reserved = await client.generate({ ...space, amount: 3, reserve: true });
    expect(reserved.plates.map((plate) => plate.number).sort()).toEqual(freed);
  });
});

describe.each(backends)("concurrent reservations on %s", (backend) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(backend);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("never hand out one number twice in a small space", async () => {
    // 12 clients ask for 900 of the 999 numbers of one region and series, so
    // most of their first draws collide.
    const clients = 12;
    const amount = 75;
    const calls = Array.from({ length: clients }, (_, index) =>
      connectClient(protocols[index % protocols.length] ?? "grpc", server.baseUrl, server.token).generate({
        amount,
        reserve: true,
        regionCodes: ["29"],
        series: "КХМ",
      }),
    );
    const responses = await Promise.all(calls);

    const plates = responses.flatMap((response) => response.plates);
    expect(plates).toHaveLength(clients * amount);
    expect(new Set(plates.map((plate) => plate.number)).size).toBe(clients * amount);
    await expectAllStored(server, plates);
  });

  it("never hand out one number twice across all regions", async () => {
    const clients = 20;
    const amount = 250;
    const calls = Array.from({ length: clients }, (_, index) =>
      connectClient(protocols[index % protocols.length] ?? "grpc", server.baseUrl, server.token).generate({
        amount,
        reserve: true,
      }),
    );
    const responses = await Promise.all(calls);

    const plates = responses.flatMap((response) => response.plates);
    expect(new Set(plates.map((plate) => plate.number)).size).toBe(clients * amount);
    await expectAllStored(server, plates);
  });
});

async function expectAllStored(server: TestServer, plates: { id: string; number: string }[]): Promise<void> {
  const rows: { id: string; number: string }[] = await server.database
    .db("plates")
    .select("id", "number")
    .whereIn(
      "id",
      plates.map((plate) => plate.id),
    );
  const storedById = new Map(rows.map((row) => [row.id, row.number]));
  expect(storedById.size).toBe(plates.length);
  for (const plate of plates) {
    expect(storedById.get(plate.id)).toBe(plate.number);
  }
}

describe("search bounds in a nearly full space", () => {
  const freeCars = ["А123ВС77", "Е456КХ77", "М789ОР77"];
  const freeTaxis = ["АВ12377", "ЕК45677", "МО78977"];

  // A store in which every number of the space is stored except `free`, so
  // that random draws find them only by luck.
  function nearlyFullStore(
    type: PlateType,
    regionCodes: string[],
    free: string[],
  ): { store: PlateStore; candidates: () => number } {
    const freeSet = new Set(free);
    const space = resolveNumberSpace({ type, regionCodes, series: "" });
    let candidates = 0;
    const store: PlateStore = {
      add: async () => undefined,
      get: async () => undefined,
      findByNumber: async () => undefined,
      delete: async () => false,
      list: async () => [],
      findStored: async (numbers) => {
        candidates += numbers.length;
        return new Set(numbers.filter((number) => !freeSet.has(number)));
      },
      countStored: async () => space.size - freeSet.size,
      addNew: async () => [],
      lockSeries: async () => undefined,
      transaction: (work) => work(store),
      withSignal: () => store,
    };
    return { store, candidates: () => candidates };
  }

  async function drain(stream: AsyncIterable<{ plates?: unknown[] }>): Promise<number[]> {
    const batches: number[] = [];
    for await (const response of stream) {
      batches.push(response.plates?.length ?? 0);
    }
    return batches;
  }

  it("ends Generate after a bounded search", async () => {
    const { store, candidates } = nearlyFullStore(PlateType.CAR, ["77"], freeCars);
    const request = create(GenerateRequestSchema, { amount: 3, regionCodes: ["77"] });

    const error = await connectErrorOf(generate(store, seededRandomInt(7).next, request));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toContain("nearly full, with 3 of 1726272 numbers not stored");
    // Ten rounds of at most 50,000 candidates each.
    expect(candidates()).toBeLessThanOrEqual(500_000);
  });

  it("walks one region to the end in GenerateStream", async () => {
    const { store, candidates } = nearlyFullStore(PlateType.TAXI, ["77"], freeTaxis);
    const request = create(GenerateStreamRequestSchema, { amount: 3, regionCodes: ["77"], type: PlateType.TAXI });

    // Three free numbers among 143,856 are expected to take the whole region
    // to find, which is within the stream's limit of draws.
    const batches = await drain(generateStream(store, seededRandomInt(7).next, request, new AbortController().signal));
    expect(batches).toEqual([3]);
    expect(candidates()).toBeLessThanOrEqual(143_856);
  });

  it("rejects a stream that would need too many draws", async () => {
    const { store, candidates } = nearlyFullStore(PlateType.CAR, [], freeCars);
    const request = create(GenerateStreamRequestSchema, { amount: 3 });

    const error = await connectErrorOf(drain(generateStream(store, seededRandomInt(7).next, request, new AbortController().signal)));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toContain("nearly full, with 3 of");
    expect(candidates()).toBe(0);
  });
});

describe("Generate of military numbers", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("pglite");
  });

  afterAll(async () => {
    await server?.close();
  });

  // A military plate carries the code of a formation, not of a region, so it
  // has no region name even where the code equals a region's.
  it("names no region for formation codes", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const response = await client.generate({ amount: 20, type: PlateType.MILITARY, regionCodes: ["05"] });
    expect(response.plates).toHaveLength(20);
    for (const plate of response.plates) {
      expect(plate.regionCode).toBe("05");
      expect(plate.regionName).toBe("");
    }
  });
});
