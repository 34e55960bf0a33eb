import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.ts";
import type { HttpRule } from "../../gen/google/api/http_pb.ts";

/** A REST route that a google.api.http annotation binds to an RPC. */
export interface HttpRoute {
  rpc: DescMethod;
  /** HTTP method in upper case, for example "GET". */
  httpMethod: string;
  template: PathTemplate;
  /** Request field that the body fills: "*" for the whole request, "" for no body. */
  body: string;
  /** Response field sent as the body; "" sends the whole response. */
  responseBody: string;
}

/** One segment of a path template: a literal, `*` (one segment) or `**` (the rest of the path). */
export type TemplateSegment = { kind: "literal"; value: string } | { kind: "any" } | { kind: "rest" };

/** A variable of a path template and the segments it captures. */
export interface TemplateVariable {
  /** Request field path, for example ["id"] or ["book", "name"]. */
  fieldPath: string[];
  /** Index of the first captured segment. */
  start: number;
  /** Count of captured segments; undefined when the variable ends with `**`. */
  length: number | undefined;
}

/** A parsed path template of the google.api.http syntax, for example "/v1/{name=shelves/*}:publish". */
export interface PathTemplate {
  text: string;
  segments: TemplateSegment[];
  variables: TemplateVariable[];
  /** Custom verb after the last ":", for example "find"; undefined when there is none. */
  verb: string | undefined;
}

/** Error raised for a path template that does not follow the google.api.http syntax. */
export class PathTemplateError extends Error {
  override name = "PathTemplateError";
}

/**
 * Lists the REST routes of a service, one per google.api.http rule and
 * additional binding, in the order of the methods in the proto.
 */
export function httpRoutesOf(service: DescService): HttpRoute[] {
  const routes: HttpRoute[] = [];
  for (const rpc of service.methods) {
    if (!hasOption(rpc, http)) {
      continue;
    }
    const rule = getOption(rpc, http);
    for (const binding of [rule, ...rule.additionalBindings]) {
      routes.push(routeOf(rpc, binding));
    }
  }
  return routes;
}

function routeOf(rpc: DescMethod, rule: HttpRule): HttpRoute {
  const { pattern } = rule;
  let httpMethod: string;
  let path: string;
  switch (pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      httpMethod = pattern.case.toUpperCase();
      path = pattern.value;
      break;
    case "custom":
      httpMethod = pattern.value.kind.toUpperCase();
      path = pattern.value.path;
      break;
    default:
      throw new PathTemplateError(`google.api.http rule of ${rpc.parent.typeName}.${rpc.name} has no pattern`);
  }
  return {
    rpc,
    httpMethod,
    template: parsePathTemplate(path),
    body: rule.body,
    responseBody: rule.responseBody,
  };
}

/**
 * Parses a path template:
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     Verb     = ":" LITERAL ;
 *
 * as google/api/http.proto defines it.
 */
export function parsePathTemplate(text: string): PathTemplate {
  if (!text.startsWith("/")) {
    throw new PathTemplateError(`invalid path template ${JSON.stringify(text)}: expected a leading "/"`);
  }
  const { path, verb } = splitVerb(text);
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];

  for (const part of splitOutsideBraces(path.slice(1), "/")) {
    if (part.startsWith("{")) {
      if (!part.endsWith("}")) {
        throw new PathTemplateError(`invalid path template ${JSON.stringify(text)}: unclosed variable ${part}`);
      }
      const [fieldText = "", patternText = "*"] = part.slice(1, -1).split("=", 2);
      const fieldPath = fieldText.split(".");
      if (fieldPath.some((name) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))) {
        throw new PathTemplateError(`invalid path template ${JSON.stringify(text)}: invalid field path ${JSON.stringify(fieldText)}`);
      }
      const start = segments.length;
      const captured = patternText.split("/").map((segment) => parseSegment(segment, text));
      segments.push(...captured);
      const open = captured.some((segment) => segment.kind === "rest");
      variables.push({ fieldPath, start, length: open ? undefined : captured.length });
    } else {
      segments.push(parseSegment(part, text));
    }
  }

  const restIndex = segments.findIndex((segment) => segment.kind === "rest");
  if (restIndex !== -1 && restIndex !== segments.length - 1) {
    throw new PathTemplateError(`invalid path template ${JSON.stringify(text)}: "**" must be the last segment`);
  }
  return { text, segments, variables, verb };
}

