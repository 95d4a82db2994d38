import { createRequire } from "node:module";
import { swaggerUI } from "@hono/swagger-ui";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { VERSION } from "../version.ts";
import type { AppEnv } from "./env.ts";
import { AppError, ErrorSchema } from "./errors.ts";
import { REQUEST_EXAMPLES } from "./request_examples.ts";

/** Paths the app serves that are not API operations, so they are not in the OpenAPI document. */
export const UNDOCUMENTED_PREFIXES = [
  "/openapi.json",
  "/swagger",
  "/admin",
  // The old service's API and paths (src/compat/): a translation layer, documented in the README.
  "/api/v2",
  "/mappings/export/excel-template",
  "/logs-viewer",
];

// swagger-ui-dist ships inside the npm package: no CDN, works offline and in a compiled binary.
const SWAGGER_FILES: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};
const swaggerDir = () => {
  const require = createRequire(import.meta.url);
  return require.resolve("swagger-ui-dist/package.json").replace(/package\.json$/, "");
};
const assetCache = new Map<string, Uint8Array>();

type Responses = Record<string, { content?: unknown }>;

/**
 * Every 4xx/5xx is the envelope, so an error response a route declares with a description only
 * gets the "Error" schema here, once, instead of in every route file.
 */
function withErrorEnvelope<D extends { paths?: unknown }>(doc: D): D {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, { responses?: Responses }>>;
  for (const item of Object.values(paths)) {
    for (const op of Object.values(item)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (Number(status) >= 400 && !response.content) {
          response.content = {
            "application/json": { schema: { $ref: "#/components/schemas/Error" } },
          };
        }
      }
    }
  }
  return doc;
}

type Media = Record<string, { example?: unknown; examples?: unknown }>;

/** A JSON request body without an example of its own gets request_examples.ts's. */
function withRequestExamples<D extends { paths?: unknown }>(doc: D): D {
  const paths = (doc.paths ?? {}) as Record<
    string,
    Record<string, { requestBody?: { content?: Media } }>
  >;
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      const media = op.requestBody?.content?.["application/json"];
      const example = REQUEST_EXAMPLES[`${method.toUpperCase()} ${path}`];
      if (media && media.example === undefined && !media.examples && example !== undefined) {
        media.example = example;
      }
    }
  }
  return doc;
}

export function openApiDocument(app: OpenAPIHono<AppEnv>) {
  return withRequestExamples(withErrorEnvelope(app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "dhis2gw",
      version: VERSION,
      description:
        "Gateway from third-party systems to DHIS2. Every error is `{ error: { code, message, details?, requestId } }`.",
    },
    servers: [{ url: "/" }],
  })));
}

/**
 * Registers the security schemes and the error envelope, `/openapi.json` and Swagger UI at
 * `/swagger/`.
 */
export function mountDocs(app: OpenAPIHono<AppEnv>): void {
  const registry = app.openAPIRegistry;
  registry.register("Error", ErrorSchema);
  registry.registerComponent("securitySchemes", "Bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "Access token from POST /api/v3/users/getToken",
  });
  registry.registerComponent("securitySchemes", "Token", {
    type: "apiKey",
    in: "header",
    name: "Authorization",
    description: "API token for machine clients, pasted as it was shown (`d2gw_…`): the " +
      "`Token ` word in front (the old service's scheme) is optional",
  });
  registry.registerComponent("securitySchemes", "Basic", { type: "http", scheme: "basic" });

  let cached: unknown;
  app.get("/openapi.json", (c) => {
    cached ??= openApiDocument(app);
    return c.json(cached);
  });
  const ui = swaggerUI({
    url: "/openapi.json",
    baseUrl: "/swagger/assets",
    title: "dhis2gw API",
    persistAuthorization: false,
  });
  app.get("/swagger", (c) => c.redirect("/swagger/"));
  app.get("/swagger/", ui);
  app.get("/swagger/index.html", ui);
  app.get("/swagger/assets/swagger-ui-dist/:file", async (c) => {
    const file = c.req.param("file");
    const type = SWAGGER_FILES[file];
    if (!type) throw new AppError("not_found", `no such asset ${file}`);
    let body = assetCache.get(file);
    if (!body) {
      body = await Deno.readFile(swaggerDir() + file);
      assetCache.set(file, body);
    }
    c.header("Content-Type", type);
    c.header("Cache-Control", "public, max-age=86400");
    return c.body(body as Uint8Array<ArrayBuffer>);
  });
}
