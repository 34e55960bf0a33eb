import type { DescMethod } from "@bufbuild/protobuf";
import type { Scope } from "./token-store.ts";

// PlateService methods that change stored data; every other method only reads.
const writeMethods = new Set(["Add", "Delete"]);

/**
 * Returns the scope a PlateService call needs: plates.write for Add, Delete
 * and Generate with reserve = true, plates.read for everything else.
 */
export function requiredScope(method: DescMethod, message: unknown): Scope {
  if (writeMethods.has(method.name)) {
    return "plates.write";
  }
  if (method.name === "Generate" && (message as { reserve?: unknown } | undefined)?.reserve === true) {
    return "plates.write";
  }
  return "plates.read";
}
