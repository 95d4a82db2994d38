import assert from "node:assert/strict";
import { loadConfig, redactedView, secretValues } from "./config.ts";
import { parseWindow, windowState } from "./delivery_window.ts";
import { routeFor } from "./destinations.ts";
import { sampleConfigYaml } from "./sample.ts";

const files: Record<string, string> = { "/run/secrets/prog_pat": "d2p_programme_token\n" };
const readFile = (path: string) => {
  if (path in files) return files[path];
  throw new Deno.errors.NotFound(path);
};

Deno.test("api.* keys alone describe the destination `default`, unchanged", () => {
  const r = loadConfig({
    env: {
      DHIS2GW_DHIS2_BASE_URL: "https://hmis.example.org",
      DHIS2GW_DHIS2_USER: "gw",
      DHIS2GW_DHIS2_PASSWORD: "s3cret-pass",
      DHIS2GW_DHIS2_VERSION: "2.40",
      DHIS2GW_DHIS2_TIMEOUT: "30",
    },
  });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(Object.keys(r.config!.destinations), ["default"]);
  const d = r.config!.destinations.default;
  assert.equal(d.base_url, "https://hmis.example.org");
  assert.equal(d.user, "gw");
  assert.equal(d.password, "s3cret-pass");
  assert.equal(d.version, "2.40");
  assert.equal(d.timeout, 30);
  assert.equal(d.instance_name, "default");
  assert.equal(d.max_concurrent, 8);
  assert.deepEqual(d.breaker, { failure_threshold: 5, cooldown_min: 30, cooldown_max: 300 });
  assert.deepEqual(r.config!.sources, {});
});

Deno.test("named destinations: secrets from env and files, copies, sources, limits", () => {
  const fileText = `
api:
  dhis2_base_url: https://hmis.example.org
destinations:
  default:
    copies: [staging]
    max_concurrent: 4
    window: "18:00-06:00"
    breaker: { cooldown_min: 5, cooldown_max: 60 }
  programme:
    base_url: https://prog.example.org
    auth_method: pat
    pat_file: /run/secrets/prog_pat
    version: "2.41"
    rate_limit: 2.5
  staging:
    base_url: http://127.0.0.1:8080
    user: admin
    password_env: STAGING_PW
    instance_name: default
sources:
  tb_app: { destination: programme, copies: [staging] }
`;
  const r = loadConfig({ fileText, env: { STAGING_PW: "staging-pw" }, readFile });
  assert.deepEqual(r.problems, []);
  const c = r.config!;
  assert.deepEqual(Object.keys(c.destinations), ["default", "programme", "staging"]);
  assert.equal(c.destinations.default.base_url, "https://hmis.example.org");
  assert.equal(c.destinations.default.max_concurrent, 4);
  assert.equal(c.destinations.default.window, "18:00-06:00");
  assert.deepEqual(c.destinations.default.breaker, {
    failure_threshold: 5,
    cooldown_min: 5,
    cooldown_max: 60,
  });
  assert.equal(c.destinations.programme.pat, "d2p_programme_token");
  assert.equal(c.destinations.programme.auth_method, "pat");
  assert.equal(c.destinations.programme.rate_limit, 2.5);
  assert.equal(c.destinations.programme.instance_name, "programme");
  // Another destination does not inherit api.*: its own block or the defaults.
  assert.equal(c.destinations.programme.user, "");
  assert.equal(c.destinations.staging.password, "staging-pw");
  assert.equal(c.destinations.staging.instance_name, "default");
  assert.deepEqual(routeFor(c, "tb_app"), ["programme", "staging"]);
  assert.deepEqual(routeFor(c, "anyone"), ["default", "staging"]);
  // Secrets are scrubbed from logs and redacted in `config check`.
  assert.ok(secretValues(c).includes("d2p_programme_token"));
  assert.ok(secretValues(c).includes("staging-pw"));
  const view = JSON.stringify(redactedView(c));
  assert.equal(view.includes("d2p_programme_token"), false);
  assert.equal(view.includes("staging-pw"), false);
  assert.match(view, /"pat":"REDACTED"/);
});

