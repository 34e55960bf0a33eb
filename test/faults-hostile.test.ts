import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { createGzip } from "node:zlib";
import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceEntry, serviceNodeOptions } from "../scripts/build.ts";
import { repoRoot } from "./support/clients.ts";
import { testDatabaseUrl } from "./support/server.ts";

// Each call of these tests must get a response within this time; a call that
// does not counts as a hang.
const callTimeoutMs = 5_000;
// Calls of the bystander, a client that sends valid calls while a test sends
// hostile ones, must each take less than this.
const bystanderLimitMs = 3_000;
// Count of random inputs of each kind, and how many are in flight at once.
const randomInputs = 10_000;
const randomInFlight = 32;
// Fixed so that a failure can be replayed; fast-check takes it as its seed.
const seed = 20_261_204;
const maxRequestBytes = 65_536;

/** How a request is framed: gRPC, gRPC-Web, or the Connect protocol with protobuf or JSON. */
type Wire = "grpc" | "grpc-web" | "connect-proto" | "connect-json";
const binaryWires: Wire[] = ["grpc", "grpc-web", "connect-proto"];

/** What came back for one request, before it is read as a code. */
interface RawResponse {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** RST_STREAM code of an HTTP/2 stream that the server reset. */
  rstCode?: number;
  error?: string;
  timedOut: boolean;
  ms: number;
}

/** A request to send; `body` undefined sends none (END_STREAM on the headers). */
interface RawRequest {
  path: string;
  method?: string;
  headers: Record<string, string>;
  body?: Buffer;
}

const token = randomBytes(16).toString("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- Encoding ------------------------------------------------------------------

function varint(value: number): number[] {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return bytes;
}

/** Encodes a message whose field 1 (AddRequest.number, ValidateRequest.number) contains `bytes` as a string. */
function stringField(bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x0a, ...varint(bytes.length)]), bytes]);
}

/** Wraps `message` in a gRPC length-prefixed message: flag, 4-byte big-endian length, bytes. */
function grpcFrame(message: Buffer, compressed = false): Buffer {
  const header = Buffer.alloc(5);
  header[0] = compressed ? 1 : 0;
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

function wireHeaders(wire: Wire, withToken = true): Record<string, string> {
  const headers: Record<string, string> = {
    grpc: { "content-type": "application/grpc", te: "trailers" },
    "grpc-web": { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
    "connect-proto": { "content-type": "application/proto", "connect-protocol-version": "1" },
    "connect-json": { "content-type": "application/json", "connect-protocol-version": "1" },
  }[wire];
  return withToken ? { ...headers, authorization: `Bearer ${token}` } : { ...headers };
}

/** Builds a request of `wire` that carries the protobuf bytes `message`, or a JSON text for connect-json. */
function wireRequest(wire: Wire, rpc: string, message: Buffer): RawRequest {
  const body = wire === "grpc" || wire === "grpc-web" ? grpcFrame(message) : message;
  return { path: `/plates.v1.PlateService/${rpc}`, headers: wireHeaders(wire), body };
}

// --- Reading responses ----------------------------------------------------------

function codeName(status: number): string {
  return status === 0 ? "ok" : codeToString(status);
}

/** Reads grpc-status from the trailer frame (flag 0x80) at the end of a gRPC-Web body. */
function grpcWebTrailerStatus(body: Buffer): number | undefined {
  let offset = 0;
  while (offset + 5 <= body.length) {
    const flags = body[offset]!;
    const length = body.readUInt32BE(offset + 1);
    const payload = body.subarray(offset + 5, offset + 5 + length);
    if ((flags & 0x80) !== 0) {
      const match = /grpc-status:\s*(\d+)/i.exec(payload.toString("latin1"));
      return match === null ? undefined : Number(match[1]);
    }
    offset += 5 + length;
  }
  return undefined;
}

/**
 * Reads a response as a code name ("ok", "invalid_argument", ...), or as
 * "timeout", "HTTP <status>" or "reset <code>" when it carries no code.
 */
function outcomeOf(wire: Wire, raw: RawResponse): string {
  if (raw.timedOut) {
    return "timeout";
  }
  if (wire === "grpc" || wire === "grpc-web") {
    const header = raw.trailers["grpc-status"] ?? raw.headers["grpc-status"];
    if (header !== undefined) {
      return codeName(Number(header));
    }
    const webStatus = wire === "grpc-web" ? grpcWebTrailerStatus(raw.body) : undefined;
    if (webStatus !== undefined) {
      return codeName(webStatus);
    }
  } else if (raw.status === 200) {
    return "ok";
  } else {
    try {
      const parsed = JSON.parse(raw.body.toString("utf8")) as { code?: unknown };
      if (typeof parsed.code === "string") {
        return parsed.code;
      }
    } catch {
      // Not a Connect error body: fall through to the HTTP status.
    }
  }
  if (raw.status !== undefined && raw.status !== 200) {
    return `HTTP ${raw.status}`;
  }
  if (raw.rstCode !== undefined) {
    return resetCodes.get(raw.rstCode) ?? `reset ${raw.rstCode}`;
  }
  return `no response (${raw.error ?? "closed"})`;
}

// Codes of an HTTP/2 stream that the server reset before any status, as the
// gRPC HTTP/2 protocol maps them (PROTOCOL-HTTP2.md in grpc/grpc, "Errors").
// The other RST_STREAM codes map to INTERNAL.
const resetCodes = new Map<number, string>([
  [http2.constants.NGHTTP2_REFUSED_STREAM, "unavailable"],
  [http2.constants.NGHTTP2_CANCEL, "canceled"],
  [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, "resource_exhausted"],
  [http2.constants.NGHTTP2_INADEQUATE_SECURITY, "permission_denied"],
]);

/** Returns whether an outcome is unclear: a hang, INTERNAL, UNKNOWN, a server error or no response. */
function isUnclear(outcome: string): boolean {
  return outcome === "timeout" || outcome === "internal" || outcome === "unknown" || /^HTTP 5/.test(outcome) || outcome.startsWith("no response");
}

// --- Clients -----------------------------------------------------------------------

let port = 0;

async function connectHttp2(): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  // Errors of this session surface on its streams.
  session.on("error", () => {});
  return session;
}

/** Sends one request on an HTTP/2 session; never rejects. */
function sendHttp2(session: http2.ClientHttp2Session, request: RawRequest, timeoutMs = callTimeoutMs): Promise<RawResponse> {
  return new Promise((resolve) => {
    const started = performance.now();
    const response: RawResponse = { headers: {}, trailers: {}, body: Buffer.alloc(0), timedOut: false, ms: 0 };
    const chunks: Buffer[] = [];
    let received = 0;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(
        { ":method": request.method ?? "POST", ":path": request.path, ...request.headers },
        { endStream: request.body === undefined },
      );
    } catch (error) {
      resolve({ ...response, error: String(error), ms: performance.now() - started });
      return;
    }
    let settled = false;
    const finish = () => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      response.body = Buffer.concat(chunks);
      response.ms = performance.now() - started;
      resolve(response);
    };
    const timer = setTimeout(() => {
      response.timedOut = true;
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }, timeoutMs);
    stream.on("response", (headers, flags) => {
      response.headers = headers;
      response.status = Number(headers[":status"]);
      // A trailers-only response ends the call, as gRPC clients read it,
      // even while the request body is still being sent.
      if ((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
        finishAndCancel();
      }
    });
    stream.on("trailers", (trailers) => {
      response.trailers = trailers;
      finishAndCancel();
    });
    // Cancels the stream only while its request body is still being sent: a
    // peer that resets many streams trips Node's protection against rapid
    // resets, which closes the whole session.
    const finishAndCancel = () => {
      finish();
      if (!stream.closed && !stream.writableFinished) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    };
    stream.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received <= 1_048_576) {
        chunks.push(chunk);
      }
    });
    stream.on("error", (error) => {
      response.error = error.message;
    });
    stream.on("close", () => {
      if (!settled) {
        response.rstCode = stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? undefined : stream.rstCode;
      }
      finish();
    });
    if (request.body !== undefined) {
      stream.end(request.body);
    }
  });
}

