// Writes openapi/openapi.json from the proto; `npm run generate` runs it after buf generate.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openApiPath, renderOpenApiDocument } from "../src/openapi/proto-source.ts";

async function main(): Promise<void> {
  const file = path.join(fileURLToPath(new URL("..", import.meta.url)), openApiPath);
  await writeFile(file, await renderOpenApiDocument());
  process.stdout.write(`wrote ${openApiPath}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`build-openapi: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
