import { Code, ConnectError } from "@connectrpc/connect";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlateService, PlateType } from "../gen/plates/v1/plate_service_pb.ts";
import { normalizePlate } from "../src/plate/normalize.ts";
import { maxGenerateAmount } from "../src/service/generate.ts";
import { connectClient, grpcJsClient, type ConnectProtocol, type GrpcPlate } from "./support/clients.ts";
import { seededRandomInt } from "./support/registry.ts";
import { backends, startTestServer, type TestServer } from "./support/server.ts";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const connectProtocols: ConnectProtocol[] = ["connect", "grpc-web", "grpc"];

async function connectErrorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

async function grpcErrorOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail");
}

describe.each(backends)("PlateService on %s", (backend) => {
  const random = seededRandomInt(20261204);
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(backend, { randomInt: random.next });
  });

  afterAll(async () => {
    await server?.close();
  });

  describe.each(connectProtocols)("over %s", (protocol) => {
    it("adds, gets and lists a corrected number", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const typed = { connect: " к 001 ох 99 ", "grpc-web": "m777mm 197", grpc: "Е 332Оу13" }[protocol];
      const expected = { connect: "К001ОХ99", "grpc-web": "М777ММ197", grpc: "Е332ОУ13" }[protocol];

      const added = await client.add({ number: typed });
      expect(added.plate?.number).toBe(expected);
      expect(added.plate?.type).toBe(PlateType.CAR);
      expect(added.plate?.regionCode).toBe(expected.slice(6));
      expect(added.plate?.regionName).toBe({ connect: "Москва", "grpc-web": "Москва", grpc: "Республика Мордовия" }[protocol]);
      expect(added.plate?.id).toMatch(uuidPattern);
      expect(added.plate?.createTime?.seconds).toBeGreaterThan(0n);

      const fetched = await client.get({ id: added.plate?.id ?? "" });
      expect(fetched.plate).toEqual(added.plate);

      const listed = await client.list({ pageSize: 1000 });
      expect(listed.plates.map((plate) => plate.id)).toContain(added.plate?.id);
    });

    it("rejects a stored number with its corrected form", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const number = { connect: "Х555ХХ55", "grpc-web": "Х556ХХ55", grpc: "Х557ХХ55" }[protocol];
      await client.add({ number });

      const error = await connectErrorOf(client.add({ number: number.toLowerCase().replace("х", "x") }));
      expect(error.code).toBe(Code.AlreadyExists);
      expect(error.rawMessage).toContain(number);
    });

    it("rejects an invalid character with its position", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const error = await connectErrorOf(client.add({ number: "А12ZВС77" }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain('"Z"');
      expect(error.rawMessage).toContain("position 3");
    });

    it("rejects a number of no known format", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const error = await connectErrorOf(client.add({ number: "А1234" }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain("format");
    });

    it("reports an unknown id as not found", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const error = await connectErrorOf(client.get({ id: "00000000-0000-4000-8000-000000000000" }));
      expect(error.code).toBe(Code.NotFound);
    });

    it("generates distinct valid numbers", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const response = await client.generate({ amount: 25 });
      const numbers = response.plates.map((plate) => plate.number);
      expect(numbers).toHaveLength(25);
      expect(new Set(numbers).size).toBe(25);
      for (const plate of response.plates) {
        expect(plate.id).toBe("");
        expect(plate.createTime).toBeUndefined();
        const result = normalizePlate(plate.number);
        expect(result.ok).toBe(true);
        if (result.ok) {
          expect(result.plate.type).toBe("CAR");
          expect(result.plate.number).toBe(plate.number);
        }
      }
    });

    it("rejects calls without a valid token", async () => {
      const cases = [
        connectClient(protocol, server.baseUrl, undefined),
        connectClient(protocol, server.baseUrl, "wrong-token"),
        connectClient(protocol, server.baseUrl, `${server.token}x`),
      ];
      for (const client of cases) {
        const error = await connectErrorOf(client.get({ id: "00000000-0000-4000-8000-000000000000" }));
        expect(error.code).toBe(Code.Unauthenticated);
        expect(error.rawMessage).toBe("missing or invalid bearer token");
      }
    });
  });

  it.each([
    ["empty", ""],
    ["not hexadecimal", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"],
    ["without hyphens", "0000000000004000800000000000000000"],
    ["too short", "00000000-0000-4000-8000-00000000000"],
    ["with braces", "{00000000-0000-4000-8000-000000000000}"],
    ["SQL", "1' or '1'='1"],
  ])("Get rejects an id %s", async (_case, id) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.get({ id }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("expected a UUID");
  });

  it("Get works as a Connect GET request", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const added = await client.add({ number: "В101ВВ102" });
    const getClient = createClient(
      PlateService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        useHttpGet: true,
        interceptors: [
          (next) => (request) => {
            request.header.set("authorization", `Bearer ${server.token}`);
            return next(request);
          },
        ],
      }),
    );
    const url = new URL("/plates.v1.PlateService/Get", server.baseUrl);
    url.searchParams.set("encoding", "json");
    url.searchParams.set("message", JSON.stringify({ id: added.plate?.id }));
    const response = await fetch(url, { headers: { authorization: `Bearer ${server.token}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ plate: { number: "В101ВВ102" } });

    const fetched = await getClient.get({ id: added.plate?.id ?? "" });
    expect(fetched.plate?.number).toBe("В101ВВ102");
  });

  it("stores one of 50 concurrent spellings", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const spellings = ["Т345ОР150", "t345op150", "T 345 OP 150", "т345ор150", "Т345OP150"];
    const calls = Array.from({ length: 50 }, (_, index) =>
      client.add({ number: spellings[index % spellings.length] ?? "" }).then(
        (response) => ({ ok: true as const, number: response.plate?.number }),
        (error: unknown) => ({ ok: false as const, code: ConnectError.from(error).code }),
      ),
    );
    const results = await Promise.all(calls);
    const succeeded = results.filter((result) => result.ok);
    const rejected = results.filter((result) => !result.ok);
    expect(succeeded).toHaveLength(1);
    expect(succeeded[0]?.number).toBe("Т345ОР150");
    expect(rejected.every((result) => result.code === Code.AlreadyExists)).toBe(true);
    const stored = await server.database.db("plates").where({ number: "Т345ОР150" }).count<{ count: string }[]>("* as count");
    expect(Number(stored[0]?.count)).toBe(1);
  });

  it("Generate treats amount 0 as 1", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const response = await client.generate({});
    expect(response.plates).toHaveLength(1);
  });

  it("Generate serves the maximum amount", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const response = await client.generate({ amount: maxGenerateAmount });
    expect(new Set(response.plates.map((plate) => plate.number)).size).toBe(maxGenerateAmount);
  });

  it("Generate rejects an amount over the maximum", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.generate({ amount: maxGenerateAmount + 1 }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain(String(maxGenerateAmount));
  });

  it("Generate skips stored numbers", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    random.reset();
    const first = await client.generate({ amount: 5 });
    const taken = first.plates[0]?.number ?? "";
    await client.add({ number: taken });

    random.reset();
    const second = await client.generate({ amount: 5 });
    const numbers = second.plates.map((plate) => plate.number);
    expect(numbers).not.toContain(taken);
    expect(new Set(numbers).size).toBe(5);
    // The same draws came back except the stored one.
    expect(numbers).toEqual(expect.arrayContaining(first.plates.slice(1).map((plate) => plate.number)));
  });

  it("List pages newest first without gaps or repeats", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    for (const number of ["А100АА50", "А101АА50", "А102АА50", "А103АА50", "А104АА50"]) {
      await client.add({ number });
    }
    const all = (await client.list({ pageSize: 1000 })).plates;
    const times = all.map((plate) => plate.createTime?.seconds ?? 0n);
    for (let index = 1; index < times.length; index++) {
      expect(times[index - 1]).toBeGreaterThanOrEqual(times[index] ?? 0n);
    }

    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await client.list({ pageSize: 2, pageToken });
      expect(page.plates.length).toBeLessThanOrEqual(2);
      seen.push(...page.plates.map((plate) => plate.id));
      if (pages === 0) {
        // A plate added while paging is newer than every page, so it must not show up.
        await client.add({ number: "А105АА50" });
      }
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");

    expect(seen).toEqual(all.map((plate) => plate.id));
    expect(pages).toBe(Math.ceil(all.length / 2));
  });

  it.each([
    ["garbage", "not-a-token"],
    ["wrong shape", Buffer.from(JSON.stringify({ a: 1 })).toString("base64url")],
    ["bad id", Buffer.from(JSON.stringify([1, "x"])).toString("base64url")],
  ])("List rejects a page token of %s", async (_case, pageToken) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.list({ pageToken }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("page_token");
  });

  it("List rejects a negative page size", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.list({ pageSize: -1 }));
    expect(error.code).toBe(Code.InvalidArgument);
  });

  describe("over @grpc/grpc-js", () => {
    it("adds and gets a number", async () => {
      const client = grpcJsClient(`127.0.0.1:${server.port}`, server.token);
      try {
        const added = await client.call<{ plate: GrpcPlate }>("Add", { number: " а123вс 77 " });
        expect(added.plate.number).toBe("А123ВС77");
        expect(added.plate.id).toMatch(uuidPattern);
        const fetched = await client.call<{ plate: GrpcPlate }>("Get", { id: added.plate.id });
        expect(fetched.plate.number).toBe("А123ВС77");
        expect(fetched.plate.createTime?.seconds).toBe(added.plate.createTime?.seconds);
        const listed = await client.call<{ plates: GrpcPlate[] }>("List", { pageSize: 1000 });
        expect(listed.plates.map((plate) => plate.id)).toContain(added.plate.id);
        const generated = await client.call<{ plates: GrpcPlate[] }>("Generate", { amount: 3 });
        expect(generated.plates).toHaveLength(3);
      } finally {
        client.close();
      }
    });

    it("maps each error to its status code", async () => {
      const client = grpcJsClient(`127.0.0.1:${server.port}`, server.token);
      const anonymous = grpcJsClient(`127.0.0.1:${server.port}`, undefined);
      try {
        await client.call("Add", { number: "С999СС99" });
        const cases: [string, () => Promise<unknown>, GrpcStatus][] = [
          ["stored number", () => client.call("Add", { number: "c999cc99" }), GrpcStatus.ALREADY_EXISTS],
          ["zero number", () => client.call("Add", { number: "А000ВС77" }), GrpcStatus.INVALID_ARGUMENT],
          ["malformed id", () => client.call("Get", { id: "nope" }), GrpcStatus.INVALID_ARGUMENT],
          ["unknown id", () => client.call("Get", { id: "00000000-0000-4000-8000-000000000000" }), GrpcStatus.NOT_FOUND],
          ["large amount", () => client.call("Generate", { amount: maxGenerateAmount + 1 }), GrpcStatus.INVALID_ARGUMENT],
          ["bad page token", () => client.call("List", { pageToken: "x" }), GrpcStatus.INVALID_ARGUMENT],
          ["no token", () => anonymous.call("Get", { id: "00000000-0000-4000-8000-000000000000" }), GrpcStatus.UNAUTHENTICATED],
        ];
        for (const [name, call, expected] of cases) {
          const error = await grpcErrorOf(call());
          expect({ name, code: error.code }).toEqual({ name, code: expected });
        }
      } finally {
        client.close();
        anonymous.close();
      }
    });

    it("reads messages with punctuation and Cyrillic intact", async () => {
      const client = grpcJsClient(`127.0.0.1:${server.port}`, server.token);
      try {
        const malformed = await grpcErrorOf(client.call("Get", { id: "a/b,c:%" }));
        expect(malformed.details).toBe('invalid id "a/b,c:%": expected a UUID');
        await client.call("Add", { number: "Р808РР08" });
        const duplicate = await grpcErrorOf(client.call("Add", { number: "p808pp08" }));
        expect(duplicate.details).toBe("plate Р808РР08 already exists");
      } finally {
        client.close();
      }
    });
  });

  it("rejects an oversized body before parsing it", async () => {
    const response = await fetch(new URL("/plates.v1.PlateService/Add", server.baseUrl), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${server.token}` },
      body: JSON.stringify({ number: "А".repeat(1024 * 1024) }),
    });
    expect(response.status).not.toBe(200);
    const body = (await response.json()) as { code: string };
    expect(body.code).toBe("resource_exhausted");
  });
});
