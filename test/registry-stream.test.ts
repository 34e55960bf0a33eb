import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlateType } from "../gen/plates/v1/plate_service_pb.ts";
import { maxStreamAmount, streamBatchSize } from "../src/service/generate-stream.ts";
import { connectClient, type ConnectProtocol } from "./support/clients.ts";
import { connectErrorOf, countingStore, countPlates } from "./support/registry.ts";
import { backends, startTestServer, type TestServer } from "./support/server.ts";

const protocols: ConnectProtocol[] = ["connect", "grpc-web", "grpc"];

/** Waits until `read` returns the same value for `quietMs` in a row, and returns it. */
async function settledValue(read: () => number, quietMs: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    const next = read();
    if (next === value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`value still changing after ${timeoutMs} ms: ${value} then ${next}`);
    }
    value = next;
  }
}

describe.each(backends)("GenerateStream on %s", (backend) => {
  let server: TestServer;
  let findStoredCalls: () => number;

  beforeAll(async () => {
    server = await startTestServer(backend, {
      wrapStore: (store) => {
        const counting = countingStore(store);
        findStoredCalls = counting.findStoredCalls;
        return counting.store;
      },
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(protocols)("sends distinct unstored numbers in batches over %s", async (protocol) => {
    const client = connectClient(protocol, server.baseUrl, server.token);
    const amount = 2 * streamBatchSize + 500;
    const numbers = new Set<string>();
    const sizes: number[] = [];
    for await (const response of client.generateStream({ amount })) {
      sizes.push(response.plates.length);
      for (const plate of response.plates) {
        expect(plate.id).toBe("");
        expect(plate.type).toBe(PlateType.CAR);
        numbers.add(plate.number);
      }
    }

    expect(sizes).toEqual([streamBatchSize, streamBatchSize, 500]);
    expect(numbers.size).toBe(amount);
    const stored = await server.database.db("plates").whereIn("number", [...numbers]).count<{ count: string }[]>("* as count");
    expect(Number(stored[0]?.count)).toBe(0);
  });

  it("sends one number for amount 0", async () => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const batches = [];
    for await (const response of client.generateStream({})) {
      batches.push(response.plates.length);
    }
    expect(batches).toEqual([1]);
  });

  it("skips stored numbers and draws every free one of a small space", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const space = { regionCodes: ["42"], series: "МОР" };
    const reserved = await client.generate({ ...space, amount: 400, reserve: true });
    const reservedNumbers = new Set(reserved.plates.map((plate) => plate.number));

    const sent = new Set<string>();
    for await (const response of client.generateStream({ ...space, amount: 599 })) {
      for (const plate of response.plates) {
        expect(reservedNumbers.has(plate.number)).toBe(false);
        expect(plate.number).toMatch(/^М\d{3}ОР42$/);
        sent.add(plate.number);
      }
    }
    expect(sent.size).toBe(599);
  });

  it("ends with RESOURCE_EXHAUSTED before any batch when too few numbers are free", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const space = { regionCodes: ["43"], series: "МОР" };
    await client.generate({ ...space, amount: 990, reserve: true });

    const batches: number[] = [];
    const error = await connectErrorOf(
      (async () => {
        for await (const response of client.generateStream({ ...space, amount: 10 })) {
          batches.push(response.plates.length);
        }
      })(),
    );
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toContain("only 9 of 999");
    expect(batches).toEqual([]);
  });

  it.each([
    ["an amount over the maximum", { amount: maxStreamAmount + 1 }, String(maxStreamAmount)],
    ["an unknown region code", { regionCodes: ["1000"] }, '"1000"'],
    ["an invalid series", { series: "Q" }, "series"],
  ])("rejects %s", async (_case, request, mention) => {
    const client = connectClient("connect", server.baseUrl, server.token);
    const error = await connectErrorOf(
      (async () => {
        for await (const _response of client.generateStream(request)) {
          // Nothing may arrive.
        }
      })(),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain(mention);
  });

  it.each(["connect", "grpc"] as const)("stops producing when a %s client cancels", async (protocol) => {
    const client = connectClient(protocol, server.baseUrl, server.token);
    const abort = new AbortController();
    const before = findStoredCalls();
    let received = 0;

    const reading = (async () => {
      for await (const _response of client.generateStream({ amount: maxStreamAmount }, { signal: abort.signal })) {
        received++;
        if (received === 3) {
          abort.abort();
        }
      }
    })();
    const error = await connectErrorOf(reading);
    expect(error.code).toBe(Code.Canceled);

    // The server's count of batches settles soon after the cancel, far below
    // the 1000 batches of the whole stream.
    const produced = (await settledValue(findStoredCalls, 300)) - before;
    expect(produced).toBeGreaterThanOrEqual(3);
    expect(produced).toBeLessThan(40);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(findStoredCalls() - before).toBe(produced);
  });

  it("produces only as fast as the client reads", async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const abort = new AbortController();
    const before = findStoredCalls();
    const stream = client.generateStream({ amount: maxStreamAmount }, { signal: abort.signal })[Symbol.asyncIterator]();

    const first = await stream.next();
    expect(first.done).toBe(false);
    // The client reads nothing more, so the server stops once the HTTP/2
    // flow-control window and the socket buffers are full.
    const whilePaused = (await settledValue(findStoredCalls, 300)) - before;
    expect(whilePaused).toBeLessThan(40);

    for (let read = 0; read < 50; read++) {
      const next = await stream.next();
      expect(next.done).toBe(false);
    }
    expect(findStoredCalls() - before).toBeGreaterThanOrEqual(51);
    abort.abort();
    await stream.return?.();
  });

  it("streams 1,000,000 distinct numbers", { timeout: 120_000 }, async () => {
    const client = connectClient("grpc", server.baseUrl, server.token);
    const storedBefore = await countPlates(server.database.db);
    // A bitmap of the whole car space would take 38 MB, so the check keeps
    // numbers as a set of strings, as a client would.
    const numbers = new Set<string>();
    let batches = 0;
    for await (const response of client.generateStream({ amount: maxStreamAmount })) {
      batches++;
      for (const plate of response.plates) {
        numbers.add(plate.number);
      }
    }

    expect(batches).toBe(maxStreamAmount / streamBatchSize);
    expect(numbers.size).toBe(maxStreamAmount);
    expect(await countPlates(server.database.db)).toBe(storedBefore);
  });
});
