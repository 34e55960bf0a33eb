import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maxGenerateAmount } from "../src/service/generate.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface CurlResult {
  status: number;
  contentType: string;
  body: string;
  headers: string;
}

type Json = Record<string, unknown>;

/**
 * Runs the curl binary over HTTP/1.1 and returns the status, the content type,
 * the response headers and the body. `path` may hold a query string.
 */
function curl(server: TestServer, method: string, path: string, options: { body?: string; token?: string | null; headers?: string[] } = {}): Promise<CurlResult> {
  const args = ["--silent", "--show-error", "--http1.1", "--max-time", "20", "--request", method, "--include"];
  const token = options.token === undefined ? server.token : options.token;
  if (token !== null) {
    args.push("--header", `authorization: Bearer ${token}`);
  }
  for (const header of options.headers ?? []) {
    args.push("--header", header);
  }
  if (options.body !== undefined) {
    args.push("--header", "content-type: application/json", "--data-binary", options.body);
  }
  args.push("--write-out", "\n%{http_code}\n%{content_type}", `${server.baseUrl}${path}`);
  return new Promise((resolve, reject) => {
    execFile("curl", args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error !== null) {
        reject(new Error(`curl ${method} ${path} failed: ${error.message}; stderr: ${stderr}`));
        return;
      }
      // --include puts each header block, 100 Continue included, before the body.
      let rest = stdout;
      let headers = "";
      while (rest.startsWith("HTTP/")) {
        const end = rest.indexOf("\r\n\r\n");
        headers = rest.slice(0, end);
        rest = rest.slice(end + 4);
      }
      const lines = rest.split("\n");
      const contentType = lines.pop() ?? "";
      const status = Number(lines.pop());
      resolve({ status, contentType, body: lines.join("\n"), headers });
    });
  });
}

function json(result: CurlResult): Json {
  expect(result.contentType).toMatch(/^application\/json/);
  return JSON.parse(result.body) as Json;
}

function plateOf(body: Json): Json {
  return (body.plate ?? {}) as Json;
}

/** Checks an error body: google.rpc.Status JSON with the given gRPC code. */
function expectStatusBody(result: CurlResult, httpStatus: number, code: number): Json {
  expect(result.status, result.body.slice(0, 500)).toBe(httpStatus);
  const body = json(result);
  expect(body.code).toBe(code);
  expect(typeof body.message).toBe("string");
  expect(Array.isArray(body.details)).toBe(true);
  return body;
}

