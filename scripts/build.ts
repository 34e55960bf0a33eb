// Bundles the service into dist/ as plain JavaScript, so that production runs
// it with Node alone: no TypeScript loader in the process, which halves its
// memory at rest. Packages stay in node_modules and are imported from there.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The bundle that `npm start` runs, relative to the repository root. */
export const serviceEntry = "dist/src/main.js";

/**
 * Node options of the service, the same as in the start script of
 * package.json. Semi-spaces of at most 8 MB keep the young generation small,
 * which lowers peak memory under load for about the same CPU time.
 */
export const serviceNodeOptions = ["--enable-source-maps", "--max-semi-space-size=8"];

/** Writes the bundle of src/main.ts to dist/src/main.js. */
export async function buildService(): Promise<void> {
  await build({
    absWorkingDir: repoRoot,
    entryPoints: ["src/main.ts"],
    // dist/ mirrors the source tree, so that paths that modules resolve
    // against import.meta.url, such as ../../openapi/, lead to the same files
    // from the bundle as from the sources.
    outbase: ".",
    outdir: "dist",
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    sourcemap: true,
    logLevel: "warning",
  });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildService();
}
