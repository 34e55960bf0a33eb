import { randomUUID } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";

/** Header that carries the request id in both directions. */
export const requestIdHeader = "x-request-id";

/** Request id of the call; set by the call-log interceptor. */
export const requestIdKey = createContextKey<string>("", { description: "request id of the call" });

// A caller's id is kept when it is short printable ASCII without spaces, so
// that it can go into logs and headers as it is. Anything else is replaced.
const acceptedRequestId = /^[\x21-\x7e]{1,128}$/;

/** Returns the caller's request id when it is usable, or a new UUID. */
export function resolveRequestId(header: string | null): string {
  return header !== null && acceptedRequestId.test(header) ? header : randomUUID();
}
