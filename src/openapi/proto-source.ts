import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createFileRegistry, fromBinary, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { PlateService } from "../../gen/plates/v1/plate_service_pb.ts";
import { buildOpenApiDocument } from "./document.ts";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The OpenAPI document that the server sends at /openapi.json, relative to the repository. */
export const openApiPath = "openapi/openapi.json";

/**
 * Compiles the proto of PlateService with `buf build`, comments included,
 * which the descriptors embedded in gen/ leave out, and returns the service.
 */
export async function loadPlateServiceFromProto(): Promise<DescService> {
  const buf = path.join(repoRoot, "node_modules/.bin/buf");
  const { stdout } = await run(
    buf,
    ["build", "--path", "proto/plates/v1/plate_service.proto", "--as-file-descriptor-set", "-o", "-#format=binpb"],
    { cwd: repoRoot, encoding: "buffer", maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
  );
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, stdout));
  const service = registry.getService(PlateService.typeName);
  if (service === undefined) {
    throw new Error(`buf build output has no service ${PlateService.typeName}`);
  }
  return service;
}

/** Builds the OpenAPI document of PlateService from the proto, as the text written to openapi/openapi.json. */
export async function renderOpenApiDocument(): Promise<string> {
  return `${JSON.stringify(buildOpenApiDocument(await loadPlateServiceFromProto()), null, 2)}\n`;
}
