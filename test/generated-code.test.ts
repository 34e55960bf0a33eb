import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/clients.ts";

const run = promisify(execFile);
const buf = path.join(repoRoot, "node_modules/.bin/buf");
// buf.gen.yaml names the local plugin protoc-gen-es, which buf looks up in
// PATH; the project's own copy must come first.
const bufEnv = {
  ...process.env,
  PATH: [path.join(repoRoot, "node_modules/.bin"), process.env.PATH].join(path.delimiter),
};

/** Lists the files under `folder`, recursively, as sorted paths relative to it. */
async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe("buf lint", () => {
  it("passes on proto", async () => {
    const result = await run(buf, ["lint", "proto"], { cwd: repoRoot, env: bufEnv, timeout: 60_000 });
    expect(result.stdout).toBe("");
  });
});

describe("committed gen folder", () => {
  let outputDir: string;
  let generatedDir: string;
  const committedDir = path.join(repoRoot, "gen");

  beforeAll(async () => {
    outputDir = await mkdtemp(path.join(tmpdir(), "plates-gen-"));
    // -o sets the base folder that the `out` paths of buf.gen.yaml are
    // relative to, so the plugin writes to <outputDir>/gen.
    await run(buf, ["generate", "-o", outputDir], { cwd: repoRoot, env: bufEnv, timeout: 60_000 });
    generatedDir = path.join(outputDir, "gen");
  });

  afterAll(async () => {
    await rm(outputDir, { recursive: true, force: true });
  });

  it("lists same files as buf generate", async () => {
    const generated = await listFiles(generatedDir);
    expect(generated).not.toEqual([]);
    expect(await listFiles(committedDir)).toEqual(generated);
  });

  it("matches buf generate byte for byte", async () => {
    const files = await listFiles(generatedDir);
    expect(files).not.toEqual([]);
    for (const file of files) {
      const generated = await readFile(path.join(generatedDir, file));
      const committed = await readFile(path.join(committedDir, file)).catch(() => undefined);
      expect(committed, `gen/${file} is missing; run npm run generate`).toBeDefined();
      expect(committed?.equals(generated), `gen/${file} differs from buf generate output; run npm run generate`).toBe(
        true,
      );
    }
  });
});