Deno.test("destination problems are all reported, naming the key, never a secret", () => {
  const fileText = `
destinations:
  default:
    copies: [nowhere]
  prog:
    user: x
    password: pw-one
    password_env: ALSO
    window: "25:00-06:00"
    max_concurrent: 0
    colour: blue
    breaker: { cooldown_min: 60, cooldown_max: 10 }
  cert:
    base_url: ftp://x
    pat_file: /nope
    pat_env: MISSING_PAT
  staging:
    base_url: http://127.0.0.1:1
    pat_env: MISSING_PAT
sources:
  app: { destination: ghost }
`;
  const r = loadConfig({ fileText, filePath: "gw.yml", env: {}, readFile });
  assert.equal(r.config, undefined);
  assert.deepEqual(r.problems, [
    'gw.yml: destinations.prog: unknown key "colour"',
    "gw.yml: destinations.prog.window: must be HH:MM-HH:MM (e.g. 18:00-06:00), two different times",
    "gw.yml: destinations.prog.breaker.cooldown_max: must be >= cooldown_min",
    "gw.yml: destinations.prog: set only one of password, password_env",
    "gw.yml: destinations.prog.max_concurrent: must be a whole number from 1 to 1000",
    "gw.yml: destinations.cert.base_url: must be an http(s) URL",
    "gw.yml: destinations.cert: set only one of pat_env, pat_file",
    "gw.yml: destinations.staging.pat_env: env MISSING_PAT is not set",
    'gw.yml: destinations.default.copies: no destination "nowhere"',
    'gw.yml: sources.app.destination: no destination "ghost"',
  ]);
  assert.equal(r.problems.join("\n").includes("pw-one"), false);
});

Deno.test("a secret file that cannot be read is named by its path", () => {
  const r = loadConfig({
    fileText: "destinations:\n  p:\n    base_url: http://127.0.0.1:9\n    pat_file: /nope\n",
    env: {},
    readFile,
  });
  assert.deepEqual(r.problems, [
    "config file: destinations.p.pat_file: cannot read /nope (NotFound)",
  ]);
});

Deno.test("delivery window: inside, outside, across midnight, in the destination's zone", () => {
  const w = parseWindow("18:00-06:00")!;
  assert.deepEqual(w, { start: 1080, end: 360 });
  assert.equal(parseWindow("06:00-06:00"), null);
  assert.equal(parseWindow("6pm-6am"), null);
  const at = (iso: string) => windowState(w, new Date(iso), "Africa/Kampala"); // UTC+3
  assert.deepEqual(at("2026-06-01T12:00:00Z"), {
    open: false,
    nextChangeAt: new Date("2026-06-01T15:00:00Z"),
  });
  assert.deepEqual(at("2026-06-01T15:00:00Z"), {
    open: true,
    nextChangeAt: new Date("2026-06-02T03:00:00Z"),
  });
  assert.deepEqual(at("2026-06-01T23:30:00Z"), {
    open: true,
    nextChangeAt: new Date("2026-06-02T03:00:00Z"),
  });
  assert.equal(at("2026-06-02T03:00:00Z").open, false);
  const day = parseWindow("08:30-17:00")!;
  assert.equal(windowState(day, new Date("2026-06-01T08:29:00Z"), "UTC").open, false);
  assert.equal(windowState(day, new Date("2026-06-01T08:30:00Z"), "UTC").open, true);
  assert.deepEqual(windowState(null, new Date(), "UTC"), { open: true, nextChangeAt: null });
});

Deno.test("the sample config's commented destinations example loads when uncommented", () => {
  const sample = sampleConfigYaml();
  const from = sample.indexOf("# destinations:");
  const example = sample.slice(from).split("\n")
    .filter((l) => /^# (destinations:|sources:| {2})/.test(l))
    .map((l) => l.slice(2)).join("\n");
  const r = loadConfig({
    fileText: `api:\n  dhis2_base_url: https://hmis.example.org\n${example}\n`,
    env: { STAGING_DHIS2_PASSWORD: "pw" },
    readFile: () => "d2p_token",
  });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(Object.keys(r.config!.destinations), ["default", "programme", "staging"]);
  assert.deepEqual(routeFor(r.config!, "tb_app"), ["programme", "staging"]);
});
