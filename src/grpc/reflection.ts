import {
  create,
  createFileRegistry,
  fromBinary,
  toBinary,
  type DescFile,
  type DescService,
  type FileRegistry,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.ts";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.ts";

/** Options of createReflectionServices. */
export interface ReflectionOptions {
  /** Services that ListServices names; their files and every file they import are served. */
  services: readonly DescService[];
  /** Further files to serve, for example the types of error details. */
  files?: readonly DescFile[];
}

/** Implementations of grpc.reflection.v1 and v1alpha, which share one set of files. */
export interface ReflectionServices {
  v1: ServiceImpl<typeof v1.ServerReflection>;
  v1alpha: ServiceImpl<typeof v1alpha.ServerReflection>;
}

type ResponseInit = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;

/**
 * Creates the reflection services. Every lookup that fails is answered with
 * an error_response inside the stream, which stays open for the next request.
 */
export function createReflectionServices(options: ReflectionOptions): ReflectionServices {
  const files = filesWithImports([...options.services.map((service) => service.file), ...(options.files ?? [])]);
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files.map((file) => file.proto) }));
  const serviceNames = options.services.map((service) => service.typeName);
  const encoded = new Map<string, Uint8Array>();
  const encode = (file: DescFile): Uint8Array => {
    let bytes = encoded.get(file.name);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file.name, bytes);
    }
    return bytes;
  };

  const answer = (request: v1.ServerReflectionRequest, sentFiles: Set<string>): v1.ServerReflectionResponse => {
    const response = create(v1.ServerReflectionResponseSchema, answerRequest(registry, serviceNames, request, sentFiles, encode));
    response.validHost = request.host;
    response.originalRequest = request;
    return response;
  };

  return {
    v1: {
      serverReflectionInfo: async function* (requests) {
        const sentFiles = new Set<string>();
        for await (const request of requests) {
          yield answer(request, sentFiles);
        }
      },
    },
    // v1alpha has the messages of v1 under another package, field for field,
    // so requests and responses convert through their binary form.
    v1alpha: {
      serverReflectionInfo: async function* (requests) {
        const sentFiles = new Set<string>();
        for await (const request of requests) {
          const asV1 = fromBinary(v1.ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, request));
          const response = answer(asV1, sentFiles);
          yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, response));
        }
      },
    },
  };
}

function answerRequest(
  registry: FileRegistry,
  serviceNames: readonly string[],
  request: v1.ServerReflectionRequest,
  sentFiles: Set<string>,
  encode: (file: DescFile) => Uint8Array,
): ResponseInit {
  const fileResponse = (file: DescFile | undefined, notFound: string): ResponseInit => {
    if (file === undefined) {
      return errorResponse(Code.NotFound, notFound);
    }
    // The requested file always, and each import once per stream, as
    // grpc-go's reflection server sends them.
    const sent = filesWithImports([file]).filter((candidate) => candidate === file || !sentFiles.has(candidate.name));
    for (const candidate of sent) {
      sentFiles.add(candidate.name);
    }
    // Clients read the first file as the one requested, so it leads.
    sent.sort((a, b) => Number(b === file) - Number(a === file));
    return {
      messageResponse: {
        case: "fileDescriptorResponse",
        value: { fileDescriptorProto: sent.map(encode) },
      },
    };
  };

  const { messageRequest } = request;
  switch (messageRequest.case) {
    case "fileByFilename":
      return fileResponse(registry.getFile(messageRequest.value), `file ${JSON.stringify(messageRequest.value)} not found`);

    case "fileContainingSymbol":
      return fileResponse(fileOfSymbol(registry, messageRequest.value), `symbol ${JSON.stringify(messageRequest.value)} not found`);

    case "fileContainingExtension": {
      const { containingType, extensionNumber } = messageRequest.value;
      const message = registry.getMessage(containingType);
      const extension = message === undefined ? undefined : registry.getExtensionFor(message, extensionNumber);
      return fileResponse(extension?.file, `extension ${extensionNumber} of ${JSON.stringify(containingType)} not found`);
    }

    case "allExtensionNumbersOfType": {
      const typeName = messageRequest.value;
      if (registry.getMessage(typeName) === undefined) {
        return errorResponse(Code.NotFound, `message type ${JSON.stringify(typeName)} not found`);
      }
      const numbers: number[] = [];
      for (const type of registry) {
        if (type.kind === "extension" && type.extendee.typeName === typeName) {
          numbers.push(type.number);
        }
      }
      return {
        messageResponse: {
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: typeName, extensionNumber: numbers.sort((a, b) => a - b) },
        },
      };
    }

    case "listServices":
      return {
        messageResponse: {
          case: "listServicesResponse",
          value: { service: serviceNames.map((name) => ({ name })) },
        },
      };

    default:
      return errorResponse(Code.InvalidArgument, "empty reflection request: set one field of message_request");
  }
}

function errorResponse(code: Code, message: string): ResponseInit {
  return { messageResponse: { case: "errorResponse", value: { errorCode: code, errorMessage: message } } };
}

// Finds the file of a fully-qualified type, service, method, field or enum
// value name.
function fileOfSymbol(registry: FileRegistry, symbol: string): DescFile | undefined {
  const type = registry.get(symbol);
  if (type !== undefined) {
    return type.file;
  }
  const dot = symbol.lastIndexOf(".");
  if (dot === -1) {
    return undefined;
  }
  const parent = registry.get(symbol.slice(0, dot));
  const member = symbol.slice(dot + 1);
  switch (parent?.kind) {
    case "service":
      return parent.methods.some((method) => method.name === member) ? parent.file : undefined;
    case "message":
      return parent.fields.some((field) => field.name === member) || parent.oneofs.some((oneof) => oneof.name === member)
        ? parent.file
        : undefined;
    case "enum":
      return parent.values.some((value) => value.name === member) ? parent.file : undefined;
    default:
      return undefined;
  }
}

/** Returns the files and everything they import, each once, every import before its importers. */
function filesWithImports(roots: readonly DescFile[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) {
      return;
    }
    seen.add(file.name);
    for (const dependency of file.dependencies) {
      visit(dependency);
    }
    ordered.push(file);
  };
  roots.forEach(visit);
  return ordered;
}
