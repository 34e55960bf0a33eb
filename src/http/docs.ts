import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { requestTarget, sendMethodNotAllowed, type NodeRequest, type NodeResponse } from "./respond.ts";

/** The OpenAPI document that `npm run generate` writes from the proto. */
export const openApiFile = fileURLToPath(new URL("../../openapi/openapi.json", import.meta.url));

// Swagger UI files served under /docs/, from the swagger-ui-dist package.
const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const swaggerUiAssets: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

const docsPage = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>PlateService API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/start.js"></script>
  </body>
</html>
`;

// validatorUrl null keeps Swagger UI from sending the document to its
// public validator, so the page loads nothing from another host.
const startScript = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
`;

// Swagger UI sets inline styles, so style-src allows them; everything else
// must come from this server.
const pageSecurityPolicy =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'";

interface StaticFile {
  contentType: string;
  read(): Buffer;
  headers?: Record<string, string>;
}

/**
 * Creates the handler of GET /openapi.json, the interactive page GET /docs
 * and its assets under /docs/. Files are read on first use and kept.
 */
export function createDocsHandler(): (request: NodeRequest, response: NodeResponse) => boolean {
  const files = new Map<string, StaticFile>([
    ["/openapi.json", { contentType: "application/json; charset=utf-8", read: () => readFileSync(openApiFile) }],
    [
      "/docs",
      {
        contentType: "text/html; charset=utf-8",
        read: () => Buffer.from(docsPage, "utf8"),
        headers: { "content-security-policy": pageSecurityPolicy },
      },
    ],
    ["/docs/start.js", { contentType: "text/javascript; charset=utf-8", read: () => Buffer.from(startScript, "utf8") }],
  ]);
  for (const [name, contentType] of Object.entries(swaggerUiAssets)) {
    files.set(`/docs/${name}`, { contentType, read: () => readFileSync(path.join(swaggerUiDir, name)) });
  }
  const cache = new Map<string, Buffer>();

  return (request, response) => {
    const { path: requestPath } = requestTarget(request);
    const name = requestPath === "/docs/" ? "/docs" : requestPath;
    const file = files.get(name);
    if (file === undefined) {
      return false;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      sendMethodNotAllowed(request, response, requestPath, ["GET", "HEAD"]);
      return true;
    }
    let body = cache.get(name);
    if (body === undefined) {
      body = file.read();
      cache.set(name, body);
    }
    response.writeHead(200, {
      ...file.headers,
      "content-type": file.contentType,
      "content-length": String(body.length),
      "cache-control": "no-cache",
    });
    response.end(request.method === "HEAD" ? undefined : body);
    return true;
  };
}
