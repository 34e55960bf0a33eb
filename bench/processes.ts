import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildBundles } from "../scripts/build.ts";
import type { ReadyMessage } from "./servers/child.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A benchmark process started by the bench: a server, the pg load or the Node load generator. */
export interface BenchProcess {
  name: string;
  child: ChildProcess;
  port: number;
  /** Processes whose memory counts as this one's: the process itself, or its cluster workers and their primary. */
  pids: number[];
  /** File that receives the process's standard output (the call log of the servers). */
  logFile: string;
  /** Sends a job over IPC and resolves with the `result` field of the reply. */
  request<T>(job: object): Promise<T>;
  /** Ends the process with SIGTERM (SIGKILL after 10 s) and waits for its exit. */
  stop(): Promise<void>;
}

const bundles = new Map<string, Promise<string>>();

/**
 * Bundles `script` (a path under bench/) the way `npm start` bundles the
 * service, once per run, and returns the path of the bundle, which lies two
 * folders deep like the script.
 */
function bundleOf(script: string): Promise<string> {
  let bundle = bundles.get(script);
  if (bundle === undefined) {
    const output = `bench/${path.basename(script, ".ts")}`;
    bundle = buildBundles([{ source: script, output }]).then(() => path.join(repoRoot, "dist", `${output}.js`));
    bundles.set(script, bundle);
  }
  return bundle;
}

/** Starts the bundle of `script` (a path under bench/) under plain Node and waits for its ready message. */
export async function startBenchProcess(options: {
  name: string;
  script: string;
  env: Record<string, string>;
  logFile: string;
  nodeFlags?: string[];
}): Promise<BenchProcess> {
  const output = openSync(options.logFile, "a");
  const bundle = await bundleOf(options.script);
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), bundle], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", output, "inherit", "ipc"],
  });
  closeSync(output);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const ready = await new Promise<ReadyMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} did not start within 60 s`)), 60_000);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited with ${code ?? signal} before it was ready`));
    });
    child.on("message", (message: Partial<ReadyMessage>) => {
      if (message.ready === true) {
        clearTimeout(timer);
        resolve(message as ReadyMessage);
      }
    });
  });

  // A cluster primary counts too, because it owns the listening socket.
  const pids = ready.pids.includes(child.pid!) ? ready.pids : [child.pid!, ...ready.pids];
  return {
    name: options.name,
    child,
    port: ready.port,
    pids,
    logFile: options.logFile,
    request: <T>(job: object) =>
      new Promise<T>((resolve, reject) => {
        const onMessage = (message: { result?: T; error?: string }) => {
          if (message.result !== undefined || message.error !== undefined) {
            child.off("message", onMessage);
            child.off("exit", onExit);
            if (message.error !== undefined) {
              reject(new Error(`${options.name}: ${message.error}`));
            } else {
              resolve(message.result as T);
            }
          }
        };
        const onExit = () => reject(new Error(`${options.name} exited during a job`));
        child.on("message", onMessage);
        child.once("exit", onExit);
        child.send(job);
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        return;
      }
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Reads a memory field (VmRSS, VmHWM) of a process from /proc in bytes; 0 when the process is gone. */
export function readMemory(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Returns the CPU time (user and system) that a process has used, in
 * seconds, from /proc/PID/stat; 0 when the process is gone. The kernel counts
 * in clock ticks of 10 ms (USER_HZ 100 on Linux).
 */
export function readCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Samples the summed VmRSS of some processes every 100 ms and keeps the peak since the last reset. */
export class RssMonitor {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pids: number[]) {
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
    this.sample();
  }

  /** Current summed RSS in bytes. */
  current(): number {
    return this.pids.reduce((sum, pid) => sum + readMemory(pid, "VmRSS"), 0);
  }

  private sample(): void {
    this.peak = Math.max(this.peak, this.current());
  }

  /** Returns the peak since the last call and starts a new period. */
  takePeak(): number {
    this.sample();
    const peak = this.peak;
    this.peak = this.current();
    return peak;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
