import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlateType, type ListRequest } from "../gen/plates/v1/plate_service_pb.ts";
import { connectClient } from "./support/clients.ts";
import { connectErrorOf } from "./support/registry.ts";
import { backends, startTestServer, type TestServer } from "./support/server.ts";

interface SeedPlate {
  number: string;
  type: string;
  region_code: string;
  created_at: Date;
}

// Rows a minute apart. The time bounds below fall on stored times, which
// checks that "from" includes its bound and "to" excludes it. Two pairs share
// a creation time, so the id breaks the tie.
const base = Date.UTC(2026, 0, 1);
const seeds: SeedPlate[] = [
  ["А001АА77", "CAR", "77", 0],
  ["А002АА99", "CAR", "99", 1],
  ["А003АА177", "CAR", "177", 2],
  ["АА00177", "TAXI", "77", 3],
  ["АА00299", "TAXI", "99", 3],
  ["АА0001177", "TRAILER", "177", 4],
  ["АА000277", "TRAILER", "77", 5],
  ["В004ВВ77", "CAR", "77", 6],
  ["АА00399", "TAXI", "99", 6],
  ["А005АА99", "CAR", "99", 7],
].map(([number, type, regionCode, minute]) => ({
  number: number as string,
  type: type as string,
  region_code: regionCode as string,
  created_at: new Date(base + (minute as number) * 60_000),
}));

type Filter = Pick<ListRequest, "regionCodes" | "types" | "createTimeFrom" | "createTimeTo">;

const regionChoices: string[][] = [[], ["77"], ["99", "177"]];
const typeChoices: PlateType[][] = [[], [PlateType.TAXI], [PlateType.CAR, PlateType.TRAILER]];
const fromChoices = [undefined, new Date(base + 3 * 60_000)];
const toChoices = [undefined, new Date(base + 6 * 60_000)];

const filters: [string, Filter][] = [];
for (const regionCodes of regionChoices) {
  for (const types of typeChoices) {
    for (const from of fromChoices) {
      for (const to of toChoices) {
        const name = [
          `regions [${regionCodes.join(",")}]`,
          `types [${types.map((type) => PlateType[type]).join(",")}]`,
          from === undefined ? "no from" : "from",
          to === undefined ? "no to" : "to",
        ].join(", ");
        filters.push([
          name,
          {
            regionCodes,
            types,
            createTimeFrom: from === undefined ? undefined : timestampFromDate(from),
            createTimeTo: to === undefined ? undefined : timestampFromDate(to),
          },
        ]);
      }
    }
  }
}

function expectedNumbers(rows: (SeedPlate & { id: string })[], filter: Filter): string[] {
  const typeNames = new Set(filter.types.map((type) => PlateType[type]));
  const from = filter.createTimeFrom === undefined ? -Infinity : Number(filter.createTimeFrom.seconds) * 1000;
  const to = filter.createTimeTo === undefined ? Infinity : Number(filter.createTimeTo.seconds) * 1000;
  return rows
    .filter((row) => filter.regionCodes.length === 0 || filter.regionCodes.includes(row.region_code))
    .filter((row) => typeNames.size === 0 || typeNames.has(row.type))
    .filter((row) => row.created_at.getTime() >= from && row.created_at.getTime() < to)
    .sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : -1))
    .map((row) => row.number);
}

describe.each(backends)("List filters on %s", (backend) => {
  let server: TestServer;
  let rows: (SeedPlate & { id: string })[];

  beforeAll(async () => {
    server = await startTestServer(backend);
    const inserted: { id: string; number: string }[] = await server.database.db("plates").insert(seeds).returning(["id", "number"]);
    const ids = new Map(inserted.map((row) => [row.number, row.id]));
    rows = seeds.map((seed) => ({ ...seed, id: ids.get(seed.number) ?? "" }));
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(filters)("pages through %s", async (_name, filter) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await client.list({ ...filter, pageSize: 2, pageToken });
      expect(page.plates.length).toBeLessThanOrEqual(2);
      seen.push(...page.plates.map((plate) => plate.number));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "" && pages < 20);

    const expected = expectedNumbers(rows, filter);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.max(1, Math.ceil(expected.length / 2)));
  });

  it("rounds a sub-millisecond bound up to the stored precision", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const at = base + 6 * 60_000;
    // A bound 1 ns after a stored time excludes it from "from" and includes it in "to".
    const justAfter = { ...timestampFromMs(at), nanos: 1 };

    const from = await client.list({ createTimeFrom: justAfter, pageSize: 100 });
    expect(from.plates.map((plate) => plate.number).sort()).toEqual(["А005АА99"]);
    const to = await client.list({ createTimeFrom: timestampFromMs(at), createTimeTo: justAfter, pageSize: 100 });
    expect(to.plates.map((plate) => plate.number).sort()).toEqual(["АА00399", "В004ВВ77"]);
  });

  it("rejects a page token passed with other filters", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const first = await client.list({ regionCodes: ["77"], pageSize: 1 });
    expect(first.nextPageToken).not.toBe("");

    const error = await connectErrorOf(client.list({ regionCodes: ["99"], pageSize: 1, pageToken: first.nextPageToken }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("other filters");
  });

  it("takes filters in any order and with repeats", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const first = await client.list({ regionCodes: ["99", "77"], types: [PlateType.TAXI, PlateType.CAR], pageSize: 1 });
    const next = await client.list({
      regionCodes: ["77", "99", "77"],
      types: [PlateType.CAR, PlateType.TAXI],
      pageSize: 1,
      pageToken: first.nextPageToken,
    });
    expect(next.plates).toHaveLength(1);
  });

  it.each([
    ["an unknown region code", { regionCodes: ["00"] }, '"00"'],
    ["an unspecified type", { types: [PlateType.UNSPECIFIED] }, "PLATE_TYPE_UNSPECIFIED"],
    ["a type out of range", { types: [99 as PlateType] }, "99"],
    [
      "a range that ends before it starts",
      { createTimeFrom: timestampFromMs(base + 60_000), createTimeTo: timestampFromMs(base) },
      "create_time_from",
    ],
  ])("rejects %s", async (_case, request, mention) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.list(request));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain(mention);
  });
});
