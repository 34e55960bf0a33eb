import { fromJson, ScalarType, type DescField, type DescMessage, type JsonObject, type JsonValue, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HttpRoute } from "./http-rules.ts";

/** Parts of a REST request that make up the request message of its RPC. */
export interface RestRequestParts {
  /** Values of the path template variables by dotted field path. */
  pathValues: Map<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body; undefined when the request has none. */
  body: JsonValue | undefined;
}

// Well-known types whose proto3 JSON form is a string, so a query parameter
// or path variable can carry them.
const stringWellKnownTypes = new Set(["google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"]);
// Wrapper types, whose JSON form is the JSON form of their `value` field.
const wrapperTypes = new Set([
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

/**
 * Builds the request message of a route as the google.api.http rules map a
 * request. The body fills the field named by `body` ("*" for every field).
 * Path variables set their fields, and query parameters set the fields that
 * neither of them binds. Throws INVALID_ARGUMENT naming the invalid parameter
 * or field.
 */
export function buildRequestMessage(route: HttpRoute, parts: RestRequestParts): Message {
  const schema = route.rpc.input;
  const json: JsonObject = {};

  if (route.body === "*") {
    if (parts.body !== undefined) {
      if (!isJsonObject(parts.body)) {
        throw invalidArgument("invalid request body: expected a JSON object");
      }
      Object.assign(json, parts.body);
    }
  } else if (route.body !== "") {
    const field = findField(schema, route.body);
    if (field === undefined) {
      throw new ConnectError(`body field ${route.body} not found in ${schema.typeName}`, Code.Internal);
    }
    if (parts.body !== undefined) {
      json[field.jsonName] = parts.body;
    }
  }

  for (const [fieldPath, value] of parts.pathValues) {
    setFromText(schema, json, fieldPath, [value], `path variable "${fieldPath}"`);
  }

  // Proto and JSON names of one field ("region_codes", "regionCodes") add up.
  const queryValues = new Map<string, string[]>();
  for (const [name, value] of parts.query) {
    const path = protoPathOf(schema, name);
    queryValues.set(path, [...(queryValues.get(path) ?? []), value]);
  }
  for (const [name, values] of queryValues) {
    if (route.body === "*") {
      throw invalidArgument(`invalid query parameter "${name}": the request body carries every field of ${schema.typeName}`);
    }
    if (parts.pathValues.has(name) || (route.body !== "" && name.split(".")[0] === route.body)) {
      throw invalidArgument(`invalid query parameter "${name}": the field is bound by the path or the body`);
    }
    setFromText(schema, json, name, values, `query parameter "${name}"`);
  }

  try {
    return fromJson(schema, json);
  } catch (error) {
    throw invalidArgument(`invalid request: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Parses a request body as JSON; undefined for an empty body. Throws INVALID_ARGUMENT on invalid JSON. */
export function parseJsonBody(bytes: Buffer): JsonValue | undefined {
  const text = bytes.toString("utf8");
  if (text.trim() === "") {
    return undefined;
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw invalidArgument(`invalid request body: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function isJsonObject(value: JsonValue): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

// Accepts the proto name ("page_size") and the JSON name ("pageSize").
function findField(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((field) => field.name === name || field.jsonName === name);
}

// Sets the field at a dotted path (proto or JSON names) of `json` from text
// values; nested fields create the objects on the way.
function setFromText(schema: DescMessage, json: JsonObject, fieldPath: string, values: string[], source: string): void {
  const names = fieldPath.split(".");
  let message = schema;
  let target = json;
  for (const [index, name] of names.entries()) {
    const field = findField(message, name);
    if (field === undefined) {
      throw invalidArgument(`invalid ${source}: ${message.typeName} has no field "${name}"`);
    }
    if (index === names.length - 1) {
      const value = jsonValueOf(field, values, source);
      // Decoding the field alone names the parameter in the error.
      try {
        fromJson(message, { [field.jsonName]: value });
      } catch (error) {
        throw invalidArgument(`invalid ${source}: ${error instanceof Error ? error.message : String(error)}`);
      }
      target[field.jsonName] = value;
      return;
    }
    if (field.fieldKind !== "message" || isTextMessage(field.message)) {
      throw invalidArgument(`invalid ${source}: field "${name}" of ${message.typeName} has no subfields`);
    }
    const next = target[field.jsonName];
    const nested: JsonObject = next !== undefined && next !== null && isJsonObject(next) ? next : {};
    target[field.jsonName] = nested;
    target = nested;
    message = field.message;
  }
}

// Returns the dotted path with proto field names; parts that name no field stay
// as they are, so that the error reports them.
function protoPathOf(schema: DescMessage, path: string): string {
  let message: DescMessage | undefined = schema;
  return path
    .split(".")
    .map((name) => {
      const field = message === undefined ? undefined : findField(message, name);
      message = field?.fieldKind === "message" ? field.message : undefined;
      return field?.name ?? name;
    })
    .join(".");
}

function isTextMessage(message: DescMessage): boolean {
  return stringWellKnownTypes.has(message.typeName) || wrapperTypes.has(message.typeName);
}

function jsonValueOf(field: DescField, values: string[], source: string): JsonValue {
  switch (field.fieldKind) {
    case "list":
      return values.map((value) => {
        switch (field.listKind) {
          case "scalar":
            return scalarJson(field.scalar, value, source);
          case "enum":
            return enumJson(value);
          case "message":
            return messageJson(field.message, value, source);
        }
      });
    case "map":
      throw invalidArgument(`invalid ${source}: map fields cannot be set from the URL`);
    default:
      break;
  }
  if (values.length !== 1) {
    throw invalidArgument(`invalid ${source}: given ${values.length} times for a field that is not repeated`);
  }
  const value = values[0] ?? "";
  switch (field.fieldKind) {
    case "scalar":
      return scalarJson(field.scalar, value, source);
    case "enum":
      return enumJson(value);
    case "message":
      return messageJson(field.message, value, source);
  }
}

// Numbers stay text, because proto3 JSON accepts numbers as strings, so
// fromJson checks the range and reports the field.
function scalarJson(type: ScalarType, value: string, source: string): JsonValue {
  if (type !== ScalarType.BOOL) {
    return value;
  }
  if (value === "true" || value === "false") {
    return value === "true";
  }
  throw invalidArgument(`invalid ${source}: expected true or false, got ${JSON.stringify(value)}`);
}

function enumJson(value: string): JsonValue {
  return /^-?\d+$/.test(value) ? Number(value) : value;
}

function messageJson(message: DescMessage, value: string, source: string): JsonValue {
  if (stringWellKnownTypes.has(message.typeName)) {
    return value;
  }
  const valueField = message.fields[0];
  if (wrapperTypes.has(message.typeName) && valueField?.fieldKind === "scalar") {
    return scalarJson(valueField.scalar, value, source);
  }
  throw invalidArgument(`invalid ${source}: a ${message.typeName} cannot be set from the URL`);
}