/** Sends one request over HTTP/1.1 on a new connection; never rejects. */
function sendHttp1(request: RawRequest, timeoutMs = callTimeoutMs): Promise<RawResponse> {
  return new Promise((resolve) => {
    const started = performance.now();
    const response: RawResponse = { headers: {}, trailers: {}, body: Buffer.alloc(0), timedOut: false, ms: 0 };
    let settled = false;
    const finish = () => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        response.ms = performance.now() - started;
        resolve(response);
      }
    };
    const outgoing = http.request({
      host: "127.0.0.1",
      port,
      method: request.method ?? "POST",
      path: request.path,
      headers: request.headers,
      agent: false,
    });
    const timer = setTimeout(() => {
      response.timedOut = true;
      outgoing.destroy();
      finish();
    }, timeoutMs);
    outgoing.on("response", (incoming) => {
      response.status = incoming.statusCode;
      response.headers = incoming.headers;
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("end", () => {
        response.body = Buffer.concat(chunks);
        finish();
      });
      incoming.on("error", (error) => {
        response.error = error.message;
        response.body = Buffer.concat(chunks);
        finish();
      });
    });
    // A server that responds to a large body early may close the connection
    // while the body is still being sent. The response, when it came, counts.
    outgoing.on("error", (error) => {
      response.error = error.message;
      if (response.status === undefined) {
        finish();
      }
    });
    outgoing.end(request.body);
  });
}

/**
 * Sends one request over HTTP/1.1 on a raw socket, writing the body in 64 KiB
 * pieces and stopping as soon as a whole response has arrived. A server that
 * responds to a large body early and closes the connection would otherwise make
 * the client's next write fail, and the reset can discard the response.
 */
