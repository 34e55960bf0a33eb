import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { callSignalKey } from "./db/call-signal.ts";

/** Options of createLimitsInterceptor. */
export interface LimitsOptions {
  /** Calls served at once; more fail at once with RESOURCE_EXHAUSTED. */
  maxConcurrentCalls: number;
  /** Deadline in milliseconds of unary calls whose client sends none; 0 for none. */
  defaultDeadlineMs: number;
}

/**
 * Context value that is true when the transport has already applied the
 * server's default deadline to the call, so that the interceptor need not.
 */
export const serverDeadlineAppliedKey = createContextKey(false, { description: "server deadline applied" });

/** Returns the error of a call that ran past the server's default deadline. */
export function serverDeadlineError(deadlineMs: number): ConnectError {
  return new ConnectError(`deadline exceeded: the server's limit of ${deadlineMs} ms passed`, Code.DeadlineExceeded);
}

// Headers that carry a client's deadline in gRPC, gRPC-Web and Connect.
const deadlineHeaders = ["grpc-timeout", "connect-timeout-ms"];

/**
 * Bounds the work of the server. Calls beyond the concurrency limit are
 * rejected instead of queued, and unary calls without a client deadline get
 * the server's default one. Each call gets its abort signal in the context
 * value callSignalKey, so that its database queries are cancelled when it aborts.
 */
export function createLimitsInterceptor(options: LimitsOptions): Interceptor {
  let inFlight = 0;
  return (next) => async (request) => {
    if (inFlight >= options.maxConcurrentCalls) {
      throw new ConnectError(
        `server busy: ${options.maxConcurrentCalls} calls in flight, the maximum; retry with backoff`,
        Code.ResourceExhausted,
      );
    }

    let signal = request.signal;
    let timer: NodeJS.Timeout | undefined;
    const hasDeadline = request.contextValues.get(serverDeadlineAppliedKey) || deadlineHeaders.some((name) => request.header.has(name));
    if (!request.stream && !hasDeadline && options.defaultDeadlineMs > 0) {
      const controller = new AbortController();
      timer = setTimeout(() => {
        controller.abort(serverDeadlineError(options.defaultDeadlineMs));
      }, options.defaultDeadlineMs);
      signal = AbortSignal.any([request.signal, controller.signal]);
    }

    // NOTE: a streaming call counts only until its response headers are
    // sent, because next() returns then, while the stream may go on.
    inFlight++;
    try {
      // A call whose deadline passed already (grpc-timeout: 0n, say) does not
      // reach the handler at all.
      if (signal.aborted) {
        throw abortError(signal);
      }
      request.contextValues.set(callSignalKey, signal);
      return await raceSignal(next(request), signal);
    } finally {
      inFlight--;
      clearTimeout(timer);
    }
  };
}

// Settles with the promise, or rejects with the signal's reason as soon as it
// aborts, so that a call ends at its deadline even while a query still runs.
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
    }
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function abortError(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  return reason instanceof ConnectError ? reason : new ConnectError("call cancelled", Code.Canceled);
}
