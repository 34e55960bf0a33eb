import { ScalarType, type DescEnum, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { httpRoutesOf, openApiPathOf, type HttpRoute } from "../http/http-rules.ts";
import { commentOf } from "./comments.ts";

/** A JSON Schema or OpenAPI object, as it is written to the document. */
type JsonSchema = Record<string, unknown>;

/** The operations of one path. */
type PathItem = Record<string, JsonSchema>;

const statusSchemaName = "google.rpc.Status";
const errorResponse = {
  description: "Error: google.rpc.Status in proto3 JSON, with the HTTP status of its gRPC code.",
  content: { "application/json": { schema: { $ref: `#/components/schemas/${statusSchemaName}` } } },
};

// Messages whose proto3 JSON form is not an object of their fields.
const wellKnownSchemas: Record<string, JsonSchema> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$" },
  "google.protobuf.FieldMask": { type: "string" },
  "google.protobuf.Struct": { type: "object" },
  "google.protobuf.Value": {},
  "google.protobuf.ListValue": { type: "array" },
  "google.protobuf.Empty": { type: "object" },
  "google.protobuf.Any": { type: "object", properties: { "@type": { type: "string" } }, required: ["@type"] },
};

/**
 * Builds the OpenAPI 3.1 document of a service from its google.api.http
 * annotations and the comments of its proto: one operation per route,
 * request and response schemas in the proto3 JSON mapping, errors as
 * google.rpc.Status. The probes and the paths of the replaced Flask service
 * are added, since the server serves them too.
 */
export function buildOpenApiDocument(service: DescService): JsonSchema {
  const schemas = new SchemaCollector();
  const paths: Record<string, PathItem> = {};
  const addOperation = (path: string, method: string, operation: JsonSchema) => {
    paths[path] = { ...paths[path], [method.toLowerCase()]: operation };
  };

  const counts = new Map<DescMethod, number>();
  for (const route of httpRoutesOf(service)) {
    const binding = counts.get(route.rpc) ?? 0;
    counts.set(route.rpc, binding + 1);
    addOperation(openApiPathOf(route.template), route.httpMethod, routeOperation(service, route, binding, schemas));
  }
  addProbeOperations(addOperation);
  addLegacyOperations(addOperation);

  return {
    openapi: "3.1.0",
    info: {
      title: service.typeName,
      version: service.file.proto.package.split(".").at(-1) ?? "v1",
      description: commentOf(service),
    },
    servers: [{ url: "/" }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: service.typeName, description: commentOf(service) },
      { name: "probes", description: "Liveness and readiness for load balancers and orchestrators; no token needed." },
      { name: "legacy", description: "Paths of the Flask service that this one replaces." },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "A token of API_TOKENS, or the generated one in DATA_DIR/api-token." },
      },
      schemas: { ...schemas.build(), ...fixedSchemas },
    },
  };
}

function routeOperation(service: DescService, route: HttpRoute, binding: number, schemas: SchemaCollector): JsonSchema {
  const { rpc } = route;
  const pathFields = new Set(route.template.variables.map((variable) => variable.fieldPath.join(".")));
  const parameters: JsonSchema[] = route.template.variables.map((variable) => {
    const field = fieldAtPath(rpc.input, variable.fieldPath);
    return {
      name: variable.fieldPath.join("."),
      in: "path",
      required: true,
      description: field === undefined ? undefined : commentOf(field),
      schema: field === undefined ? { type: "string" } : schemas.field(field),
    };
  });
  if (route.body === "") {
    parameters.push(...queryParameters(rpc.input, { proto: "", json: "" }, pathFields, schemas, new Set()));
  }

  const operation: JsonSchema = {
    operationId: `${service.name}_${rpc.name}${binding === 0 ? "" : `_${binding}`}`,
    summary: rpc.name,
    description: commentOf(rpc),
    tags: [service.typeName],
    parameters: parameters.length === 0 ? undefined : parameters,
  };
  if (route.body !== "") {
    operation.requestBody = {
      required: true,
      content: { "application/json": { schema: requestBodySchema(route, pathFields, schemas) } },
    };
  }

  const responseSchema =
    route.responseBody === ""
      ? schemas.message(rpc.output)
      : schemas.field(rpc.output.fields.find((field) => field.name === route.responseBody) ?? rpc.output.fields[0]!);
  const success =
    rpc.methodKind === "server_streaming"
      ? {
          description: 'Newline-delimited JSON: one {"result": …} object per message, and {"error": …} when the stream fails after it started.',
          content: {
            "application/x-ndjson": {
              schema: {
                type: "object",
                properties: { result: responseSchema, error: { $ref: `#/components/schemas/${statusSchemaName}` } },
              },
            },
          },
        }
      : { description: "OK", content: { "application/json": { schema: responseSchema } } };
  operation.responses = { "200": success, default: errorResponse };
  return operation;
}