function sendHttp1Streaming(request: RawRequest, timeoutMs = callTimeoutMs): Promise<RawResponse> {
  return new Promise((resolve) => {
    const started = performance.now();
    const response: RawResponse = { headers: {}, trailers: {}, body: Buffer.alloc(0), timedOut: false, ms: 0 };
    const body = request.body ?? Buffer.alloc(0);
    let received = Buffer.alloc(0);
    let complete = false;
    let settled = false;
    const finish = () => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        response.ms = performance.now() - started;
        resolve(response);
      }
    };
    const timer = setTimeout(() => {
      response.timedOut = response.status === undefined;
      finish();
    }, timeoutMs);
    // Parses the response once its head and its whole body (by
    // content-length, or up to the last chunk) have arrived.
    const parse = () => {
      const headEnd = received.indexOf("\r\n\r\n");
      if (headEnd < 0) {
        return;
      }
      const lines = received.subarray(0, headEnd).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = received.subarray(headEnd + 4);
      let payload: Buffer | undefined;
      if (headers["transfer-encoding"] === "chunked") {
        const chunks: Buffer[] = [];
        let offset = 0;
        for (;;) {
          const lineEnd = rest.indexOf("\r\n", offset);
          if (lineEnd < 0) {
            return;
          }
          const size = parseInt(rest.subarray(offset, lineEnd).toString("latin1"), 16);
          if (rest.length < lineEnd + 2 + size + 2) {
            return;
          }
          if (size === 0) {
            break;
          }
          chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
          offset = lineEnd + 2 + size + 2;
        }
        payload = Buffer.concat(chunks);
      } else {
        const length = Number(headers["content-length"] ?? 0);
        if (rest.length < length) {
          return;
        }
        payload = rest.subarray(0, length);
      }
      response.status = Number(lines[0]!.split(" ")[1]);
      response.headers = headers;
      response.body = payload;
      complete = true;
      finish();
    };
    const socket = net.connect(port, "127.0.0.1");
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      parse();
    });
    socket.on("error", (error) => {
      response.error = error.message;
      finish();
    });
    socket.on("close", finish);
    socket.on("connect", async () => {
      const head = [`${request.method ?? "POST"} ${request.path} HTTP/1.1`, `host: 127.0.0.1:${port}`, `content-length: ${body.length}`];
      for (const [name, value] of Object.entries(request.headers)) {
        head.push(`${name}: ${value}`);
      }
      socket.write(`${head.join("\r\n")}\r\n\r\n`);
      for (let offset = 0; offset < body.length && !complete && !socket.destroyed; offset += 65_536) {
        if (!socket.write(body.subarray(offset, offset + 65_536))) {
          await new Promise((resolveDrain) => {
            socket.once("drain", resolveDrain);
            socket.once("close", resolveDrain);
          });
        }
      }
    });
  });
}

/** Sends `requests` over one HTTP/2 session per wire, `inFlight` at a time; returns outcomes in order. */
async function sendAll(items: { wire: Wire; request: RawRequest }[], inFlight = randomInFlight): Promise<{ outcome: string; ms: number }[]> {
  const sessions = new Map<Wire, http2.ClientHttp2Session>();
  for (const wire of new Set(items.map((item) => item.wire))) {
    sessions.set(wire, await connectHttp2());
  }
  const outcomes: { outcome: string; ms: number }[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++) {
      const item = items[index]!;
      let session = sessions.get(item.wire)!;
      // A session that the server closed (GOAWAY) is replaced, so one bad
      // input cannot fail the inputs after it.
      if (session.closed || session.destroyed) {
        session = await connectHttp2();
        sessions.set(item.wire, session);
      }
      const raw = await sendHttp2(session, item.request);
      outcomes[index] = { outcome: outcomeOf(item.wire, raw), ms: raw.ms };
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  for (const session of sessions.values()) {
    session.close();
  }
  return outcomes;
}

/** Counts outcomes by name, for readable assertion failures. */
function countOutcomes(outcomes: { outcome: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { outcome } of outcomes) {
    counts[outcome] = (counts[outcome] ?? 0) + 1;
  }
  return counts;
}

// --- The service under test --------------------------------------------------------

let service: ChildProcess;
let serviceExit: Promise<void>;
let knownId = "";
let baselineRss = 0;
let peakRss = 0;
let rssTimer: NodeJS.Timeout;

function readRss(): number {
  try {
    const status = readFileSync(`/proc/${service.pid}/status`, "utf8");
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Starts a period of RSS watching; returns a function that reads how far RSS rose above its value at the start. */
function watchRss(): () => number {
  const start = readRss();
  peakRss = start;
  return () => Math.max(peakRss, readRss()) - start;
}

interface Bystander {
  calls: number;
  failures: string[];
  maxMs: number;
}

/**
 * Runs `work` while two loops send valid Get calls over Connect JSON on
 * HTTP/1.1, and returns what those calls met.
 */
async function withBystander(work: () => Promise<void>): Promise<Bystander> {
  const bystander: Bystander = { calls: 0, failures: [], maxMs: 0 };
  let running = true;
  const loop = async () => {
    while (running) {
      const raw = await sendHttp1({
        path: "/plates.v1.PlateService/Get",
        headers: wireHeaders("connect-json"),
        body: Buffer.from(JSON.stringify({ id: knownId })),
      });
      bystander.calls++;
      bystander.maxMs = Math.max(bystander.maxMs, raw.ms);
      const outcome = outcomeOf("connect-json", raw);
      if (outcome !== "ok") {
        bystander.failures.push(outcome);
      }
      await sleep(20);
    }
  };
  const loops = [loop(), loop()];
  try {
    await work();
  } finally {
    running = false;
    await Promise.all(loops);
  }
  return bystander;
}

function expectBystanderServed(bystander: Bystander): void {
  expect(bystander.calls).toBeGreaterThan(0);
  expect(bystander.failures).toEqual([]);
  expect(bystander.maxMs).toBeLessThan(bystanderLimitMs);
}

const adminDatabase = `plates_hostile_${randomBytes(6).toString("hex")}`;
let dataDir = "";

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: testDatabaseUrl });
  await admin.connect();
  await admin.query(`create database ${adminDatabase}`);
  await admin.end();
  const url = new URL(testDatabaseUrl);
  url.pathname = `/${adminDatabase}`;
  dataDir = await mkdtemp(path.join(tmpdir(), "plates-hostile-"));

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["PORT", "HOST", "DATABASE_URL", "DATA_DIR", "API_TOKENS", "DB_POOL_MAX", "MAX_REQUEST_BYTES", "SHUTDOWN_GRACE_MS", "LOG_LEVEL"]) {
    delete env[name];
  }
  Object.assign(env, {
    HOST: "127.0.0.1",
    PORT: "0",
    DATABASE_URL: url.toString(),
    DATA_DIR: dataDir,
    API_TOKENS: token,
    MAX_REQUEST_BYTES: String(maxRequestBytes),
    LOG_LEVEL: "info",
  });
  // The bundle that `npm start` runs, so that the child's RSS is the service's as deployed.
  service = spawn(process.execPath, [...serviceNodeOptions, serviceEntry], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  serviceExit = new Promise((resolve) => service.once("exit", () => resolve()));
  let stderr = "";
  service.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not log "listening" within 45 s; stderr: ${stderr}`)), 45_000);
    service.once("exit", (code) => reject(new Error(`service exited with ${code}; stderr: ${stderr}`)));
    // Every line is read, so that the pipe never fills and blocks the service.
    createInterface({ input: service.stdout! }).on("line", (line) => {
      if (line.includes('"listening"')) {
        const address = (JSON.parse(line) as { address: string }).address;
        clearTimeout(timer);
        resolve(Number(address.split(":").pop()));
      }
    });
  });

  const added = await sendHttp1({
    path: "/plates.v1.PlateService/Add",
    headers: wireHeaders("connect-json"),
    body: Buffer.from(JSON.stringify({ number: "а123вс77" })),
  });
  expect(added.status).toBe(200);
  knownId = (JSON.parse(added.body.toString("utf8")) as { plate: { id: string } }).plate.id;

  // Warm up every wire, so that the baseline includes code loaded on first use.
  await sendAll(
    binaryWires.flatMap((wire) =>
      Array.from({ length: 100 }, () => ({ wire, request: wireRequest(wire, "Get", stringField(Buffer.from(knownId))) })),
    ),
    8,
  );
  baselineRss = readRss();
  peakRss = baselineRss;
  rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, readRss());
  }, 100);
}, 90_000);

afterAll(async () => {
  clearInterval(rssTimer);
  if (service !== undefined && service.exitCode === null) {
    service.kill("SIGTERM");
    const killer = setTimeout(() => service.kill("SIGKILL"), 10_000);
    await serviceExit;
    clearTimeout(killer);
  }
  const admin = new pg.Client({ connectionString: testDatabaseUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${adminDatabase} with (force)`);
  await admin.end();
  if (dataDir !== "") {
    await rm(dataDir, { recursive: true, force: true });
  }
}, 30_000);

