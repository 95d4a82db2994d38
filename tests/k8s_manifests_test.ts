/**
 * packaging/k8s/ without a cluster: every folder renders with `kubectl kustomize`, every object
 * validates strictly against its schema, and the policy holds (tests/support/k8s_policy.ts).
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { createTestApp } from "./support/app.ts";
import {
  allProblems,
  backupProblems,
  containerProblems,
  imageProblems,
  probePaths,
  replicaProblems,
  secretProblems,
  shutdownProblems,
  writableProblems,
} from "./support/k8s_policy.ts";
import {
  cnpgCrdFiles,
  findObject,
  k8sTest,
  KUBECTL,
  KUSTOMIZE_DIRS,
  OVERLAYS,
  readFlux,
  render,
} from "./support/k8s_render.ts";
import { type K8sObject, loadCrdSchemas, SchemaValidator } from "./support/k8s_schemas.ts";
import { createTestDb, PG_SKIP_REASON, PG_URL } from "./support/pg.ts";

const kinds = (objects: K8sObject[]) => objects.map((o) => o.kind).sort();
const clone = <T>(v: T): T => structuredClone(v);

k8sTest(
  "kubectl kustomize renders every folder; the overlays hold what they promise",
  {},
  async () => {
    for (const dir of KUSTOMIZE_DIRS) assert.ok((await render(dir)).length > 0, dir);
    assert.deepEqual(kinds(await render("overlays/production")), [
      "AuthorizationPolicy",
      "Certificate",
      "Cluster",
      "ConfigMap",
      "Deployment",
      "HorizontalPodAutoscaler",
      "NetworkPolicy",
      "NetworkPolicy",
      "ObjectStore",
      "PeerAuthentication",
      "PeerAuthentication",
      "PodDisruptionBudget",
      "PrometheusRule",
      "ScheduledBackup",
      "Service",
      "ServiceAccount",
      "ServiceEntry",
      "ServiceMonitor",
      "VirtualService",
    ]);
    assert.deepEqual(kinds(await render("overlays/minimal")), [
      "ConfigMap",
      "Deployment",
      "Service",
      "ServiceAccount",
    ]);
    const split = await render("overlays/split-worker");
    const args = split.filter((o) => o.kind === "Deployment")
      .map((d) => [d.metadata.name, d.spec.template.spec.containers[0].args.slice(0, 2)]);
    assert.deepEqual(args, [["dhis2gw", ["serve", "--no-worker"]], [
      "dhis2gw-worker",
      ["serve", "--worker-only"],
    ]]);
  },
);

async function validator(): Promise<SchemaValidator> {
  return new SchemaValidator(await loadCrdSchemas(cnpgCrdFiles()));
}

k8sTest(
  "every rendered object and every Flux object validates strictly",
  { crds: true },
  async () => {
    const v = await validator();
    const objects = [...await readFlux()];
    for (const dir of KUSTOMIZE_DIRS) objects.push(...await render(dir));
    const problems = objects.flatMap((o) =>
      v.validate(o).map((p) => `${o.kind}/${o.metadata?.name}: ${p}`)
    );
    assert.deepEqual(problems, []);
    // Every group the manifests use was checked by a schema, none waved through.
    assert.deepEqual([...new Set(objects.map((o) => o.apiVersion.split("/")[0]))].sort(), [
      "apps",
      "autoscaling",
      "barmancloud.cnpg.io",
      "cert-manager.io",
      "kustomize.toolkit.fluxcd.io",
      "monitoring.coreos.com",
      "networking.istio.io",
      "networking.k8s.io",
      "policy",
      "postgresql.cnpg.io",
      "security.istio.io",
      "source.toolkit.fluxcd.io",
      "v1",
    ]);
  },
);

k8sTest("a wrong type and a misspelt field each fail validation, in every family", {
  crds: true,
}, async () => {
  const v = await validator();
  const prod = [...await render("overlays/production"), ...await readFlux()];
  const bad = (kind: string, name: string, change: (o: K8sObject) => void) => {
    const o = clone(findObject(prod, kind, name));
    assert.deepEqual(v.validate(o), [], `${kind} is valid before the change`);
    change(o);
    return v.validate(o);
  };
  // Core kinds (kubernetes-models).
  assert.deepEqual(bad("Deployment", "dhis2gw", (d) => d.spec.replicas = "2"), [
    "/spec/replicas must be integer",
  ]);
  assert.deepEqual(
    bad("Deployment", "dhis2gw", (d) => {
      const c = d.spec.template.spec.containers[0];
      c.readinessProbe.periodSecond = c.readinessProbe.periodSeconds;
      delete c.readinessProbe.periodSeconds;
    }),
    [
      '/spec/template/spec/containers/0/readinessProbe/periodSecond: unknown field "periodSecond"',
    ],
  );
  assert.deepEqual(bad("Service", "dhis2gw", (s) => s.spec.port = s.spec.ports), [
    '/spec/port: unknown field "port"',
  ]);
  // CRD models (@kubernetes-models/*).
  assert.deepEqual(bad("VirtualService", "dhis2gw", (s) => s.spec.hosts = "dhis2gw.example.org"), [
    "/spec/hosts must be array",
  ]);
  assert.deepEqual(bad("Kustomization", "dhis2gw", (k) => k.spec.purne = true), [
    '/spec/purne: unknown field "purne"',
  ]);
  assert.deepEqual(bad("Certificate", "dhis2gw", (c) => c.spec.dnsName = c.spec.dnsNames), [
    '/spec/dnsName: unknown field "dnsName"',
  ]);
  // CloudNativePG (ajv over the CRDs), and metadata everywhere.
  assert.deepEqual(bad("Cluster", "dhis2gw-db", (c) => c.spec.instances = "3"), [
    "/spec/instances must be integer",
  ]);
  assert.deepEqual(bad("Cluster", "dhis2gw-db", (c) => c.spec.enablePdb = true), [
    '/spec must NOT have additional properties: unknown field "enablePdb"',
  ]);
  assert.deepEqual(
    bad("ScheduledBackup", "dhis2gw-db-daily", (b) => b.spec.backupOwnerReference = "me"),
    [
      "/spec/backupOwnerReference must be equal to one of the allowed values",
    ],
  );
  assert.deepEqual(
    bad("ObjectStore", "dhis2gw-backups", (s) => s.spec.configuration.destinationpath = "s3://x/"),
    ['/spec/configuration must NOT have additional properties: unknown field "destinationpath"'],
  );
  assert.deepEqual(bad("Cluster", "dhis2gw-db", (c) => c.metadata.label = {}), [
    '/metadata/label: unknown field "label"',
  ]);
  assert.deepEqual(v.validate({ apiVersion: "example.org/v1", kind: "Thing", metadata: {} }), [
    "no schema for example.org/v1/Thing",
  ]);
});

k8sTest("the policy holds for every overlay", {}, async () => {
  for (const dir of OVERLAYS) assert.deepEqual(allProblems(await render(dir)), [], dir);
});

k8sTest("each policy check fails on a fixture that breaks it", {}, async () => {
  const prod = await render("overlays/production");
  const broken = (kind: string, name: string, change: (o: K8sObject) => void) => {
    const all = clone(prod);
    change(findObject(all, kind, name));
    return all;
  };
  const dep = (change: (c: K8sObject, pod: K8sObject) => void) =>
    broken(
      "Deployment",
      "dhis2gw",
      (d) => change(d.spec.template.spec.containers[0], d.spec.template.spec),
    );
  assert.deepEqual(imageProblems(dep((c) => c.image = "ghcr.io/dhis2gw/dhis2gw:latest")), [
    'Deployment/dhis2gw dhis2gw: image "ghcr.io/dhis2gw/dhis2gw:latest" is not pinned to a tag',
  ]);
  assert.deepEqual(
    imageProblems(broken("Cluster", "dhis2gw-db", (c) => c.spec.imageName = "localhost:5000/pg")),
    [
      'Cluster/dhis2gw-db: image "localhost:5000/pg" is not pinned to a tag',
    ],
  );
  assert.deepEqual(containerProblems(dep((c) => delete c.resources.limits)), [
    "Deployment/dhis2gw dhis2gw: resources need requests.cpu, requests.memory and limits.memory",
  ]);
  assert.deepEqual(containerProblems(dep((c) => delete c.startupProbe)), [
    "Deployment/dhis2gw dhis2gw: no startupProbe with an HTTP path",
  ]);
  assert.deepEqual(
    containerProblems(dep((c) => {
      c.securityContext.readOnlyRootFilesystem = false;
      c.securityContext.capabilities.drop = ["NET_RAW"];
    })),
    [
      "Deployment/dhis2gw dhis2gw: root file system is writable",
      "Deployment/dhis2gw dhis2gw: capabilities kept",
    ],
  );
  assert.deepEqual(writableProblems(dep((c) => c.volumeMounts = c.volumeMounts.slice(0, 2))), [
    "Deployment/dhis2gw: /tmp is not a writable volume",
  ]);
  const withSecret = [...clone(prod), {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "dhis2gw" },
    stringData: { "dhis2-password": "district" },
  }];
  assert.deepEqual(secretProblems(withSecret), [
    "Secret/dhis2gw: literal secret data in a manifest",
  ]);
  assert.deepEqual(
    secretProblems(dep((c) => c.env[0] = { name: "DHIS2GW_DB", value: "postgres://u:p@db/x" })),
    ["Deployment/dhis2gw dhis2gw: DHIS2GW_DB is written in the manifest"],
  );
  assert.deepEqual(shutdownProblems(dep((_c, pod) => pod.terminationGracePeriodSeconds = 30)), [
    "Deployment/dhis2gw: grace 30 s <= preStop 10 s + shutdown_grace 20 s",
    "Deployment/dhis2gw: grace 30 s < the 55 s a stop can take",
  ]);
  assert.deepEqual(shutdownProblems(dep((c) => delete c.lifecycle)), [
    "Deployment/dhis2gw: no preStop pause for endpoints to drop the pod",
  ]);
  assert.deepEqual(
    replicaProblems(broken("HorizontalPodAutoscaler", "dhis2gw", (h) => h.spec.minReplicas = 1)),
    ["Deployment/dhis2gw: 1 replica(s)"],
  );
  assert.deepEqual(
    backupProblems(
      broken("ScheduledBackup", "dhis2gw-db-daily", (b) => b.spec.schedule = "0 2 * * *"),
    ),
    ['ScheduledBackup/dhis2gw-db-daily: schedule "0 2 * * *" has 5 fields, not 6'],
  );
  assert.deepEqual(
    backupProblems(broken("Cluster", "dhis2gw-db", (c) => delete c.spec.plugins)),
    ["ScheduledBackup/dhis2gw-db-daily: no backup target (plugin with an ObjectStore) on its Cluster"],
  );
});

k8sTest(
  "production: mesh, database, Flux and secrets are wired as the issue asks",
  {},
  async () => {
    const prod = await render("overlays/production");
    const flux = await readFlux();
    const dep = findObject(prod, "Deployment", "dhis2gw");
    const pod = dep.spec.template;
    const proxy = JSON.parse(pod.metadata.annotations["proxy.istio.io/config"]);
    assert.equal(proxy.holdApplicationUntilProxyStarts, true);
    assert.equal(pod.metadata.annotations["sidecar.istio.io/nativeSidecar"], "true");
    // The certificate is where the Gateway named by the VirtualService looks for it.
    const vs = findObject(prod, "VirtualService", "dhis2gw");
    const cert = findObject(prod, "Certificate", "dhis2gw");
    assert.equal(cert.metadata.namespace, vs.spec.gateways[0].split("/")[0]);
    assert.deepEqual(cert.spec.dnsNames, vs.spec.hosts);
    const strict = prod.filter((o) => o.kind === "PeerAuthentication" && !o.spec.selector);
    assert.deepEqual(strict.map((p) => [p.metadata.namespace, p.spec.mtls.mode]), [[
      "dhis2",
      "STRICT",
    ]]);
    // The database URI: CloudNativePG's app Secret of the Cluster in the output.
    const cluster = findObject(prod, "Cluster", "dhis2gw-db");
    const db = pod.spec.containers[0].env.find((e: K8sObject) => e.name === "DHIS2GW_DB");
    assert.deepEqual(db.valueFrom.secretKeyRef, {
      name: `${cluster.metadata.name}-app`,
      key: "uri",
    });
    assert.equal(cluster.spec.instances, 3);
    assert.match(cluster.spec.imageName, /postgresql:16\.\d+$/);
    assert.equal(cluster.spec.enablePDB, true);
    // Egress: DNS, the CNPG pods, istiod's 15012.
    const egressPorts = prod.filter((o) => o.kind === "NetworkPolicy")
      .flatMap((n) => n.spec.egress ?? []).flatMap((e: K8sObject) =>
        e.ports.map((p: K8sObject) => p.port)
      );
    assert.deepEqual([...new Set(egressPorts)].sort(), [15012, 53, 5432, 8080]);
    const ks = findObject(flux, "Kustomization", "dhis2gw");
    assert.equal(ks.spec.prune, true);
    assert.equal(ks.spec.wait, true);
    assert.equal(ks.spec.healthChecks, undefined);
    assert.ok(ks.spec.dependsOn.some((d: K8sObject) => d.name === "cnpg"));
    assert.equal(ks.spec.path, "./packaging/k8s/overlays/production");
  },
);

k8sTest("the gateway accepts the ConfigMap's file as its config, with no problem", {}, async () => {
  for (const dir of OVERLAYS) {
    const objects = await render(dir);
    const cm = findObject(objects, "ConfigMap", "dhis2gw-config");
    const result = loadConfig({ fileText: cm.data["dhis2gw.yml"], env: {} });
    assert.deepEqual([result.problems, result.notes], [[], []], dir);
  }
});

// Needs both PostgreSQL (the app's document) and kubectl: skipped without either, outside CI.
const probeSkip = PG_URL
  ? (KUBECTL.why && Deno.env.get("CI") !== "true" ? KUBECTL.why : undefined)
  : PG_SKIP_REASON;
Deno.test({
  name: `every probe path is a GET route of the gateway's OpenAPI document${
    probeSkip ? ` (skipped: ${probeSkip})` : ""
  }`,
  ignore: !!probeSkip,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const db = await createTestDb("k8s_probes");
    const { app, close } = await createTestApp(db);
    try {
      const doc = await (await app.request("/openapi.json")).json();
      const paths = new Set<string>();
      for (const dir of OVERLAYS) for (const p of probePaths(await render(dir))) paths.add(p);
      assert.deepEqual([...paths].sort(), ["/health", "/ready"]);
      for (const p of paths) assert.ok(doc.paths[p]?.get, `${p} is not in /openapi.json`);
    } finally {
      await close();
      await db.close();
    }
  },
});

k8sTest(
  "split-worker: the worker pods' metrics port is scraped, by Prometheus only",
  {},
  async () => {
    const split = await render("overlays/split-worker");
    const worker =
      findObject(split, "Deployment", "dhis2gw-worker").spec.template.spec.containers[0];
    const env = Object.fromEntries(worker.env.map((e: K8sObject) => [e.name, e]));
    const port = Number(env.DHIS2GW_METRICS_PORT.value);
    assert.deepEqual(worker.ports, [{
      name: "http-metrics",
      containerPort: port,
      protocol: "TCP",
    }]);
    assert.deepEqual(env.DHIS2GW_METRICS_TOKEN.valueFrom.secretKeyRef, {
      name: "dhis2gw",
      key: "metrics-token",
      optional: true,
    });
    const pm = findObject(split, "PodMonitor", "dhis2gw-worker");
    const sm = findObject(split, "ServiceMonitor", "dhis2gw");
    assert.equal(pm.spec.podMetricsEndpoints[0].port, "http-metrics");
    assert.deepEqual(
      pm.spec.podMetricsEndpoints[0].authorization,
      sm.spec.endpoints[0].authorization,
    );
    const np = findObject(split, "NetworkPolicy", "dhis2gw-worker-metrics");
    assert.deepEqual(np.spec.ingress.map((i: K8sObject) => i.ports[0].port), [port]);
    const ap = findObject(split, "AuthorizationPolicy", "dhis2gw-worker");
    assert.deepEqual(ap.spec.rules[0].to[0].operation.ports, [String(port)]);
  },
);
