import cluster from "node:cluster";

/** Message a benchmark server process sends to the bench over IPC once it accepts calls. */
export interface ReadyMessage {
  ready: true;
  port: number;
  /** Process ids that serve calls: the process itself, or its cluster workers. */
  pids: number[];
}

/** Settings that every benchmark server process reads from its environment. */
export interface ChildSettings {
  /** Count of server processes; above 1 they are node:cluster workers sharing one port. */
  workers: number;
  databaseUrl: string;
  schema: string;
  token: string;
}

export function readChildSettings(): ChildSettings {
  const workers = Number(process.env.BENCH_WORKERS ?? "1");
  if (!Number.isInteger(workers) || workers < 1) {
    throw new Error(`invalid BENCH_WORKERS "${process.env.BENCH_WORKERS}": expected a positive integer`);
  }
  return {
    workers,
    databaseUrl: process.env.BENCH_DATABASE_URL ?? "",
    schema: process.env.BENCH_SCHEMA ?? "",
    token: process.env.BENCH_TOKEN ?? "",
  };
}

function exitOnSignals(): void {
  // A normal exit writes the --cpu-prof profile; the default SIGTERM action would not.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => process.exit(0));
  }
}

/**
 * Runs `listen` in this process, or in `workers` cluster workers that share
 * one port, and reports the port and the serving pids to the parent over IPC.
 * `listen` returns the bound port; with port 0 every worker gets the same one.
 */
export function serve(workers: number, listen: () => Promise<number>): void {
  exitOnSignals();
  if (workers === 1) {
    listen().then(
      (port) => process.send?.({ ready: true, port, pids: [process.pid] } satisfies ReadyMessage),
      (error: unknown) => {
        process.stderr.write(`bench server failed to start: ${String(error)}\n`);
        process.exit(1);
      },
    );
    return;
  }
  if (cluster.isPrimary) {
    const ports = new Map<number, number>();
    for (let index = 0; index < workers; index++) {
      const worker = cluster.fork();
      worker.on("message", (message: { port?: number }) => {
        if (typeof message.port === "number" && worker.process.pid !== undefined) {
          ports.set(worker.process.pid, message.port);
          if (ports.size === workers) {
            const [port] = new Set(ports.values());
            process.send?.({ ready: true, port: port!, pids: [...ports.keys()] } satisfies ReadyMessage);
          }
        }
      });
    }
    cluster.on("exit", (worker, code, signal) => {
      process.stderr.write(`bench worker ${worker.process.pid} exited with ${code ?? signal}\n`);
    });
    process.on("exit", () => {
      for (const worker of Object.values(cluster.workers ?? {})) {
        worker?.process.kill("SIGTERM");
      }
    });
    return;
  }
  listen().then(
    (port) => process.send?.({ port }),
    (error: unknown) => {
      process.stderr.write(`bench worker failed to start: ${String(error)}\n`);
      process.exit(1);
    },
  );
}
