import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { BatonError } from "@baton/engine";
import { Hono } from "hono";
import type { AppEnv } from "./env.ts";

/**
 * The interactive API reference at /docs, served entirely by Baton: Swagger UI's script and styles
 * come from the installed `swagger-ui-dist` package, so the page works on a machine with no internet
 * access. The page names no other origin, and its Content-Security-Policy forbids loading from one.
 */

/** The files the page loads, by the name it uses for each; nothing else under /docs/assets is served. */
const ASSETS: Record<string, { file: string; type: string } | { text: string; type: string }> = {
  "swagger-ui.css": { file: "swagger-ui.css", type: "text/css; charset=utf-8" },
  "swagger-ui-bundle.js": { file: "swagger-ui-bundle.js", type: "text/javascript; charset=utf-8" },
  "favicon-32x32.png": { file: "favicon-32x32.png", type: "image/png" },
  // Kept out of the page itself so the CSP can forbid inline scripts. No validator badge: it would
  // send the document to a public validator.
  "docs-init.js": {
    type: "text/javascript; charset=utf-8",
    text:
      'window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true,\n' +
      "  persistAuthorization: false, tryItOutEnabled: false, presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout' });\n",
  },
};

/** Every asset path the page references, for the auth middleware's public list (the page itself is not public). */
export const DOCS_ASSET_PATHS: readonly string[] = Object.keys(ASSETS).map((name) => `/docs/assets/${name}`);

export const DOCS_CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Baton API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<p style="font-family: sans-serif; margin: 0.5rem 1rem"><a href="/ui">Baton console</a> · <a href="/openapi.json">openapi.json</a></p>
<div id="swagger-ui"><noscript>The API reference needs JavaScript; the document itself is <a href="/openapi.json">/openapi.json</a>.</noscript></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs-init.js"></script>
</body>
</html>
`;

const packageDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
/** Read from the package once, on first request (about 2 MB in all). */
const loaded = new Map<string, Promise<Uint8Array>>();

function assetBytes(name: string): Promise<Uint8Array> | undefined {
  const asset = ASSETS[name];
  if (!asset) return undefined;
  let bytes = loaded.get(name);
  if (!bytes) {
    bytes = "text" in asset ? Promise.resolve(new TextEncoder().encode(asset.text)) : readFile(join(packageDir, asset.file));
    bytes.catch(() => loaded.delete(name));
    loaded.set(name, bytes);
  }
  return bytes;
}

/** GET /docs and its assets. */
export function docsRoutes() {
  const router = new Hono<AppEnv>();
  router.get("/docs", (c) => c.html(PAGE, 200, { "content-security-policy": DOCS_CONTENT_SECURITY_POLICY }));
  router.get("/docs/assets/:name", async (c) => {
    const name = c.req.param("name");
    const bytes = await assetBytes(name);
    const asset = ASSETS[name];
    if (!bytes || !asset) throw new BatonError("NOT_FOUND", `No docs asset '${name}'`, { known: Object.keys(ASSETS) });
    return c.body(new Uint8Array(await bytes), 200, { "content-type": asset.type, "cache-control": "public, max-age=3600" });
  });
  return router;
}
