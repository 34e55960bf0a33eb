import type { HealthMonitor } from "../grpc/health.ts";
import { requestTarget, sendJson, sendMethodNotAllowed, type NodeRequest, type NodeResponse } from "./respond.ts";

/**
 * Creates the handler of the probes for load balancers and orchestrators,
 * which need no token: GET /healthz answers 200 while the process serves
 * HTTP, and GET /readyz answers 200 while the database answers and 503
 * otherwise or during shutdown. Bodies use the statuses of grpc.health.v1.
 */
export function createProbeHandler(health: HealthMonitor): (request: NodeRequest, response: NodeResponse) => boolean {
  return (request, response) => {
    const { path } = requestTarget(request);
    if (path !== "/healthz" && path !== "/readyz") {
      return false;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      sendMethodNotAllowed(request, response, path, ["GET", "HEAD"]);
      return true;
    }
    const noStore = { "cache-control": "no-store" };
    if (path === "/healthz") {
      sendJson(request, response, 200, { status: "SERVING" }, noStore);
      return true;
    }
    void health.isReady().then((ready) => {
      sendJson(request, response, ready ? 200 : 503, { status: ready ? "SERVING" : "NOT_SERVING" }, noStore);
    });
    return true;
  };
}
