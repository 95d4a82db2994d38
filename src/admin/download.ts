/**
 * `/admin/f/download/<path>`: a file from `GET /api/v3/<path>` for the signed-in user (the
 * console's script holds no API credential to fetch it itself). Only exports are passed on.
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/env.ts";
import { AppError } from "../http/errors.ts";
import type { FragmentContext } from "./context.ts";

const EXPORTS = [
  /^mappings\/export\/(csv|excel|excel-template)$/,
  /^logs\/export\/csv$/,
  /^audit\/export\.csv$/,
];

export function downloadRoutes(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>().get("/*", async (c) => {
    const path = c.req.path.replace(/^.*?\/admin\/f\/download\//, "");
    if (!EXPORTS.some((re) => re.test(path))) {
      throw new AppError("not_found", `no download ${path}`);
    }
    // The page's filters, with a name or code typed for a UID turned into the UID, as the
    // list itself does (metadata_names.ts).
    const q = new URL(c.req.url).searchParams;
    for (const key of ["orgUnit", "dataSet", "dataElement"] as const) {
      const typed = q.get(key);
      if (!typed) continue;
      q.set(
        key,
        key === "dataElement"
          ? ctx.names.resolveCached(key, typed)
          : await ctx.names.resolve(key, typed),
      );
    }
    const search = q.size ? `?${q}` : "";
    const res = await ctx.api(c).raw("GET", `/${path}${search}`);
    const headers = new Headers();
    for (const h of ["content-type", "content-disposition", "x-request-id"]) {
      const v = res.headers.get(h);
      if (v) headers.set(h, v);
    }
    return new Response(res.body, { status: res.status, headers });
  });
}
