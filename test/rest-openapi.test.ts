import { readFile } from "node:fs/promises";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlateService } from "../gen/plates/v1/plate_service_pb.ts";
import { httpRoutesOf, openApiPathOf } from "../src/http/http-rules.ts";
import { openApiPath, renderOpenApiDocument } from "../src/openapi/proto-source.ts";
import { repoRoot } from "./support/clients.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

interface OpenApiDocument {
  paths: Record<string, Record<string, { operationId?: string; deprecated?: boolean; security?: unknown[] }>>;
}

const committedFile = path.join(repoRoot, openApiPath);

describe("OpenAPI document", () => {
  let committed: string;
  let document: OpenApiDocument;

  beforeAll(async () => {
    committed = await readFile(committedFile, "utf8");
    document = JSON.parse(committed) as OpenApiDocument;
  });

  it("matches document built from proto", async () => {
    const built = await renderOpenApiDocument();
    expect(committed === built, `${openApiPath} is stale; run npm run generate`).toBe(true);
  });

  it("validates against OpenAPI 3.1 schema", async () => {
    const validator = new Validator();
    const result = await validator.validate(committedFile);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("lists every annotated route", () => {
    const routes = httpRoutesOf(PlateService);
    expect(routes).toHaveLength(PlateService.methods.length);
    for (const route of routes) {
      const operation = document.paths[openApiPathOf(route.template)]?.[route.httpMethod.toLowerCase()];
      expect(operation, `${route.httpMethod} ${route.template.text}`).toBeDefined();
      expect(operation?.operationId).toBe(`PlateService_${route.rpc.name}`);
    }
  });

  it("lists legacy paths as deprecated", () => {
    expect(document.paths["/PLATE/GENERATE"]?.get?.deprecated).toBe(true);
    expect(document.paths["/PLATE/GET"]?.get?.deprecated).toBe(true);
    expect(document.paths["/PLATE/ADD"]?.post?.deprecated).toBe(true);
  });

  it("lists probes without security", () => {
    expect(document.paths["/healthz"]?.get?.security).toEqual([]);
    expect(document.paths["/readyz"]?.get?.security).toEqual([]);
  });

  it("lists no other path", () => {
    const expected = new Set([
      ...httpRoutesOf(PlateService).map((route) => openApiPathOf(route.template)),
      "/PLATE/GENERATE",
      "/PLATE/GET",
      "/PLATE/ADD",
      "/healthz",
      "/readyz",
    ]);
    expect(new Set(Object.keys(document.paths))).toEqual(expected);
  });
});

describe("docs routes", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("pglite");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("serves committed document at /openapi.json", async () => {
    const response = await fetch(`${server.baseUrl}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.text()).toBe(await readFile(committedFile, "utf8"));
  });

  it("serves page at /docs with local assets only", async () => {
    const response = await fetch(`${server.baseUrl}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await response.text();
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? "");
    expect(references.length).toBeGreaterThan(2);
    for (const reference of references) {
      expect(reference).toMatch(/^\/docs\//);
      const asset = await fetch(`${server.baseUrl}${reference}`);
      expect(asset.status, reference).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, reference).toBeGreaterThan(0);
    }
  });

  it("points start script at /openapi.json", async () => {
    const script = await (await fetch(`${server.baseUrl}/docs/start.js`)).text();
    expect(script).toContain('url: "/openapi.json"');
    expect(script).toContain("validatorUrl: null");
  });

  it("serves assets with content types", async () => {
    const css = await fetch(`${server.baseUrl}/docs/swagger-ui.css`);
    expect(css.headers.get("content-type")).toMatch(/^text\/css/);
    const bundle = await fetch(`${server.baseUrl}/docs/swagger-ui-bundle.js`);
    expect(bundle.headers.get("content-type")).toMatch(/^text\/javascript/);
  });

  it("answers unknown asset with 404", async () => {
    const response = await fetch(`${server.baseUrl}/docs/../package.json`);
    expect(response.status).toBe(404);
    const other = await fetch(`${server.baseUrl}/docs/swagger-ui.js.map`);
    expect(other.status).toBe(404);
  });

  it("needs no token for docs", async () => {
    const response = await fetch(`${server.baseUrl}/openapi.json`, { headers: { authorization: "Bearer wrong" } });
    expect(response.status).toBe(200);
  });
});
