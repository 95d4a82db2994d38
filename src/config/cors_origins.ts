/**
 * `server.cors_origins` (checked at config load, applied by createApp) as hono's cors() takes it: "*" for any origin (what the old service
 * allowed), exact origins, or undefined when empty (no CORS headers: browsers on other origins
 * are refused). An entry that is not an origin stops the start rather than silently never
 * matching; a path or trailing slash is dropped, as a browser's Origin header has none.
 */
export function corsOrigins(raw: string): "*" | string[] | undefined {
  const entries = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) return undefined;
  if (entries.includes("*")) return "*";
  return entries.map((entry) => {
    let origin = "null";
    try {
      origin = new URL(entry).origin;
    } catch { /* reported below */ }
    if (origin === "null") {
      throw new Error(
        `server.cors_origins (env DHIS2GW_CORS_ORIGINS): "${entry}" is not an origin ` +
          `such as https://dashboard.example.org`,
      );
    }
    return origin;
  });
}
