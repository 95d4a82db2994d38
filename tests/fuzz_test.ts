/**
 * Fuzz (issue 10): bad requests generated from the app's own OpenAPI document, across every
 * documented route and every auth scheme (Bearer JWT, `Token`, Basic, none, broken), plus
 * broken CSV/XLSX uploads to the mapping import, in-process over a real PostgreSQL. No reply
 * may be a 5xx (a 5xx means "our fault, retry"), every /api error is the JSON envelope, and
 * afterwards the app still answers /health and takes a valid submission.
 *
 * Size: DHIS2GW_FUZZ_RUNS requests (default 3,000; `deno task fuzz` runs 30,000) plus one file
 * upload per 20 of them. Seeded: DHIS2GW_FUZZ_SEED replays a run, DHIS2GW_FUZZ_PATH (from
 * fast-check's report) goes straight to the failing case.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { fuzzFile } from "./support/fuzz_files.ts";
import {
  bodyFor,
  type FuzzRequest,
  hostileHeader,
  type Json,
  type Operation,
  operations,
  urlFor,
} from "./support/fuzz_requests.ts";
import { createTestUser } from "./support/app.ts";
import { createTestDb, dbTest } from "./support/pg.ts";
import { body, createSubmissionsApp, type SubmissionsTestApp } from "./support/submissions.ts";

const RUNS = Number(Deno.env.get("DHIS2GW_FUZZ_RUNS") ?? 3_000);
const FILE_RUNS = Math.max(100, Math.round(RUNS / 20));
const SEED = Number(Deno.env.get("DHIS2GW_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const PATH = Deno.env.get("DHIS2GW_FUZZ_PATH") || undefined;

class Tally {
  requests = 0;
  unsendable = 0;
  statuses = new Map<number, number>();
  problems: string[] = [];

  async send(t: SubmissionsTestApp, r: FuzzRequest): Promise<void> {
    let req: Request;
    try {
      req = new Request(`http://localhost${r.url}`, {
        method: r.method,
        headers: r.headers,
        body: r.body as BodyInit | undefined,
      });
    } catch {
      this.unsendable++; // a request no HTTP client could send (e.g. a body on GET)
      return;
    }
    this.requests++;
    const res = await t.app.request(req);
    const text = await res.text();
    this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1);
    const what = `${r.method} ${r.url.slice(0, 200)} → ${res.status}: ${text.slice(0, 300)}`;
    if (res.status >= 500) throw new Error(what);
    if (res.status >= 400 && r.url.startsWith("/api/v2/")) {
      if (!isOldError(text)) this.problems.push(`not the old service's error shape: ${what}`);
    } else if (res.status >= 400 && r.url.startsWith("/api/") && !isEnvelope(text)) {
      this.problems.push(`not the error envelope: ${what}`);
    }
  }

  histogram(): string {
    return [...this.statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}: ${n}`).join(", ");
  }
}

function isEnvelope(text: string): boolean {
  try {
    const e = JSON.parse(text).error;
    return typeof e?.code === "string" && typeof e.message === "string" &&
      typeof e.requestId === "string";
  } catch {
    return false;
  }
}

/** /api/v2's errors: the old service's string, with the envelope's fields beside it. */
function isOldError(text: string): boolean {
  try {
    const e = JSON.parse(text);
    return typeof e.error === "string" && typeof e.code === "string" &&
      typeof e.requestId === "string";
  } catch {
    return false;
  }
}

/**
 * The /api/v2 routes (src/compat/) as operations: each v3 operation the old API also serves,
 * under the old prefix, fuzzed with the v3 route's parameters and bodies.
 */
