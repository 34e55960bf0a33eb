import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient, type ConnectProtocol } from "./support/clients.ts";
import { connectErrorOf } from "./support/registry.ts";
import { backends, startTestServer, type TestServer } from "./support/server.ts";

const protocols: ConnectProtocol[] = ["connect", "grpc-web", "grpc"];
const unknownId = "00000000-0000-4000-8000-000000000000";

describe.each(backends)("Find and Delete on %s", (backend) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(backend);
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(protocols)("finds a stored number in any spelling over %s", async (protocol) => {
    const client = connectClient(protocol, server.baseUrl, server.token);
    const number = { connect: "Е321КХ197", "grpc-web": "Е322КХ197", grpc: "Е323КХ197" }[protocol];
    const added = await client.add({ number });

    const spellings = [number, number.toLowerCase(), ` ${number.slice(0, 1)} ${number.slice(1, 4)} ${number.slice(4, 6)} ${number.slice(6)} `];
    spellings.push(number.replace("Е", "e").replace("К", "k").replace("Х", "x"));
    for (const spelling of spellings) {
      const found = await client.find({ number: spelling });
      expect(found.plate).toEqual(added.plate);
    }
  });

  it("reports a valid number that is not stored as not found", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const error = await connectErrorOf(client.find({ number: "о777оо 77" }));
    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage).toContain("О777ОО77");
  });

  it.each([
    ["empty", ""],
    ["an invalid character", "А12ZВС77"],
    ["no known format", "А1234"],
  ])("rejects a number that is %s", async (_case, number) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.find({ number }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("invalid");
  });

  it.each(protocols)("deletes a plate and adds its number again over %s", async (protocol) => {
    const client = connectClient(protocol, server.baseUrl, server.token);
    const number = { connect: "Н100НН50", "grpc-web": "Н101НН50", grpc: "Н102НН50" }[protocol];
    const added = await client.add({ number });
    const id = added.plate?.id ?? "";

    const deleted = await client.delete({ id });
    expect(deleted).toBeDefined();
    expect((await connectErrorOf(client.get({ id }))).code).toBe(Code.NotFound);
    expect((await connectErrorOf(client.find({ number }))).code).toBe(Code.NotFound);
    expect((await connectErrorOf(client.delete({ id }))).code).toBe(Code.NotFound);

    const again = await client.add({ number: number.toLowerCase() });
    expect(again.plate?.number).toBe(number);
    expect(again.plate?.id).not.toBe(id);
    expect((await client.find({ number })).plate?.id).toBe(again.plate?.id);
  });

  it("deletes a reserved number so that it can be reserved again", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const space = { regionCodes: ["95"], series: "ТТТ" };
    const all = await client.generate({ ...space, amount: 999, reserve: true });
    const victim = all.plates[500];
    await client.delete({ id: victim?.id ?? "" });

    const again = await client.generate({ ...space, amount: 1, reserve: true });
    expect(again.plates.map((plate) => plate.number)).toEqual([victim?.number]);
  });

  it("reports an unknown id as not found", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.delete({ id: unknownId }));
    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage).toContain(unknownId);
  });

  it.each([
    ["empty", ""],
    ["not a UUID", "1' or '1'='1"],
  ])("rejects an id that is %s", async (_case, id) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(client.delete({ id }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("expected a UUID");
  });
});
