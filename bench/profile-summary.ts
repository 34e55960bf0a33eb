// Summarizes a V8 CPU profile (.cpuprofile, as `node --cpu-prof` writes it):
// where the samples of a time window fall, by function, package and category.
// Run alone: tsx bench/profile-summary.ts FILE.cpuprofile
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The JSON of a .cpuprofile file. */
export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds of CLOCK_MONOTONIC. */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  /** Fraction of the busy samples (every sample but "(idle)"). */
  share: number;
}

export interface ProfileSummary {
  /** Samples in the window, idle ones included. */
  samples: number;
  /** Fraction of the window's samples in which the thread was idle. */
  idleShare: number;
  /** Self time by kind: garbage collection, native code outside JavaScript, and JavaScript by where it comes from. */
  packages: Share[];
  /** Time spent in and under chosen functions, such as DOMException creation. */
  inclusive: Share[];
  /** Functions with the most self time. */
  topSelf: Share[];
}

// Functions whose inclusive time the summary always reports, by name and a
// part of their script URL.
const watchedFunctions: { label: string; name: string; url: string }[] = [
  { label: "DOMException constructor (abort reasons)", name: "DOMException", url: "domexception" },
  { label: "AbortController.abort", name: "abort", url: "abort_controller" },
  { label: "AbortSignal.any", name: "any", url: "abort_controller" },
  { label: "AsyncLocalStorage promise hooks (promiseInitHook)", name: "promiseInitHook", url: "async_hooks" },
  { label: "Connect createHandlerContext", name: "createHandlerContext", url: "@connectrpc" },
  { label: "Connect universalRequestFromNodeRequest", name: "universalRequestFromNodeRequest", url: "@connectrpc" },
  { label: "pino: a log line (LOG.info)", name: "LOG", url: "pino" },
  { label: "Knex: building and running a query (Runner.run)", name: "run", url: "knex/lib/execution/runner" },
  { label: "pg: Client.query", name: "query", url: "pg/lib/client" },
  { label: "protobuf-es: toBinary", name: "toBinary", url: "@bufbuild/protobuf" },
  { label: "protobuf-es: fromBinary", name: "fromBinary", url: "@bufbuild/protobuf" },
  { label: "protobuf-es: toJson", name: "toJson", url: "@bufbuild/protobuf" },
  { label: "protobuf-es: fromJsonString", name: "fromJsonString", url: "@bufbuild/protobuf" },
  { label: "Node HTTP/2: onStreamClose", name: "onStreamClose", url: "internal/http2" },
];

/** Names where a script comes from: an npm package, a Node module, our src/, or a V8 category. */
function packageOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === "") {
    return functionName.startsWith("(") ? functionName : "(native)";
  }
  const nodeModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nodeModules !== null) {
    return nodeModules[1]!;
  }
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url);
  if (internal !== null) {
    return `node:${internal[1]!.replace(/\.js$/, "")}`;
  }
  const project = /\/(src|gen|bench|test)\//.exec(url);
  return project === null ? url : `${project[1]}/ (this repository)`;
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?node_modules\//, "").replace(/^file:\/\/.*?\/(src|gen|bench)\//, "$1/");
}

/**
 * Summarizes the samples whose time lies in `window` (microseconds of
 * CLOCK_MONOTONIC, inclusive), or every sample when it is absent.
 */
export function summarizeProfile(profile: CpuProfile, window?: [number, number], top = 25): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parents.set(child, node.id);
    }
  }

  const selfCounts = new Map<number, number>();
  let time = profile.startTime;
  let counted = 0;
  profile.samples.forEach((id, index) => {
    time += profile.timeDeltas[index] ?? 0;
    if (window !== undefined && (time < window[0] || time > window[1])) {
      return;
    }
    selfCounts.set(id, (selfCounts.get(id) ?? 0) + 1);
    counted++;
  });

  let idle = 0;
  const bySelf = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const byWatched = new Map<string, number>();
  for (const [id, count] of selfCounts) {
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idle += count;
      continue;
    }
    const key = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}${frame.url === "" ? "" : `:${frame.lineNumber + 1}`}`.trim();
    bySelf.set(key, (bySelf.get(key) ?? 0) + count);
    const name = packageOf(frame);
    byPackage.set(name, (byPackage.get(name) ?? 0) + count);

    // Inclusive time: count the sample once for each watched function on its stack.
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parents.get(current)) {
      const { functionName, url } = nodes.get(current)!.callFrame;
      for (const watched of watchedFunctions) {
        if (functionName === watched.name && url.includes(watched.url) && !seen.has(watched.label)) {
          seen.add(watched.label);
          byWatched.set(watched.label, (byWatched.get(watched.label) ?? 0) + count);
        }
      }
    }
  }

  const busy = Math.max(counted - idle, 1);
  const shares = (map: Map<string, number>, limit: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, count]) => ({ name, share: count / busy }));
  return {
    samples: counted,
    idleShare: counted === 0 ? 0 : idle / counted,
    packages: shares(byPackage, 20),
    inclusive: watchedFunctions.map((watched) => ({ name: watched.label, share: (byWatched.get(watched.label) ?? 0) / busy })),
    topSelf: shares(bySelf, top),
  };
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

/** Formats a summary as Markdown lists and tables. */
export function formatProfile(summary: ProfileSummary): string {
  const lines: string[] = [];
  lines.push(`${summary.samples} samples, ${percent(summary.idleShare)} idle; shares below are of the busy samples.`);
  lines.push("");
  lines.push("| self time by source | share |");
  lines.push("|---|---|");
  for (const item of summary.packages) {
    lines.push(`| ${item.name} | ${percent(item.share)} |`);
  }
  lines.push("");
  lines.push("| time in and under | share |");
  lines.push("|---|---|");
  for (const item of summary.inclusive) {
    lines.push(`| ${item.name} | ${percent(item.share)} |`);
  }
  lines.push("");
  lines.push("| function (self time) | share |");
  lines.push("|---|---|");
  for (const item of summary.topSelf) {
    lines.push(`| \`${item.name.replace(/\|/g, "\\|")}\` | ${percent(item.share)} |`);
  }
  return lines.join("\n");
}

if (process.argv[1]?.endsWith("profile-summary.ts")) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error("usage: tsx bench/profile-summary.ts FILE.cpuprofile");
    process.exit(2);
  }
  console.log(formatProfile(summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as CpuProfile)));
}
