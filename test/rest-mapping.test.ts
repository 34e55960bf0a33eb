import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HttpRuleSchema, type HttpRule } from "../gen/google/api/http_pb.ts";
import { PlateService, PlateType, type ListRequest } from "../gen/plates/v1/plate_service_pb.ts";
import { httpRoutesOf, matchPathTemplate, openApiPathOf, parsePathTemplate, type HttpRoute } from "../src/http/http-rules.ts";
import { buildRequestMessage } from "../src/http/rest-request.ts";

function routeOf(name: string): HttpRoute {
  const route = httpRoutesOf(PlateService).find((candidate) => candidate.rpc.name === name);
  if (route === undefined) {
    throw new Error(`no route for ${name}`);
  }
  return route;
}

function invalidArgument(build: () => unknown): string {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    return (error as ConnectError).rawMessage;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

describe("path templates", () => {
  it("derives every PlateService route from annotations", () => {
    const routes = httpRoutesOf(PlateService).map((route) => `${route.httpMethod} ${route.template.text} body=${route.body}`);
    expect(routes).toEqual([
      "POST /v1/plates body=*",
      "GET /v1/plates/{id} body=",
      "GET /v1/plates:find body=",
      "GET /v1/plates body=",
      "DELETE /v1/plates/{id} body=",
      "POST /v1/plates:validate body=*",
      "POST /v1/plates:generate body=*",
      "POST /v1/plates:generateStream body=*",
    ]);
  });

  it("matches variable and custom verb", () => {
    expect(matchPathTemplate(parsePathTemplate("/v1/plates/{id}"), "/v1/plates/abc")).toEqual(new Map([["id", "abc"]]));
    expect(matchPathTemplate(parsePathTemplate("/v1/plates:find"), "/v1/plates:find")).toEqual(new Map());
    expect(matchPathTemplate(parsePathTemplate("/v1/plates"), "/v1/plates:find")).toBeUndefined();
    expect(matchPathTemplate(parsePathTemplate("/v1/plates/{id}"), "/v1/plates")).toBeUndefined();
    expect(matchPathTemplate(parsePathTemplate("/v1/plates/{id}"), "/v1/plates/")).toBeUndefined();
  });

  it("decodes percent-encoded segments", () => {
    expect(matchPathTemplate(parsePathTemplate("/v1/plates/{id}"), "/v1/plates/%D0%B0%20b")?.get("id")).toBe("а b");
    expect(matchPathTemplate(parsePathTemplate("/v1/plates/{id}"), "/v1/plates/%E0%A4%A")).toBeUndefined();
  });

  it("matches multi-segment variable with verb", () => {
    const template = parsePathTemplate("/v1/{name=shelves/*/books/*}:publish");
    expect(template.verb).toBe("publish");
    expect(matchPathTemplate(template, "/v1/shelves/1/books/2:publish")).toEqual(new Map([["name", "shelves/1/books/2"]]));
    expect(matchPathTemplate(template, "/v1/shelves/1/books/2")).toBeUndefined();
    expect(matchPathTemplate(template, "/v1/shelves/1/cars/2:publish")).toBeUndefined();
    expect(openApiPathOf(template)).toBe("/v1/{name}:publish");
  });

  it("matches ** to end of path", () => {
    const template = parsePathTemplate("/v1/files/{path=**}");
    expect(matchPathTemplate(template, "/v1/files/a/b/c")?.get("path")).toBe("a/b/c");
    expect(matchPathTemplate(template, "/v1/files")?.get("path")).toBe("");
  });

  it.each(["v1/plates", "/v1/{id", "/v1/**/x", "/v1/{a-b}", "/v1//x"])("rejects template %s", (text) => {
    expect(() => parsePathTemplate(text)).toThrow(/invalid path template/);
  });
});

describe("request mapping", () => {
  it("maps repeated, enum and timestamp query parameters", () => {
    const query = new URLSearchParams("page_size=5&regionCodes=77&region_codes=78&types=PLATE_TYPE_TAXI&types=1&createTimeFrom=2026-01-02T03:04:05Z");
    const message = buildRequestMessage(routeOf("List"), { pathValues: new Map(), query, body: undefined }) as ListRequest;
    expect(message.pageSize).toBe(5);
    expect(message.regionCodes).toEqual(["77", "78"]);
    expect(message.types).toEqual([PlateType.TAXI, PlateType.CAR]);
    expect(message.createTimeFrom?.seconds).toBe(BigInt(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000));
  });

  it("sets path variable over body field", () => {
    const route = { ...routeOf("Get"), body: "*" };
    const message = buildRequestMessage(route, { pathValues: new Map([["id", "from-path"]]), query: new URLSearchParams(), body: { id: "from-body" } });
    expect((message as unknown as { id: string }).id).toBe("from-path");
  });

  it("sets nested field from query", () => {
    const route = { ...routeOf("List"), rpc: { ...routeOf("List").rpc, input: HttpRuleSchema } as unknown as DescMethod };
    const query = new URLSearchParams("custom.kind=HEAD&custom.path=/x&response_body=plates");
    const message = buildRequestMessage(route, { pathValues: new Map(), query, body: undefined }) as HttpRule;
    expect(message.pattern).toEqual({ case: "custom", value: expect.objectContaining({ kind: "HEAD", path: "/x" }) });
    expect(message.responseBody).toBe("plates");
  });

  it.each([
    ["page_sise=1", "page_sise"],
    ["page_size=1&page_size=2", "given 2 times"],
    ["page_size=abc", "invalid query parameter \"page_size\""],
    ["types=PLATE_TYPE_BOAT", "PLATE_TYPE_BOAT"],
    ["createTimeFrom=tomorrow", "invalid query parameter \"create_time_from\""],
    ["page_size.x=1", "has no subfields"],
  ])("rejects query %s", (text, expected) => {
    const message = invalidArgument(() =>
      buildRequestMessage(routeOf("List"), { pathValues: new Map(), query: new URLSearchParams(text), body: undefined }),
    );
    expect(message).toContain(expected);
  });

  it("rejects query parameters when body takes every field", () => {
    const message = invalidArgument(() =>
      buildRequestMessage(routeOf("Add"), { pathValues: new Map(), query: new URLSearchParams("number=x"), body: { number: "y" } }),
    );
    expect(message).toContain("the request body carries every field");
  });

  it.each([[["a"]], ["text"], [null]])("rejects body %j that is no object", (body) => {
    invalidArgument(() => buildRequestMessage(routeOf("Add"), { pathValues: new Map(), query: new URLSearchParams(), body }));
  });
});