function parseSegment(segment: string, text: string): TemplateSegment {
  if (segment === "*") {
    return { kind: "any" };
  }
  if (segment === "**") {
    return { kind: "rest" };
  }
  if (segment === "" || /[{}*=]/.test(segment)) {
    throw new PathTemplateError(`invalid path template ${JSON.stringify(text)}: invalid segment ${JSON.stringify(segment)}`);
  }
  return { kind: "literal", value: segment };
}

// The verb is the text after a ":" that follows the last "/" outside braces,
// so "/v1/{name=a/*}:publish" has the verb "publish".
function splitVerb(text: string): { path: string; verb: string | undefined } {
  let depth = 0;
  let lastSlash = -1;
  let colon = -1;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === "{") {
      depth++;
    } else if (char === "}") {
      depth--;
    } else if (depth === 0 && char === "/") {
      lastSlash = index;
      colon = -1;
    } else if (depth === 0 && char === ":" && index > lastSlash) {
      colon = index;
    }
  }
  if (colon === -1) {
    return { path: text, verb: undefined };
  }
  return { path: text.slice(0, colon), verb: text.slice(colon + 1) };
}

function splitOutsideBraces(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "{") {
      depth++;
    } else if (char === "}") {
      depth--;
    }
    if (char === separator && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

/**
 * Matches a request path (without the query string) against a template.
 * Returns the percent-decoded values of the variables by dotted field path,
 * or undefined when the path does not match.
 */
export function matchPathTemplate(template: PathTemplate, requestPath: string): Map<string, string> | undefined {
  let path = requestPath;
  if (template.verb !== undefined) {
    const suffix = `:${template.verb}`;
    if (!path.endsWith(suffix)) {
      return undefined;
    }
    path = path.slice(0, -suffix.length);
  }
  if (!path.startsWith("/")) {
    return undefined;
  }
  const parts = path.slice(1).split("/");
  const { segments } = template;
  const endsWithRest = segments.at(-1)?.kind === "rest";
  if (endsWithRest ? parts.length < segments.length - 1 : parts.length !== segments.length) {
    return undefined;
  }

  const decoded: string[] = [];
  for (const part of parts) {
    try {
      decoded.push(decodeURIComponent(part));
    } catch {
      return undefined;
    }
  }
  for (const [index, segment] of segments.entries()) {
    const part = decoded[index];
    if (segment.kind === "literal" && part !== segment.value) {
      return undefined;
    }
    if (segment.kind === "any" && (part === undefined || part === "")) {
      return undefined;
    }
  }

  const values = new Map<string, string>();
  for (const variable of template.variables) {
    const end = variable.length === undefined ? decoded.length : variable.start + variable.length;
    values.set(variable.fieldPath.join("."), decoded.slice(variable.start, end).join("/"));
  }
  return values;
}

/** Returns the template in OpenAPI form: every variable as "{field.path}", patterns dropped. */
export function openApiPathOf(template: PathTemplate): string {
  const parts: string[] = [];
  let index = 0;
  while (index < template.segments.length) {
    const variable = template.variables.find((candidate) => candidate.start === index);
    if (variable !== undefined) {
      parts.push(`{${variable.fieldPath.join(".")}}`);
      index += variable.length ?? template.segments.length - index;
      continue;
    }
    const segment = template.segments[index];
    if (segment?.kind === "literal") {
      parts.push(segment.value);
    } else if (segment?.kind === "rest") {
      parts.push("**");
    } else {
      parts.push("*");
    }
    index++;
  }
  return `/${parts.join("/")}${template.verb === undefined ? "" : `:${template.verb}`}`;
}
