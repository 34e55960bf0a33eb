import type http from "node:http";
import type http2 from "node:http2";

type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;
type NodeHeaders = Record<string, string | string[] | number | undefined>;

/**
 * Percent-encodes a grpc-message value as the gRPC HTTP/2 spec does: every
 * byte of the UTF-8 text outside printable ASCII, and "%" itself.
 */
export function encodeGrpcMessage(message: string): string {
  let encoded = "";
  for (const byte of Buffer.from(message, "utf8")) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) {
      encoded += String.fromCharCode(byte);
    } else {
      encoded += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
    }
  }
  return encoded;
}

/**
 * Converts a grpc-message value that Connect percent-encoded with
 * encodeURIComponent to the encoding of the gRPC spec. A value that is not
 * valid percent-encoding comes back as it is.
 */
export function specGrpcMessage(value: string): string {
  try {
    return encodeGrpcMessage(decodeURIComponent(value));
  } catch {
    return value;
  }
}

function reencode(headers: NodeHeaders | undefined): void {
  const value = headers?.["grpc-message"];
  if (headers !== undefined && typeof value === "string") {
    headers["grpc-message"] = specGrpcMessage(value);
  }
}

/**
 * Makes gRPC error messages readable by @grpc/grpc-js. Connect encodes
 * grpc-message with encodeURIComponent, which also escapes ":", "," and "/",
 * while grpc-js decodes with decodeURI, which leaves those escaped, so its
 * users would read "%3A" in place of ":". Re-encoding as the spec prescribes
 * is decoded correctly by both, and by other gRPC implementations.
 */
export function useSpecGrpcMessage(response: NodeResponse): void {
  const writeHead = response.writeHead.bind(response) as (status: number, headers?: NodeHeaders) => unknown;
  const addTrailers = response.addTrailers.bind(response) as (headers: NodeHeaders) => void;
  Object.assign(response, {
    writeHead: (status: number, headers?: NodeHeaders) => {
      reencode(headers);
      return writeHead(status, headers);
    },
    addTrailers: (headers: NodeHeaders) => {
      reencode(headers);
      addTrailers(headers);
    },
  });
}