// --- Tests -------------------------------------------------------------------------

describe("random byte strings as numbers", () => {
  let inputs: Uint8Array[] = [];
  let outcomes: { outcome: string; ms: number }[] = [];
  let bystander: Bystander;

  beforeAll(async () => {
    inputs = fc.sample(fc.uint8Array({ maxLength: 40 }), { numRuns: randomInputs, seed });
    const items = inputs.map((bytes, index) => {
      const wire = binaryWires[index % binaryWires.length]!;
      const rpc = index % 2 === 0 ? "Add" : "Validate";
      return { wire, request: wireRequest(wire, rpc, stringField(bytes)) };
    });
    bystander = await withBystander(async () => {
      outcomes = await sendAll(items);
    });
  }, 120_000);

  it("responds to every call in time", () => {
    expect(outcomes).toHaveLength(randomInputs);
    expect(outcomes.filter(({ outcome }) => outcome === "timeout")).toEqual([]);
    expectBystanderServed(bystander);
  });

  it("responds without INTERNAL", () => {
    expect(countOutcomes(outcomes.filter(({ outcome }) => isUnclear(outcome)))).toEqual({});
  });

  it("rejects invalid UTF-8 with INVALID_ARGUMENT", () => {
    const strict = new TextDecoder("utf-8", { fatal: true });
    const isUtf8 = (bytes: Uint8Array) => {
      try {
        strict.decode(bytes);
        return true;
      } catch {
        return false;
      }
    };
    const invalid = outcomes.filter((_, index) => !isUtf8(inputs[index]!));
    expect(invalid.length).toBeGreaterThan(0);
    expect(countOutcomes(invalid)).toEqual({ invalid_argument: invalid.length });
  });
});

describe("random Unicode strings as numbers", () => {
  let outcomes: { outcome: string; ms: number }[] = [];
  let bystander: Bystander;

  beforeAll(async () => {
    const inputs = fc.sample(fc.string({ unit: "binary", maxLength: 30 }), { numRuns: randomInputs, seed });
    const wires: Wire[] = ["grpc", "grpc-web", "connect-proto", "connect-json"];
    const items = inputs.map((text, index) => {
      const wire = wires[index % wires.length]!;
      const rpc = index % 2 === 0 ? "Add" : "Validate";
      const message = wire === "connect-json" ? Buffer.from(JSON.stringify({ number: text }), "utf8") : stringField(Buffer.from(text, "utf8"));
      return { wire, request: wireRequest(wire, rpc, message) };
    });
    bystander = await withBystander(async () => {
      outcomes = await sendAll(items);
    });
  }, 120_000);

  it("responds with clear codes", () => {
    expect(outcomes).toHaveLength(randomInputs);
    const allowed = new Set(["ok", "invalid_argument", "already_exists"]);
    expect(countOutcomes(outcomes.filter(({ outcome }) => !allowed.has(outcome)))).toEqual({});
    expectBystanderServed(bystander);
  });
});

