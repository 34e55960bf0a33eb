import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponseSchema } from "../../gen/health/v1/health_pb.ts";
import { PlateService } from "../../gen/plates/v1/plate_service_pb.ts";

/** Options of createHealthMonitor. */
export interface HealthOptions {
  /** Resolves when the database answers a query and rejects otherwise; undefined counts as always answering. */
  checkDatabase: (() => Promise<void>) | undefined;
  /** Milliseconds a database check may take before it counts as failed. */
  checkTimeoutMs: number;
  /** Milliseconds between database checks while a Watch call is open. */
  watchIntervalMs: number;
  logger: Logger;
}

/** Health of the service as the database checks find it. */
export interface HealthMonitor {
  /** Implementation of grpc.health.v1.Health. */
  service: ServiceImpl<typeof Health>;
  /** Checks the database now; concurrent calls share one check. Returns true while it answers and the server runs. */
  isReady(): Promise<boolean>;
  /** Reports NOT_SERVING from now on and ends every Watch call with that status. */
  shutdown(): void;
}

// The overall health ("") and PlateService both depend on the database.
const servingNames = ["", PlateService.typeName];

/**
 * Creates the health monitor. Check and List run a database check per call,
 * and Watch checks every `watchIntervalMs` while a Watch call is open and
 * sends the status whenever it changes.
 */
export function createHealthMonitor(options: HealthOptions): HealthMonitor {
  const { logger } = options;
  const stopped = new AbortController();
  const listeners = new Set<() => void>();
  let current: ServingStatus | undefined;
  let inFlight: Promise<ServingStatus> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const setStatus = (status: ServingStatus, error?: unknown) => {
    if (status === current) {
      return;
    }
    if (status === ServingStatus.NOT_SERVING && !stopped.signal.aborted) {
      logger.warn({ err: error }, "database check failed, health is NOT_SERVING");
    } else if (status === ServingStatus.SERVING && current !== undefined) {
      logger.info("database answers again, health is SERVING");
    }
    current = status;
    for (const listener of listeners) {
      listener();
    }
  };

  const currentStatus = (): ServingStatus =>
    stopped.signal.aborted ? ServingStatus.NOT_SERVING : (current ?? ServingStatus.NOT_SERVING);

  const runCheck = async (): Promise<ServingStatus> => {
    if (stopped.signal.aborted) {
      return ServingStatus.NOT_SERVING;
    }
    try {
      await withTimeout(options.checkDatabase?.(), options.checkTimeoutMs);
      if (!stopped.signal.aborted) {
        setStatus(ServingStatus.SERVING);
      }
    } catch (error) {
      setStatus(ServingStatus.NOT_SERVING, error);
    }
    return currentStatus();
  };

  const check = (): Promise<ServingStatus> => {
    inFlight ??= runCheck().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  const subscribe = (listener: () => void): (() => void) => {
    listeners.add(listener);
    if (timer === undefined) {
      timer = setInterval(() => void check(), options.watchIntervalMs);
      timer.unref();
    }
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
    };
  };

  const service: ServiceImpl<typeof Health> = {
    check: async (request) => {
      if (!servingNames.includes(request.service)) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return { status: await check() };
    },

    list: async () => {
      const status = await check();
      const statuses: Record<string, MessageInitShape<typeof HealthCheckResponseSchema>> = {};
      for (const name of servingNames) {
        statuses[name] = { status };
      }
      return { statuses };
    },

    watch: async function* (request, context) {
      const signal = AbortSignal.any([context.signal, stopped.signal]);
      // An unknown service stays unknown, so its Watch sends one message and
      // waits for the client or the shutdown, as the health protocol asks.
      if (!servingNames.includes(request.service)) {
        yield { status: ServingStatus.SERVICE_UNKNOWN };
        await abortion(signal);
        return;
      }
      let wake: () => void = () => {};
      const onAbort = () => wake();
      signal.addEventListener("abort", onAbort, { once: true });
      const unsubscribe = subscribe(() => wake());
      try {
        let sent: ServingStatus | undefined;
        let status = await check();
        for (;;) {
          if (status !== sent) {
            yield { status };
            sent = status;
          }
          if (signal.aborted) {
            if (stopped.signal.aborted && sent !== ServingStatus.NOT_SERVING) {
              yield { status: ServingStatus.NOT_SERVING };
            }
            return;
          }
          // A change while the last message was being sent wakes no one, so
          // compare before waiting.
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (signal.aborted || currentStatus() !== sent) {
              resolve();
            }
          });
          status = currentStatus();
        }
      } finally {
        unsubscribe();
        signal.removeEventListener("abort", onAbort);
      }
    },
  };

  return {
    service,
    isReady: async () => (await check()) === ServingStatus.SERVING,
    shutdown: () => {
      stopped.abort();
      setStatus(ServingStatus.NOT_SERVING);
    },
  };
}

function abortion(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

async function withTimeout(promise: Promise<void> | undefined, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`database check timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