function requestBodySchema(route: HttpRoute, pathFields: Set<string>, schemas: SchemaCollector): JsonSchema {
  const { input } = route.rpc;
  if (route.body !== "*") {
    const field = input.fields.find((candidate) => candidate.name === route.body);
    return field === undefined ? {} : schemas.field(field);
  }
  if (pathFields.size === 0) {
    return schemas.message(input);
  }
  // Fields bound by the path are not part of the body.
  const properties: Record<string, JsonSchema> = {};
  for (const field of input.fields) {
    if (!pathFields.has(field.name)) {
      properties[field.jsonName] = { ...schemas.field(field), description: commentOf(field) };
    }
  }
  return { type: "object", properties, additionalProperties: false };
}

// Lists the fields that can be set from the query string: scalars, enums,
// string-form well-known types, repeated forms of those, and the fields of
// nested messages as "parent.child".
function queryParameters(
  message: DescMessage,
  prefix: { proto: string; json: string },
  bound: Set<string>,
  schemas: SchemaCollector,
  visiting: Set<string>,
): JsonSchema[] {
  const parameters: JsonSchema[] = [];
  visiting.add(message.typeName);
  for (const field of message.fields) {
    const protoPath = `${prefix.proto}${field.name}`;
    if (bound.has(protoPath) || field.fieldKind === "map") {
      continue;
    }
    const nested = field.fieldKind === "message" ? field.message : undefined;
    if (nested !== undefined && wellKnownSchemas[nested.typeName] === undefined && !isWrapper(nested)) {
      if (!visiting.has(nested.typeName)) {
        const nestedPrefix = { proto: `${protoPath}.`, json: `${prefix.json}${field.jsonName}.` };
        parameters.push(...queryParameters(nested, nestedPrefix, bound, schemas, visiting));
      }
      continue;
    }
    if (field.fieldKind === "list" && field.listKind === "message" && wellKnownSchemas[field.message.typeName]?.type !== "string") {
      continue;
    }
    parameters.push({
      name: `${prefix.json}${field.jsonName}`,
      in: "query",
      description: commentOf(field),
      schema: schemas.field(field),
    });
  }
  visiting.delete(message.typeName);
  return parameters;
}

function fieldAtPath(message: DescMessage, path: readonly string[]): DescField | undefined {
  let current: DescMessage | undefined = message;
  let field: DescField | undefined;
  for (const name of path) {
    field = current?.fields.find((candidate) => candidate.name === name);
    current = field?.fieldKind === "message" ? field.message : undefined;
  }
  return field;
}

function isWrapper(message: DescMessage): boolean {
  return message.file.name === "google/protobuf/wrappers.proto";
}

/** Collects the schemas of the messages and enums that operations reference. */
class SchemaCollector {
  private readonly messages = new Map<string, DescMessage>();
  private readonly enums = new Map<string, DescEnum>();

  message(message: DescMessage): JsonSchema {
    const known = wellKnownSchemas[message.typeName];
    if (known !== undefined) {
      return known;
    }
    if (isWrapper(message) && message.fields[0] !== undefined) {
      return this.field(message.fields[0]);
    }
    if (!this.messages.has(message.typeName)) {
      this.messages.set(message.typeName, message);
      for (const field of message.fields) {
        this.field(field);
      }
    }
    return { $ref: `#/components/schemas/${message.typeName}` };
  }

  enumRef(desc: DescEnum): JsonSchema {
    if (desc.typeName === "google.protobuf.NullValue") {
      return { type: "null" };
    }
    this.enums.set(desc.typeName, desc);
    return { $ref: `#/components/schemas/${desc.typeName}` };
  }

  field(field: DescField): JsonSchema {
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar);
      case "enum":
        return this.enumRef(field.enum);
      case "message":
        return this.message(field.message);
      case "list": {
        const items =
          field.listKind === "scalar"
            ? scalarSchema(field.scalar)
            : field.listKind === "enum"
              ? this.enumRef(field.enum)
              : this.message(field.message);
        return { type: "array", items };
      }
      case "map": {
        const values =
          field.mapKind === "scalar"
            ? scalarSchema(field.scalar)
            : field.mapKind === "enum"
              ? this.enumRef(field.enum)
              : this.message(field.message);
        return { type: "object", additionalProperties: values };
      }
    }
  }

  /** Returns the schemas by type name, sorted by name so the document is stable. */
  build(): Record<string, JsonSchema> {
    const built: Record<string, JsonSchema> = {};
    const names = [...this.messages.keys(), ...this.enums.keys()].sort();
    for (const name of names) {
      const message = this.messages.get(name);
      if (message !== undefined) {
        const properties: Record<string, JsonSchema> = {};
        for (const field of message.fields) {
          properties[field.jsonName] = { ...this.field(field), description: commentOf(field) };
        }
        built[name] = { type: "object", description: commentOf(message), properties, additionalProperties: false };
        continue;
      }
      const desc = this.enums.get(name);
      if (desc !== undefined) {
        const values = desc.values.map((value) => `- \`${value.name}\`: ${commentOf(value) ?? ""}`.trimEnd());
        built[name] = {
          type: "string",
          enum: desc.values.map((value) => value.name),
          description: [commentOf(desc), "Requests may also give the number of a value.", ...values]
            .filter((line) => line !== undefined)
            .join("\n\n"),
        };
      }
    }
    return built;
  }
}

