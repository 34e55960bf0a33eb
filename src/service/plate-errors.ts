import { Code, ConnectError } from "@connectrpc/connect";
import type { PlateError } from "../plate/normalize.ts";

/** Builds the INVALID_ARGUMENT error for a number that the engine rejected. */
export function invalidNumberError(input: string, error: PlateError): ConnectError {
  // TODO: attach google.rpc ErrorInfo, BadRequest and a ru-RU LocalizedMessage.
  return new ConnectError(`invalid number ${JSON.stringify(input)}: ${error.message}`, Code.InvalidArgument);
}
