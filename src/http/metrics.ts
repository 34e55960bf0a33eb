import type { Metrics } from "../metrics.ts";
import { requestTarget, sendMethodNotAllowed, type NodeRequest, type NodeResponse } from "./respond.ts";

/** Path of the Prometheus text exposition. */
export const metricsPath = "/metrics";

/**
 * Creates the handler of GET /metrics, which serves the metrics in the
 * Prometheus text format without a token. Returns false for other paths.
 */
export function createMetricsHandler(metrics: Metrics): (request: NodeRequest, response: NodeResponse) => boolean {
  return (request, response) => {
    if (requestTarget(request).path !== metricsPath) {
      return false;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      sendMethodNotAllowed(request, response, metricsPath, ["GET", "HEAD"]);
      return true;
    }
    metrics.registry.metrics().then(
      (text) => {
        response.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
        response.end(request.method === "HEAD" ? undefined : text);
      },
      (error: unknown) => {
        response.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        response.end(`failed to collect metrics: ${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
    return true;
  };
}
