import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countingStore } from "./support/registry.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

// The REST route of GenerateStream goes through an in-process transport, so
// it must itself wait for the client, or it would produce every batch at
// once, buffer them in memory and starve every other connection.
describe("REST generateStream", () => {
  let server: TestServer;
  let findStoredCalls: () => number;

  beforeAll(async () => {
    server = await startTestServer("postgres", {
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

  it("produces only as fast as the client reads", async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.baseUrl}/v1/plates:generateStream`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: JSON.stringify({ amount: 1_000_000 }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);

    // The client stops reading; socket buffers hold a few batches at most.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const producedWhilePaused = findStoredCalls();
    expect(producedWhilePaused).toBeLessThan(100);

    const health = await fetch(`${server.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    controller.abort();
    await reader.cancel().catch(() => {});
  });
});