function v2Operations(ops: Operation[], routes: { method: string; path: string }[]): Operation[] {
  const served = new Set(
    routes.filter((r) => r.method !== "ALL" && r.path.startsWith("/api/v2/"))
      .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`),
  );
  return ops
    .map((o) => ({ ...o, path: o.path.replace(/^\/api\/v3\//, "/api/v2/") }))
    .filter((o) => served.has(`${o.method} ${o.path}`));
}

/** Runs a property; on failure prints the seed and how to replay it. */
async function check<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  run: (v: T) => Promise<void>,
  numRuns: number,
): Promise<void> {
  try {
    await fc.assert(fc.asyncProperty(arb, run), {
      seed: SEED,
      path: PATH,
      numRuns,
      timeout: 30_000, // a request that hangs is a failure too
      interruptAfterTimeLimit: 20 * 60_000,
    });
  } catch (err) {
    console.error(
      `fuzz ${name} failed with seed ${SEED}; replay with\n` +
        `  DHIS2GW_FUZZ_SEED=${SEED} DHIS2GW_FUZZ_RUNS=${RUNS} ` +
        `npx -y deno@2.9.6 task test tests/fuzz_test.ts\n` +
        "(add DHIS2GW_FUZZ_PATH=<path from the report below> to go straight to the case)",
    );
    throw err;
  }
}

dbTest(
  `fuzz: ${RUNS} bad requests from the OpenAPI document and broken mapping files`,
  async () => {
    const db = await createTestDb("fuzz");
    const t = await createSubmissionsApp(db);
    try {
      const started = performance.now();
      // A few rows, so ids 1-3 and the routes that act on them have something to find.
      for (const n of [1, 2, 3]) assert.equal((await t.post(body({ ANC1: n }))).status, 200);
      const doc: Json = await (await t.app.request("/openapi.json")).json();
      const v3ops = operations(doc);
      assert.ok(v3ops.length >= 30, `only ${v3ops.length} operations in the document`);
      const v2ops = v2Operations(v3ops, t.app.routes);
      assert.ok(v2ops.length >= 18, `only ${v2ops.length} /api/v2 operations`);
      const ops = [...v3ops, ...v2ops];

      const { admin, submitter, viewer } = t.users;
      const good = fc.constantFrom<Record<string, string>>(
        admin.headers.bearer,
        admin.headers.token,
        admin.headers.basic,
        submitter.headers.bearer,
        submitter.headers.token,
        submitter.headers.basic,
        viewer.headers.bearer,
        viewer.headers.token,
      );
      const bad = fc.constantFrom<Record<string, string>>(
        {},
        { Authorization: "Bearer e30.e30.x" },
        { Authorization: `Token ${admin.apiToken.slice(0, -2)}xx` },
        // Not the admin's name: its failures would make the login throttle refuse the admin's
        // good Basic credentials too (429) for the rest of the run.
        { Authorization: `Basic ${btoa("nobody:wrong")}` },
        { Authorization: `Basic ${btoa(`${viewer.username}:wrong`)}` },
        { Authorization: "Basic !!!" },
        { Authorization: "Digest realm=x" },
      );
      const auth = fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: bad });
      // Users the fuzzer may disable, reset or delete by uid: never the ones whose credentials
      // it sends, or it would lock itself out.
      const victims = await Promise.all(
        (["viewer", "submitter", "admin"] as const).map((role) => createTestUser(t, role)),
      );
      const known = [
        ...victims.map((v) => v.uid),
        "1",
        "2",
        "00000000-0000-0000-0000-000000000000",
      ];
      const tally = new Tally();

      const request = fc.constantFrom(...ops).chain((o) =>
        fc.record({
          method: fc.oneof(
            { weight: 12, arbitrary: fc.constant(o.method) },
            { weight: 1, arbitrary: fc.constantFrom("PATCH", "PUT", "DELETE", "POST", "OPTIONS") },
          ),
          url: urlFor(doc, o, known),
          auth,
          body: bodyFor(doc, o.op),
          idempotencyKey: fc.option(hostileHeader, { freq: 4 }),
        }).map(({ method, url, auth, body, idempotencyKey }): FuzzRequest => {
          const headers: Record<string, string> = { ...auth };
          if (body.type) headers["Content-Type"] = body.type;
          if (idempotencyKey !== null) headers["Idempotency-Key"] = idempotencyKey;
          // /api/v2 getToken with a Token header rotates it: the run would lock itself out.
          if (/^\/api\/v2\/users\/(getToken|refreshToken)/.test(url)) {
            if (/^Token d2gw_/.test(headers.Authorization ?? "")) delete headers.Authorization;
          }
          const hasBody = !["GET", "HEAD"].includes(method);
          return { method, url, headers, body: hasBody ? body.body : undefined };
        })
      );
      await check("requests", request, (r) => tally.send(t, r), RUNS);

      const template = new Uint8Array(
        await (await t.app.request("/api/v3/mappings/export/excel-template", {
          headers: admin.headers.token,
        })).arrayBuffer(),
      );
      const files = fc.tuple(fuzzFile(template), fc.boolean()).map(([f, old]): FuzzRequest => {
        const form = new FormData();
        form.set(
          "file",
          new File([f.bytes as BlobPart], `m.${f.endpoint === "csv" ? "csv" : "xlsx"}`),
        );
        return {
          method: "POST",
          // Half to the old prefix, which reads the file itself first (src/compat/).
          url: `/api/v${old ? 2 : 3}/mappings/import/${f.endpoint}${f.query ? `?${f.query}` : ""}`,
          headers: admin.headers.token,
          body: form,
        };
      });
      await check("files", files, (r) => tally.send(t, r), FILE_RUNS);

      // Still alive and still working.
      const health = await t.app.request("/health");
      assert.equal(health.status, 200);
      const ok = await t.post(body({ ANC1: 42 }), { as: "admin" });
      assert.equal(ok.status, 200, await ok.clone().text());
      const unhandled = t.logs.filter((l) => l.includes('"unhandled error"'));
      assert.deepEqual(unhandled, []);
      assert.deepEqual(tally.problems.slice(0, 20), []);

      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `fuzz: ${tally.requests} requests (${RUNS} generated + ${FILE_RUNS} files, ` +
          `${tally.unsendable} unsendable skipped) in ${seconds} s, seed ${SEED}; ` +
          `statuses ${tally.histogram()}`,
      );
      assert.ok(tally.requests >= RUNS, `only ${tally.requests} requests were sent`);
    } finally {
      await t.close();
      await db.close();
    }
  },
);
