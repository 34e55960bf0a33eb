import { buildService } from "../../scripts/build.ts";

/** Builds the bundle that tests which start the service as a process run, once per test run. */
export default async function setup(): Promise<void> {
  await buildService();
}