function scalarSchema(type: ScalarType): JsonSchema {
  switch (type) {
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: "string", format: "int64" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32", minimum: 0, maximum: 4_294_967_295 };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
  }
}

// Schemas that no proto of this service defines.
const fixedSchemas: Record<string, JsonSchema> = {
  [statusSchemaName]: {
    type: "object",
    description: "Error of a call, with the same code, message and details on every protocol.",
    properties: {
      code: { type: "integer", format: "int32", description: "gRPC status code, for example 5 for NOT_FOUND." },
      message: { type: "string", description: "Message in English; it may quote the request, Cyrillic included." },
      details: {
        type: "array",
        description: "Error details as google.protobuf.Any, such as google.rpc.ErrorInfo, google.rpc.BadRequest and google.rpc.LocalizedMessage.",
        items: { type: "object", properties: { "@type": { type: "string" } }, required: ["@type"] },
      },
    },
    required: ["code", "message", "details"],
  },
  HealthStatus: {
    type: "object",
    properties: { status: { type: "string", enum: ["SERVING", "NOT_SERVING"] } },
    required: ["status"],
  },
  LegacyPlate: {
    type: "object",
    properties: {
      id: { type: "string", description: "UUID of the stored plate." },
      auto_numbers: { type: "string", description: "Canonical number, for example А123ВС77." },
    },
  },
  LegacyAddRequest: {
    type: "object",
    properties: { auto_numbers: { type: "string", description: "The number as a person typed it." } },
    required: ["auto_numbers"],
  },
  LegacyGenerateResponse: {
    type: "object",
    properties: {
      generate_car_numbers: {
        type: "string",
        description: "Python text of a list with one dict from position to number, as the Flask service sent it: \"[{1: 'А123ВС77', 2: 'В456ОК99'}]\".",
      },
    },
  },
};

type AddOperation = (path: string, method: string, operation: JsonSchema) => void;

function addProbeOperations(addOperation: AddOperation): void {
  const probe = (summary: string, description: string, statuses: Record<string, string>): JsonSchema => ({
    operationId: summary,
    summary,
    description,
    tags: ["probes"],
    security: [],
    responses: Object.fromEntries(
      Object.entries(statuses).map(([status, text]) => [
        status,
        { description: text, content: { "application/json": { schema: { $ref: "#/components/schemas/HealthStatus" } } } },
      ]),
    ),
  });
  addOperation("/healthz", "GET", probe("healthz", "Liveness: answers while the process serves HTTP.", { "200": "Alive." }));
  addOperation(
    "/readyz",
    "GET",
    probe("readyz", "Readiness: answers 200 while the database answers, 503 otherwise and during shutdown.", {
      "200": "Ready.",
      "503": "The database does not answer, or the server is shutting down.",
    }),
  );
}

function addLegacyOperations(addOperation: AddOperation): void {
  const legacy = (operationId: string, description: string, extra: JsonSchema, success: JsonSchema): JsonSchema => ({
    operationId,
    summary: operationId,
    description: `${description} Kept for clients of the Flask service that this one replaces; new clients use the /v1 routes.`,
    tags: ["legacy"],
    deprecated: true,
    ...extra,
    responses: {
      "200": { description: "OK", content: { "application/json": { schema: success } } },
      default: errorResponse,
    },
  });
  addOperation(
    "/PLATE/GENERATE",
    "GET",
    legacy(
      "legacy_generate",
      "Generates `amount` numbers that are not stored, as Generate does; 0 means 1.",
      { parameters: [{ name: "amount", in: "query", required: true, schema: { type: "integer", minimum: 0 } }] },
      { $ref: "#/components/schemas/LegacyGenerateResponse" },
    ),
  );
  addOperation(
    "/PLATE/GET",
    "GET",
    legacy(
      "legacy_get",
      "Returns the plate stored under `id`, as Get does.",
      { parameters: [{ name: "id", in: "query", required: true, schema: { type: "string", format: "uuid" } }] },
      { $ref: "#/components/schemas/LegacyPlate" },
    ),
  );
  addOperation(
    "/PLATE/ADD",
    "POST",
    legacy(
      "legacy_add",
      "Corrects, checks and stores a number, as Add does.",
      {
        requestBody: {
          required: true,
          content: { "application/json": { schema: { $ref: "#/components/schemas/LegacyAddRequest" } } },
        },
      },
      { $ref: "#/components/schemas/LegacyPlate" },
    ),
  );
}
