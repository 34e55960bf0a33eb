import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, LocalizedMessageSchema } from "../../gen/google/rpc/error_details_pb.ts";
import type { PlateError } from "../plate/normalize.ts";

/** Domain of the ErrorInfo of rejected numbers, the package of the service. */
export const errorDomain = "plates.v1";

/** Locale of the LocalizedMessage of rejected numbers. */
export const errorLocale = "ru-RU";

// Maximum length of the input quoted in the message and in ErrorInfo, in UTF-16 code units. gRPC
// sends both in response headers, whose total size clients limit (Node's HTTP/2 to 64 KiB by
// default), while a request may carry 64 KiB.
const maxQuotedInput = 100;

/**
 * Builds the INVALID_ARGUMENT error for a number that the engine rejected. Its details are a
 * google.rpc.ErrorInfo (reason code, domain "plates.v1", and metadata `input`, `position`,
 * `character`, `mask`, `number` and `type` where the engine gives them), a google.rpc.BadRequest
 * with one violation of field `number`, and a google.rpc.LocalizedMessage in Russian.
 */
export function invalidNumberError(input: string, error: PlateError): ConnectError {
  const quoted = quoteInput(input);
  const metadata: Record<string, string> = { input: quoted };
  if (error.position !== undefined) {
    metadata.position = String(error.position);
  }
  if (error.character !== undefined) {
    metadata.character = error.character;
  }
  if (error.mask !== undefined) {
    metadata.mask = error.mask;
  }
  if (error.number !== undefined) {
    metadata.number = error.number;
  }
  if (error.type !== undefined) {
    metadata.type = error.type;
  }

  const localizedMessage = { locale: errorLocale, message: error.messageRu };
  return new ConnectError(`invalid number ${JSON.stringify(quoted)}: ${error.message}`, Code.InvalidArgument, undefined, [
    { desc: ErrorInfoSchema, value: { reason: error.reason, domain: errorDomain, metadata } },
    {
      desc: BadRequestSchema,
      value: {
        fieldViolations: [{ field: "number", description: error.message, reason: error.reason, localizedMessage }],
      },
    },
    { desc: LocalizedMessageSchema, value: localizedMessage },
  ]);
}

/** Returns the input, cut to maxQuotedInput code units with "…" appended when longer. */
function quoteInput(input: string): string {
  if (input.length <= maxQuotedInput) {
    return input;
  }
  // Step back over a high surrogate so that no half of a character is quoted.
  const lastCode = input.charCodeAt(maxQuotedInput - 1);
  const end = lastCode >= 0xd800 && lastCode <= 0xdbff ? maxQuotedInput - 1 : maxQuotedInput;
  return `${input.slice(0, end)}…`;
}
