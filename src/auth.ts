import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { requiredScope } from "./tokens/scopes.ts";
import type { TokenVerifier } from "./tokens/verifier.ts";

/** An accepted bearer token and the name that logs show in its place. */
export interface ApiToken {
  name: string;
  value: string;
}

/** Name of the token that authenticated the call; set by the auth interceptor. */
export const tokenNameKey = createContextKey<string | undefined>(undefined, {
  description: "name of the API token of the call",
});

const tokenFileName = "api-token";

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Returns the name of the token equal to `presented`, or undefined. Every
 * token is compared, in constant time over digests of equal length, so the
 * time taken reveals neither which token nor how much of it matched.
 */
export function matchToken(tokens: readonly ApiToken[], presented: string): string | undefined {
  const presentedDigest = digest(presented);
  let name: string | undefined;
  for (const token of tokens) {
    if (timingSafeEqual(digest(token.value), presentedDigest) && name === undefined) {
      name = token.name;
    }
  }
  return name;
}

/** Names the tokens of API_TOKENS by position, so that logs never show a value. */
export function tokensFromList(values: readonly string[]): ApiToken[] {
  return values.map((value, index) => ({ name: `API_TOKENS[${index}]`, value }));
}

/**
 * Reads the token kept in `dataDir`, or creates one there (readable by the
 * owner only) when there is none. Returns the token, its file and whether it
 * was created now.
 */
export async function loadOrCreateToken(dataDir: string): Promise<{ token: ApiToken; file: string; created: boolean }> {
  const file = path.join(dataDir, tokenFileName);
  try {
    const value = (await readFile(file, "utf8")).trim();
    if (value !== "") {
      return { token: { name: "generated", value }, file, created: false };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw error;
    }
  }
  await mkdir(dataDir, { recursive: true });
  const value = randomBytes(32).toString("base64url");
  // "wx" fails when another process created the file in the meantime, so an
  // existing token is never overwritten.
  await writeFile(file, `${value}\n`, { mode: 0o600, flag: "wx" });
  return { token: { name: "generated", value }, file, created: true };
}

const bearerPattern = /^Bearer +([\x21-\x7e]+) *$/i;

/**
 * Rejects every call without `authorization: Bearer <token>` naming an
 * accepted token, with UNAUTHENTICATED. Missing, malformed, wrong and revoked
 * tokens get the same error, so a caller learns nothing about which it was.
 * A token without the scope that the call needs gets PERMISSION_DENIED.
 */
export function createAuthInterceptor(verifier: TokenVerifier): Interceptor {
  return (next) => async (request) => {
    const match = bearerPattern.exec(request.header.get("authorization") ?? "");
    const caller = match?.[1] === undefined ? undefined : await verifier.verify(match[1]);
    if (caller === undefined) {
      throw new ConnectError("missing or invalid bearer token", Code.Unauthenticated);
    }
    request.contextValues.set(tokenNameKey, caller.name);
    const message = request.stream ? undefined : request.message;
    const scope = requiredScope(request.method, message);
    if (!caller.scopes.has(scope)) {
      throw new ConnectError(
        `token "${caller.name}" lacks scope ${scope}, which ${request.method.name} needs`,
        Code.PermissionDenied,
      );
    }
    return next(request);
  };
}