describe("REST routes with curl", () => {
  let server: TestServer;
  let added: Json;

  beforeAll(async () => {
    server = await startTestServer("postgres");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("adds plate with POST /v1/plates", async () => {
    const result = await curl(server, "POST", "/v1/plates", { body: JSON.stringify({ number: " а123вс 77 " }) });
    expect(result.status, result.body).toBe(200);
    added = plateOf(json(result));
    expect(added.number).toBe("А123ВС77");
    expect(added.id).toMatch(uuidPattern);
    expect(added.type).toBe("PLATE_TYPE_CAR");
    expect(added.regionName).toBe("Москва");
    expect(added.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it("rejects stored number with 409", async () => {
    const body = expectStatusBody(await curl(server, "POST", "/v1/plates", { body: JSON.stringify({ number: "А123ВС77" }) }), 409, 6);
    expect(body.message).toBe("plate А123ВС77 already exists");
  });

  it("rejects invalid number with 400 and details", async () => {
    const body = expectStatusBody(await curl(server, "POST", "/v1/plates", { body: JSON.stringify({ number: "ж123вс77" }) }), 400, 3);
    expect(body.message).toContain("ж123вс77");
    const types = (body.details as Json[]).map((detail) => detail["@type"]);
    expect(types).toEqual(
      expect.arrayContaining([
        "type.googleapis.com/google.rpc.ErrorInfo",
        "type.googleapis.com/google.rpc.BadRequest",
        "type.googleapis.com/google.rpc.LocalizedMessage",
      ]),
    );
    const localized = (body.details as Json[]).find((detail) => detail["@type"] === "type.googleapis.com/google.rpc.LocalizedMessage");
    expect(localized?.locale).toBe("ru-RU");
    expect(localized?.message).toMatch(/[А-Яа-я]/);
  });

  it("rejects unknown body field with 400", async () => {
    const body = expectStatusBody(await curl(server, "POST", "/v1/plates", { body: JSON.stringify({ numbr: "а123вс77" }) }), 400, 3);
    expect(body.message).toContain("numbr");
  });

  it("rejects invalid JSON with 400", async () => {
    expectStatusBody(await curl(server, "POST", "/v1/plates", { body: "{" }), 400, 3);
  });

  it("gets plate with GET /v1/plates/{id}", async () => {
    const result = await curl(server, "GET", `/v1/plates/${String(added.id)}`);
    expect(result.status, result.body).toBe(200);
    expect(plateOf(json(result))).toEqual(added);
  });

  it("answers unknown id with 404", async () => {
    expectStatusBody(await curl(server, "GET", "/v1/plates/00000000-0000-4000-8000-000000000000"), 404, 5);
  });

  it("answers malformed id with 400", async () => {
    const body = expectStatusBody(await curl(server, "GET", "/v1/plates/%D0%B6-1"), 400, 3);
    expect(body.message).toContain('"ж-1"');
  });

  it("finds plate with GET /v1/plates:find", async () => {
    const result = await curl(server, "GET", `/v1/plates:find?number=${encodeURIComponent("а 123 вс 77")}`);
    expect(result.status, result.body).toBe(200);
    expect(plateOf(json(result)).id).toBe(added.id);
  });

  it("answers find of unstored number with 404", async () => {
    expectStatusBody(await curl(server, "GET", `/v1/plates:find?number=${encodeURIComponent("в456ок99")}`), 404, 5);
  });

  it("lists plates with GET /v1/plates and filters", async () => {
    const query = "pageSize=10&region_codes=77&region_codes=78&types=PLATE_TYPE_CAR&types=2&createTimeFrom=2000-01-01T00:00:00Z";
    const result = await curl(server, "GET", `/v1/plates?${query}`);
    expect(result.status, result.body).toBe(200);
    const plates = json(result).plates as Json[];
    expect(plates.map((plate) => plate.id)).toEqual([added.id]);
  });

  it("lists nothing for other region", async () => {
    const result = await curl(server, "GET", "/v1/plates?regionCodes=99");
    expect(result.status, result.body).toBe(200);
    expect(json(result)).toEqual({});
  });

  it("rejects unknown query parameter with 400", async () => {
    const body = expectStatusBody(await curl(server, "GET", "/v1/plates?page_sise=10"), 400, 3);
    expect(body.message).toContain("page_sise");
  });

  it("rejects invalid enum and timestamp with 400", async () => {
    expectStatusBody(await curl(server, "GET", "/v1/plates?types=PLATE_TYPE_BOAT"), 400, 3);
    expectStatusBody(await curl(server, "GET", "/v1/plates?createTimeFrom=yesterday"), 400, 3);
  });

  it("validates with POST /v1/plates:validate", async () => {
    const valid = await curl(server, "POST", "/v1/plates:validate", { body: JSON.stringify({ number: "м777мм 197" }) });
    expect(valid.status, valid.body).toBe(200);
    const validBody = json(valid);
    expect(validBody.valid).toBe(true);
    expect((validBody.plate as Json).number).toBe("М777ММ197");

    const invalid = await curl(server, "POST", "/v1/plates:validate", { body: JSON.stringify({ number: "ж" }) });
    expect(invalid.status, invalid.body).toBe(200);
    const invalidBody = json(invalid);
    expect(invalidBody.valid).toBeUndefined();
    expect((invalidBody.violation as Json).reason).toBe("INVALID_CHARACTER");
  });

  it("generates with POST /v1/plates:generate", async () => {
    const result = await curl(server, "POST", "/v1/plates:generate", { body: JSON.stringify({ amount: 3, regionCodes: ["77"] }) });
    expect(result.status, result.body).toBe(200);
    const plates = json(result).plates as Json[];
    expect(plates).toHaveLength(3);
    for (const plate of plates) {
      expect(plate.number).toMatch(/^[АВЕКМНОРСТУХ]\d{3}[АВЕКМНОРСТУХ]{2}77$/);
      expect(plate.id).toBeUndefined();
    }
  });

  it("rejects amount over limit with 400", async () => {
    expectStatusBody(await curl(server, "POST", "/v1/plates:generate", { body: JSON.stringify({ amount: maxGenerateAmount + 1 }) }), 400, 3);
  });

  it("streams with POST /v1/plates:generateStream", async () => {
    const result = await curl(server, "POST", "/v1/plates:generateStream", { body: JSON.stringify({ amount: 5 }) });
    expect(result.status, result.body).toBe(200);
    expect(result.contentType).toMatch(/^application\/x-ndjson/);
    const lines = result.body.split("\n").filter((line) => line !== "");
    expect(lines.length).toBeGreaterThan(0);
    const numbers = lines.flatMap((line) => {
      const message = JSON.parse(line) as { result?: { plates: Json[] }; error?: unknown };
      expect(message.error).toBeUndefined();
      return (message.result?.plates ?? []).map((plate) => plate.number);
    });
    expect(numbers).toHaveLength(5);
    expect(new Set(numbers).size).toBe(5);
  });

  it("deletes with DELETE /v1/plates/{id}", async () => {
    const created = await curl(server, "POST", "/v1/plates", { body: JSON.stringify({ number: "т001тт98" }) });
    const id = String(plateOf(json(created)).id);
    const deleted = await curl(server, "DELETE", `/v1/plates/${id}`);
    expect(deleted.status, deleted.body).toBe(200);
    expect(json(deleted)).toEqual({});
    expectStatusBody(await curl(server, "DELETE", `/v1/plates/${id}`), 404, 5);
    expectStatusBody(await curl(server, "GET", `/v1/plates/${id}`), 404, 5);
  });

  it("rejects missing token with 401", async () => {
    const result = await curl(server, "GET", "/v1/plates", { token: null });
    const body = expectStatusBody(result, 401, 16);
    expect(body.message).toBe("missing or invalid bearer token");
    expect(result.headers.toLowerCase()).toContain("www-authenticate: bearer");
  });

  it("rejects wrong method with 405", async () => {
    const result = await curl(server, "PUT", "/v1/plates");
    expectStatusBody(result, 405, 12);
    expect(result.headers.toLowerCase()).toMatch(/allow: (post, get|get, post)/);
  });

  it("answers unknown path with 404", async () => {
    expectStatusBody(await curl(server, "GET", "/v1/cars"), 404, 5);
  });

  it("rejects body over limit with 413", async () => {
    const body = JSON.stringify({ number: "x".repeat(70_000) });
    expectStatusBody(await curl(server, "POST", "/v1/plates", { body }), 413, 8);
  });
});

describe("legacy Flask paths with curl", () => {
  let server: TestServer;
  let added: Json;

  beforeAll(async () => {
    server = await startTestServer("postgres");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("adds plate with POST /PLATE/ADD", async () => {
    const result = await curl(server, "POST", "/PLATE/ADD", { body: JSON.stringify({ auto_numbers: "о001оо 77" }) });
    expect(result.status, result.body).toBe(200);
    added = json(result);
    expect(added.auto_numbers).toBe("О001ОО77");
    expect(added.id).toMatch(uuidPattern);
  });

  it("rejects stored number with 409", async () => {
    const body = expectStatusBody(await curl(server, "POST", "/PLATE/ADD", { body: JSON.stringify({ auto_numbers: "О001ОО77" }) }), 409, 6);
    expect(body.message).toBe("plate О001ОО77 already exists");
  });

  it("rejects invalid number with 400", async () => {
    expectStatusBody(await curl(server, "POST", "/PLATE/ADD", { body: JSON.stringify({ auto_numbers: "ж" }) }), 400, 3);
  });

  it("rejects body without auto_numbers with 400", async () => {
    const body = expectStatusBody(await curl(server, "POST", "/PLATE/ADD", { body: JSON.stringify({ plate: "о001оо77" }) }), 400, 3);
    expect(body.message).toContain("auto_numbers");
  });

  it("gets plate with GET /PLATE/GET", async () => {
    const result = await curl(server, "GET", `/PLATE/GET?id=${String(added.id)}`);
    expect(result.status, result.body).toBe(200);
    expect(json(result)).toEqual({ id: added.id, auto_numbers: "О001ОО77" });
  });

  it("answers unknown id with 404", async () => {
    expectStatusBody(await curl(server, "GET", "/PLATE/GET?id=00000000-0000-4000-8000-000000000000"), 404, 5);
  });

  it("answers missing id with 400", async () => {
    expectStatusBody(await curl(server, "GET", "/PLATE/GET"), 400, 3);
  });

  it("generates with GET /PLATE/GENERATE", async () => {
    const result = await curl(server, "GET", "/PLATE/GENERATE?amount=3");
    expect(result.status, result.body).toBe(200);
    const text = String(json(result).generate_car_numbers);
    expect(text).toMatch(/^\[\{1: '[А-Я0-9]+', 2: '[А-Я0-9]+', 3: '[А-Я0-9]+'\}\]$/);
  });

  it("treats amount 0 as 1", async () => {
    const result = await curl(server, "GET", "/PLATE/GENERATE?amount=0");
    expect(result.status, result.body).toBe(200);
    expect(String(json(result).generate_car_numbers)).toMatch(/^\[\{1: '[А-Я0-9]+'\}\]$/);
  });

  it.each(["", "?amount=", "?amount=x", "?amount=-1", `?amount=${maxGenerateAmount + 1}`])("rejects GENERATE%s with 400", async (query) => {
    expectStatusBody(await curl(server, "GET", `/PLATE/GENERATE${query}`), 400, 3);
  });

  it.each([
    ["GET", "/PLATE/GENERATE?amount=1"],
    ["GET", "/PLATE/GET?id=00000000-0000-4000-8000-000000000000"],
    ["POST", "/PLATE/ADD"],
  ])("rejects %s %s without token with 401", async (method, path) => {
    const result = await curl(server, method, path, { token: null, body: method === "POST" ? JSON.stringify({ auto_numbers: "а123вс77" }) : undefined });
    expectStatusBody(result, 401, 16);
  });

  it("rejects GET /PLATE/ADD with 405", async () => {
    const result = await curl(server, "GET", "/PLATE/ADD");
    expectStatusBody(result, 405, 12);
    expect(result.headers.toLowerCase()).toContain("allow: post");
  });
});
