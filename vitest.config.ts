import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    // Suites start real servers and databases; PGlite takes about a second to open.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