// Protobuf bytes that no message can be parsed from.
const invalidProtobuf: [string, Buffer][] = [
  ["a lone 0xff", Buffer.from([0xff])],
  ["a length past the end", Buffer.from([0x0a, 0x05, 0x61])],
  ["a varint of 11 bytes", Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
  ["wire type 7", Buffer.from([0x0f])],
  ["a truncated varint field", Buffer.from([0x08])],
  ["a group start without end", Buffer.from([0x0b])],
  ["invalid UTF-8 in a string", Buffer.from([0x0a, 0x02, 0xff, 0xfe])],
];

describe("invalid protobuf bytes", () => {
  let results: { name: string; wire: Wire; outcome: string }[] = [];
  let bystander: Bystander;

  beforeAll(async () => {
    const items = invalidProtobuf.flatMap(([name, bytes]) =>
      binaryWires.flatMap((wire) => ["Add", "Get", "Generate", "Validate"].map((rpc) => ({ name: `${name} to ${rpc}`, wire, request: wireRequest(wire, rpc, bytes) }))),
    );
    bystander = await withBystander(async () => {
      const outcomes = await sendAll(items, 8);
      results = items.map((item, index) => ({ name: item.name, wire: item.wire, outcome: outcomes[index]!.outcome }));
    });
  }, 60_000);

  it("responds to every request in time", () => {
    expect(results.filter(({ outcome }) => outcome === "timeout")).toEqual([]);
    expectBystanderServed(bystander);
  });

  it("responds with INVALID_ARGUMENT", () => {
    expect(results).toHaveLength(invalidProtobuf.length * binaryWires.length * 4);
    expect(results.filter(({ outcome }) => outcome !== "invalid_argument")).toEqual([]);
  });
});

describe("malformed requests", () => {
  it("rejects invalid JSON", async () => {
    const bodies = [
      "{",
      '{"number":',
      "[]",
      '"А123ВС77"',
      "null",
      '{"number": 5}',
      '{"number": {"a": 1}}',
      '{"number": "а123вс77", "unknownField": 1}',
      "\u0000",
      // Nested 30,000 deep, just under the 64 KiB body limit.
      `${"[".repeat(30_000)}${"]".repeat(30_000)}`,
    ];
    const cases: { name: string; request: RawRequest; ignored?: boolean }[] = [];
    for (const body of bodies) {
      cases.push({ name: `Add ${body.slice(0, 30)}`, ignored: body.includes("unknownField"), request: { path: "/plates.v1.PlateService/Add", headers: wireHeaders("connect-json"), body: Buffer.from(body) } });
    }
    for (const body of ['{"amount": -1}', '{"amount": "many"}', '{"amount": 1e20}', '{"amount": 1.5}']) {
      cases.push({ name: `Generate ${body}`, request: { path: "/plates.v1.PlateService/Generate", headers: wireHeaders("connect-json"), body: Buffer.from(body) } });
    }
    cases.push({
      name: "Add with bytes that are not UTF-8",
      request: { path: "/plates.v1.PlateService/Add", headers: wireHeaders("connect-json"), body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
    });

    const bystander = await withBystander(async () => {
      const session = await connectHttp2();
      for (const { name, request, ignored } of cases) {
        const overHttp1 = outcomeOf("connect-json", await sendHttp1(request));
        const overHttp2 = outcomeOf("connect-json", await sendHttp2(session, request));
        // "unknownField" is ignored, as Connect ignores unknown JSON fields.
        const expected = ignored === true ? ["ok", "already_exists"] : ["invalid_argument"];
        expect({ name, overHttp1 }).toEqual({ name, overHttp1: expect.toBeOneOf(expected) });
        expect({ name, overHttp2 }).toEqual({ name, overHttp2: expect.toBeOneOf(expected) });
      }
      session.close();
    });
    expectBystanderServed(bystander);
  });

  it("rejects wrong or missing content types", async () => {
    const body = Buffer.from(JSON.stringify({ id: knownId }));
    const contentTypes = [undefined, "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/grpc+xml", "application/connect+json", "application/jsonx", ""];
    const bystander = await withBystander(async () => {
      const session = await connectHttp2();
      for (const contentType of contentTypes) {
        const headers: Record<string, string> = { authorization: `Bearer ${token}`, "connect-protocol-version": "1" };
        if (contentType !== undefined) {
          headers["content-type"] = contentType;
        }
        const request = { path: "/plates.v1.PlateService/Get", headers, body };
        for (const raw of [await sendHttp1(request), await sendHttp2(session, request)]) {
          const outcome = outcomeOf("connect-json", raw);
          expect({ contentType, outcome, unclear: isUnclear(outcome) }).toEqual({ contentType, outcome, unclear: false });
          // Connect rejects an unsupported media type with HTTP 415.
          expect({ contentType, status: raw.status }).toEqual({ contentType, status: expect.toBeOneOf([400, 404, 405, 415]) });
        }
      }
      session.close();
    });
    expectBystanderServed(bystander);
  });

  it("rejects empty bodies clearly", async () => {
    const session = await connectHttp2();
    const outcomes: Record<string, string> = {};
    for (const rpc of ["Add", "Get", "Generate", "Validate"]) {
      for (const wire of ["grpc", "grpc-web", "connect-proto", "connect-json"] as Wire[]) {
        const request: RawRequest = { path: `/plates.v1.PlateService/${rpc}`, headers: wireHeaders(wire), body: Buffer.alloc(0) };
        outcomes[`${rpc} ${wire} empty body`] = outcomeOf(wire, await sendHttp2(session, request));
        outcomes[`${rpc} ${wire} no body`] = outcomeOf(wire, await sendHttp2(session, { ...request, body: undefined }));
        if (wire.startsWith("connect")) {
          outcomes[`${rpc} ${wire} empty body over HTTP/1.1`] = outcomeOf(wire, await sendHttp1(request));
        }
      }
    }
    session.close();
    expect(Object.entries(outcomes).filter(([, outcome]) => isUnclear(outcome))).toEqual([]);
  });

  it("handles zero-length gRPC messages", async () => {
    const session = await connectHttp2();
    const expected: Record<string, string[]> = {
      // An empty AddRequest has an empty number, and an empty GetRequest an empty id.
      Add: ["invalid_argument"],
      Get: ["invalid_argument"],
      // amount 0 means 1.
      Generate: ["ok"],
      Validate: ["ok", "invalid_argument"],
    };
    for (const [rpc, codes] of Object.entries(expected)) {
      for (const wire of ["grpc", "grpc-web"] as Wire[]) {
        const outcome = outcomeOf(wire, await sendHttp2(session, wireRequest(wire, rpc, Buffer.alloc(0))));
        expect({ rpc, wire, outcome }).toEqual({ rpc, wire, outcome: expect.toBeOneOf(codes) });
      }
    }
    session.close();
  });

  it("answers malformed gRPC envelopes with clear codes", async () => {
    const session = await connectHttp2();
    const message = stringField(Buffer.from("А123ВС77"));
    const whole = grpcFrame(message);
    const cases: [string, Buffer, string][] = [
      ["a prefix that promises more bytes than follow", whole.subarray(0, whole.length - 3), "invalid_argument"],
      ["two messages", Buffer.concat([whole, whole]), "unimplemented"],
      ["the compressed flag without grpc-encoding", grpcFrame(message, true), "invalid_argument"],
    ];
    for (const [name, body, expected] of cases) {
      for (const wire of ["grpc", "grpc-web"] as Wire[]) {
        const request = { ...wireRequest(wire, "Validate", message), body };
        const outcome = outcomeOf(wire, await sendHttp2(session, request));
        expect({ name, wire, outcome }).toEqual({ name, wire, outcome: expected });
      }
    }
    session.close();
  });

  it("ends a call at its deadline while the body still arrives", async () => {
    const session = await connectHttp2();
    const started = performance.now();
    const cases: [Wire, Record<string, string>, Buffer][] = [
      // The prefix promises 1,000 bytes, and only 5 of them are sent.
      ["grpc", { "grpc-timeout": "300m" }, Buffer.from([0, 0, 0, 0x03, 0xe8, 0x0a, 0x03, 0x41, 0x42, 0x43])],
      ["connect-json", { "connect-timeout-ms": "300" }, Buffer.from('{"number":"А1')],
    ];
    const outcomes = await Promise.all(
      cases.map(
        ([wire, headers, partial]) =>
          new Promise<string>((resolve) => {
            const stream = session.request({ ":method": "POST", ":path": "/plates.v1.PlateService/Validate", ...wireHeaders(wire), ...headers });
            const timer = setTimeout(() => resolve("timeout"), callTimeoutMs);
            stream.on("response", (received) => {
              clearTimeout(timer);
              const status = wire === "grpc" ? Number(received["grpc-status"]) : undefined;
              resolve(status === undefined ? `HTTP ${received[":status"]}` : codeName(status));
              stream.close(http2.constants.NGHTTP2_CANCEL);
            });
            stream.on("error", () => {});
            // The body never ends.
            stream.write(partial);
          }),
      ),
    );
    session.destroy();
    // The Connect protocol maps DEADLINE_EXCEEDED to HTTP 504.
    expect(outcomes).toEqual(["deadline_exceeded", "HTTP 504"]);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("reads gRPC content types in any case", async () => {
    const session = await connectHttp2();
    const response = await sendHttp2(session, {
      path: "/plates.v1.PlateService/Get",
      headers: { ...wireHeaders("grpc"), "content-type": "Application/GRPC" },
      body: grpcFrame(stringField(Buffer.from("a/b:c"))),
    });
    session.close();
    const status = response.trailers["grpc-status"] ?? response.headers["grpc-status"];
    const message = response.trailers["grpc-message"] ?? response.headers["grpc-message"];
    expect(status).toBe(String(Code.InvalidArgument));
    // Percent-encoded as the gRPC spec prescribes: ":" and "/" stay as they are.
    expect(message).toBe('invalid id "a/b:c": expected a UUID');
  });

  it("rejects 20 MB bodies early", async () => {
    const size = 20 * 1024 * 1024;
    const readPeak = watchRss();
    const results: { name: string; outcome: string; ms: number }[] = [];
    const bystander = await withBystander(async () => {
      for (const withToken of [true, false]) {
        const jsonBody = Buffer.concat([Buffer.from('{"number":"'), Buffer.alloc(size, 0x61), Buffer.from('"}')]);
        const json = await sendHttp1Streaming({ path: "/plates.v1.PlateService/Add", headers: wireHeaders("connect-json", withToken), body: jsonBody });
        results.push({ name: `Connect JSON over HTTP/1.1, token ${withToken}`, outcome: outcomeOf("connect-json", json), ms: json.ms });

        const session = await connectHttp2();
        const grpcBody = grpcFrame(stringField(Buffer.alloc(size, 0x61)));
        const grpc = await sendHttp2(session, { path: "/plates.v1.PlateService/Add", headers: wireHeaders("grpc", withToken), body: grpcBody });
        results.push({ name: `gRPC, token ${withToken}`, outcome: outcomeOf("grpc", grpc), ms: grpc.ms });
        session.destroy();
      }
    });
    for (const result of results) {
      expect(result).toEqual({ ...result, outcome: expect.toBeOneOf(["resource_exhausted", "unauthenticated"]) });
      expect(result.ms).toBeLessThan(callTimeoutMs);
    }
    // A body read whole would add at least its 20 MB.
    expect(readPeak()).toBeLessThan(20 * 1024 * 1024);
    expectBystanderServed(bystander);
  });

  // NOTE: with grpc-encoding gzip the call goes to Connect for Node, which
  // sends its trailers but leaves the stream open until the client resets it,
  // as gRPC clients do once they read the status.
  it("closes the stream of an oversized gRPC upload", async () => {
    // Sixteen times the limit, in one write that HTTP/2 flow control holds back.
    const body = grpcFrame(stringField(Buffer.alloc(maxRequestBytes * 16, 0x61)));
    const session = await connectHttp2();
    try {
      const stream = session.request({ ":method": "POST", ":path": "/plates.v1.PlateService/Add", ...wireHeaders("grpc") });
      let status: string | undefined;
      stream.on("response", (headers) => {
        status ??= headers["grpc-status"] as string | undefined;
      });
      stream.on("trailers", (trailers) => {
        status ??= trailers["grpc-status"] as string | undefined;
      });
      stream.on("error", () => {});
      stream.resume();
      stream.end(body);
      // The client never cancels: the server must end the stream itself.
      const closed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), callTimeoutMs);
        stream.once("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      expect(closed).toBe(true);
      expect(status).toBe(String(Code.ResourceExhausted));
    } finally {
      session.destroy();
    }
  });

  it("rejects a gzip bomb", async () => {
    const inflatedBytes = 256 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x30);
    const gzip = async (head: Buffer, tail: Buffer) => {
      const stream = createGzip({ level: 9 });
      const parts: Buffer[] = [];
      stream.on("data", (part: Buffer) => parts.push(part));
      const done = new Promise((resolve) => stream.on("end", resolve));
      stream.write(head);
      for (let written = 0; written < inflatedBytes; written += chunk.length) {
        if (!stream.write(chunk)) {
          await new Promise((resolve) => stream.once("drain", resolve));
        }
      }
      stream.end(tail);
      await done;
      return Buffer.concat(parts);
    };
    const jsonBomb = await gzip(Buffer.from('{"number":"'), Buffer.from('"}'));
    const protobufBomb = await gzip(Buffer.from([0x0a, ...varint(inflatedBytes)]), Buffer.alloc(0));
    expect(jsonBomb.length).toBeLessThan(maxRequestBytes * 8);

    const readPeak = watchRss();
    const results: { name: string; outcome: string; ms: number }[] = [];
    const bystander = await withBystander(async () => {
      const json = await sendHttp1({
        path: "/plates.v1.PlateService/Add",
        headers: { ...wireHeaders("connect-json"), "content-encoding": "gzip" },
        body: jsonBomb,
      });
      results.push({ name: "Connect JSON, content-encoding gzip", outcome: outcomeOf("connect-json", json), ms: json.ms });

      const session = await connectHttp2();
      const grpc = await sendHttp2(session, {
        path: "/plates.v1.PlateService/Add",
        headers: { ...wireHeaders("grpc"), "grpc-encoding": "gzip" },
        body: grpcFrame(protobufBomb, true),
      });
      results.push({ name: "gRPC, grpc-encoding gzip", outcome: outcomeOf("grpc", grpc), ms: grpc.ms });
      session.close();
    });
    for (const result of results) {
      expect(result).toEqual({ ...result, outcome: "resource_exhausted" });
    }
    // Inflated whole, either body would add 256 MB.
    expect(readPeak()).toBeLessThan(20 * 1024 * 1024);
    expectBystanderServed(bystander);
  });

  it("rejects malformed timeout headers", async () => {
    const session = await connectHttp2();
    const results: { header: string; value: string; outcome: string }[] = [];
    for (const value of ["", "abc", "1", "-1S", "1X", "123456789S", "1.5S", "99999999H", "S", " 5S"]) {
      const request = wireRequest("grpc", "Get", stringField(Buffer.from(knownId)));
      request.headers["grpc-timeout"] = value;
      results.push({ header: "grpc-timeout", value, outcome: outcomeOf("grpc", await sendHttp2(session, request)) });
    }
    for (const value of ["", "abc", "-5", "1e3", "12345678901", " 5", "0x10", "5.5"]) {
      const request: RawRequest = {
        path: "/plates.v1.PlateService/Get",
        headers: { ...wireHeaders("connect-json"), "connect-timeout-ms": value },
        body: Buffer.from(JSON.stringify({ id: knownId })),
      };
      results.push({ header: "connect-timeout-ms", value, outcome: outcomeOf("connect-json", await sendHttp1(request)) });
    }
    session.close();
    const allowed = ["ok", "invalid_argument", "deadline_exceeded"];
    expect(results.filter(({ outcome }) => !allowed.includes(outcome))).toEqual([]);
  });

  it("accepts binary metadata keys", async () => {
    const session = await connectHttp2();
    const metadata: Record<string, string>[] = [
      { "x-trace-bin": Buffer.from([0, 1, 2, 255]).toString("base64") },
      { "x-trace-bin": "!!not base64!!" },
      { "authorization-bin": "AAEC" },
      { "grpc-trace-bin": "AAECAwQ=" },
      { "x-empty-bin": "" },
    ];
    for (const extra of metadata) {
      const request = wireRequest("grpc", "Get", stringField(Buffer.from(knownId)));
      Object.assign(request.headers, extra);
      const outcome = outcomeOf("grpc", await sendHttp2(session, request));
      expect({ extra, outcome }).toEqual({ extra, outcome: "ok" });
    }
    session.close();
  });

  it("accepts uppercase header names over HTTP/1.1", async () => {
    for (const name of ["Authorization", "AUTHORIZATION"]) {
      const { authorization, ...headers } = wireHeaders("connect-json");
      const raw = await sendHttp1({
        path: "/plates.v1.PlateService/Get",
        headers: { ...headers, [name]: authorization!, "X-Trace-Bin": "AAEC" },
        body: Buffer.from(JSON.stringify({ id: knownId })),
      });
      expect({ name, outcome: outcomeOf("connect-json", raw) }).toEqual({ name, outcome: "ok" });
    }
  });

  it("resets HTTP/2 streams with uppercase names", async () => {
    const body = grpcFrame(stringField(Buffer.from(knownId)));
    const headers: [string, string][] = [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/plates.v1.PlateService/Get"],
      [":authority", `127.0.0.1:${port}`],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["authorization", `Bearer ${token}`],
    ];
    // The same request with lower-case names checks the raw client itself.
    const valid = await sendRawHttp2(headers, body);
    expect(valid).toEqual({ kind: "response" });

    const bystander = await withBystander(async () => {
      for (const name of ["X-Upper", "Authorization", "Content-Type"]) {
        const replaced = headers.filter(([key]) => key !== name.toLowerCase()).concat([[name, name === "Content-Type" ? "application/grpc" : `Bearer ${token}`]]);
        const answer = await sendRawHttp2(replaced, body);
        // RFC 9113, section 8.2.1: a field name with uppercase letters makes
        // the request malformed, answered with a stream error PROTOCOL_ERROR.
        expect({ name, answer }).toEqual({ name, answer: { kind: "reset", code: http2.constants.NGHTTP2_PROTOCOL_ERROR } });
      }
    });
    expectBystanderServed(bystander);
  });
});

/** Encodes a header field as an HPACK literal without indexing and without Huffman coding (RFC 7541, section 6.2.2). */
function hpackLiteral(name: string, value: string): Buffer {
  const encodeString = (text: string) => {
    const bytes = Buffer.from(text, "latin1");
    const length = bytes.length < 127 ? [bytes.length] : [127, ...varint(bytes.length - 127)];
    return Buffer.concat([Buffer.from(length), bytes]);
  };
  return Buffer.concat([Buffer.from([0x00]), encodeString(name), encodeString(value)]);
}

function http2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/**
 * Sends one request on a raw HTTP/2 connection with the header names exactly
 * as given, which Node's client would lower-case, and reads how stream 1 ends.
 */
function sendRawHttp2(headers: [string, string][], body: Buffer): Promise<{ kind: string; code?: number }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = Buffer.alloc(0);
    const finish = (answer: { kind: string; code?: number }) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish({ kind: "timeout" }), callTimeoutMs);
    socket.on("error", () => finish({ kind: "connection error" }));
    socket.on("close", () => finish({ kind: "closed" }));
    socket.on("connect", () => {
      const block = Buffer.concat(headers.map(([name, value]) => hpackLiteral(name, value)));
      socket.write(
        Buffer.concat([
          Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
          http2Frame(0x4, 0, 0, Buffer.alloc(0)),
          // HEADERS with END_HEADERS, then DATA with END_STREAM.
          http2Frame(0x1, 0x4, 1, block),
          http2Frame(0x0, 0x1, 1, body),
        ]),
      );
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 9) {
        const length = received.readUIntBE(0, 3);
        if (received.length < 9 + length) {
          break;
        }
        const type = received[3]!;
        const flags = received[4]!;
        const streamId = received.readUInt32BE(5) & 0x7fffffff;
        const payload = received.subarray(9, 9 + length);
        received = received.subarray(9 + length);
        if (type === 0x4 && (flags & 0x1) === 0) {
          socket.write(http2Frame(0x4, 0x1, 0, Buffer.alloc(0)));
        } else if (type === 0x3 && streamId === 1) {
          finish({ kind: "reset", code: payload.readUInt32BE(0) });
        } else if (type === 0x7) {
          finish({ kind: "goaway", code: payload.readUInt32BE(4) });
        } else if (type === 0x1 && streamId === 1 && (flags & 0x1) !== 0) {
          // HEADERS with END_STREAM: trailers, or a trailers-only response.
          // Their values are HPACK-coded (Huffman, usually), so only the
          // kind of answer is read here.
          finish({ kind: "response" });
        }
      }
    });
  });
}

