import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { serviceEntry, serviceNodeOptions } from "../../scripts/build.ts";
import { settingNames } from "../../src/config.ts";
import { repoRoot } from "./clients.ts";

export type LogLine = Record<string, unknown>;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The service started as `npm start` starts it, with its output collected. */
export interface ServiceProcess {
  child: ChildProcess;
  /** Parsed JSON lines of standard output, in order. */
  logs: LogLine[];
  /** Standard output lines that are not JSON objects. */
  otherLines: string[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the first log line that matches, waiting for it when needed. */
  waitForLog(matches: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<ExitStatus>;
  /** Exit status after the process exits, or undefined while it runs. */
  exitStatus(): ExitStatus | undefined;
}

// Settings that loadConfig reads. The child gets none of them from the test environment.
export const configVariables = settingNames;
export const startTimeoutMs = 45_000;
const started: ServiceProcess[] = [];

/**
 * Starts the service with `settings` as its only configuration. It runs the
 * bundle with Node directly, or through `npm start` when `npmStart` is set,
 * which builds the bundle first.
 */
export function startService(settings: Record<string, string>, options: { npmStart?: boolean } = {}): ServiceProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of configVariables) {
    delete env[name];
  }
  Object.assign(env, { HOST: "127.0.0.1", PORT: "0" }, settings);

  // The bundle that vitest's global setup builds. A process group of its own
  // lets cleanup end the service and anything it starts together.
  const [command, args] = options.npmStart === true ? ["npm", ["start", "--silent"]] : [process.execPath, [...serviceNodeOptions, serviceEntry]];
  const child = spawn(command, args, {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });

  const logs: LogLine[] = [];
  const otherLines: string[] = [];
  let stdout = "";
  let stderr = "";
  let exitStatus: ExitStatus | undefined;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) {
      waiter();
    }
  };

  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const lines = createInterface({ input: child.stdout! });
  lines.on("line", (line) => {
    stdout += `${line}\n`;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        logs.push(parsed as LogLine);
      } else {
        otherLines.push(line);
      }
    } catch {
      otherLines.push(line);
    }
    notify();
  });
  const outputClosed = new Promise<void>((resolve) => lines.once("close", resolve));
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => {
      // Resolve only after the last line of output has been read.
      void outputClosed.then(() => {
        exitStatus = { code, signal };
        notify();
        resolve(exitStatus);
      });
    });
  });

  const service: ServiceProcess = {
    child,
    logs,
    otherLines,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    exitStatus: () => exitStatus,
    waitForLog: (matches, timeoutMs = startTimeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const line = logs.find(matches);
          if (line !== undefined) {
            finish();
            resolve(line);
          } else if (exitStatus !== undefined) {
            finish();
            reject(new Error(`service exited with ${JSON.stringify(exitStatus)} before the log line; stderr: ${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`log line not written within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
  };
  started.push(service);
  return service;
}

/** Returns "host:port" from the "listening" log line. */
export async function waitForAddress(service: ServiceProcess): Promise<string> {
  const line = await service.waitForLog((log) => log.msg === "listening");
  if (typeof line.address !== "string") {
    throw new Error(`"listening" log line has no address: ${JSON.stringify(line)}`);
  }
  return line.address;
}

export async function stopService(service: ServiceProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<ExitStatus> {
  service.child.kill(signal);
  return service.exited;
}

/** Ends every started process group that is still running. */
export async function killLeftovers(): Promise<void> {
  for (const service of started.splice(0)) {
    if (service.exitStatus() === undefined && service.child.pid !== undefined) {
      try {
        process.kill(-service.child.pid, "SIGKILL");
      } catch {
        // The group is gone already.
      }
      await service.exited;
    }
  }
}

/** Sends one unary Connect JSON call over HTTP/1.1 with fetch. */
export async function callConnectJson(
  address: string,
  method: string,
  body: object,
  token: string | undefined,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "connect-protocol-version": "1",
  };
  if (token !== undefined) {
    headers.authorization = `Bearer ${token}`;
  }
  const response = await fetch(`http://${address}/plates.v1.PlateService/${method}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