describe("memory under hostile input", () => {
  it("stays bounded", () => {
    const grewBy = Math.max(peakRss, readRss()) - baselineRss;
    expect(baselineRss).toBeGreaterThan(0);
    expect(grewBy).toBeLessThan(150 * 1024 * 1024);
  });
});

// Last in the file, because the failure it looks for ends the service.
describe("zero timeouts", () => {
  it("leave the service serving", async () => {
    const session = await connectHttp2();
    const outcomes: string[] = [];
    for (let round = 0; round < 50; round++) {
      for (const value of ["0n", "0S", "1n", "1u"]) {
        const request = wireRequest("grpc", "Get", stringField(Buffer.from(knownId)));
        request.headers["grpc-timeout"] = value;
        outcomes.push(outcomeOf("grpc", await sendHttp2(session, request)));
      }
      const request: RawRequest = {
        path: "/plates.v1.PlateService/Get",
        headers: { ...wireHeaders("connect-json"), "connect-timeout-ms": "0" },
        body: Buffer.from(JSON.stringify({ id: knownId })),
      };
      outcomes.push(outcomeOf("connect-json", await sendHttp2(session, request)));
    }
    session.close();
    expect(countOutcomes(outcomes.filter((outcome) => outcome !== "ok" && outcome !== "deadline_exceeded").map((outcome) => ({ outcome })))).toEqual({});

    const after = await sendHttp1({
      path: "/plates.v1.PlateService/Get",
      headers: wireHeaders("connect-json"),
      body: Buffer.from(JSON.stringify({ id: knownId })),
    });
    expect(outcomeOf("connect-json", after)).toBe("ok");
  });
});
