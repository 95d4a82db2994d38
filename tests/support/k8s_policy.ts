/**
 * Policy over rendered manifests: what a schema cannot say. Each check returns its problems,
 * each naming the object, so the tests can show one bad fixture failing one check.
 */
import { parse as parseYaml } from "yaml";
import type { K8sObject } from "./k8s_schemas.ts";

type Problems = string[];
const id = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;

/** Pods and the objects they come from. */
export function workloads(objects: K8sObject[]): Array<{ owner: K8sObject; pod: K8sObject }> {
  return objects.filter((o) => o.spec?.template?.spec?.containers)
    .map((owner) => ({ owner, pod: owner.spec.template.spec }));
}

function containers(pod: K8sObject): K8sObject[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** Pinned images: a tag other than latest, or a digest. */
export function imageProblems(objects: K8sObject[]): Problems {
  const images: Array<[string, string]> = [];
  for (const { owner, pod } of workloads(objects)) {
    for (const c of containers(pod)) images.push([`${id(owner)} ${c.name}`, c.image ?? ""]);
  }
  for (const o of objects.filter((o) => o.kind === "Cluster" && o.spec?.imageName)) {
    images.push([id(o), o.spec.imageName]);
  }
  return images.flatMap(([where, image]) => {
    if (/@sha256:[0-9a-f]{64}$/.test(image)) return [];
    const tag = /:([^:/]+)$/.exec(image)?.[1];
    return !tag || tag === "latest" ? [`${where}: image "${image}" is not pinned to a tag`] : [];
  });
}

/** Resources, probes and the restricted security context, container by container. */
export function containerProblems(objects: K8sObject[]): Problems {
  const out: Problems = [];
  for (const { owner, pod } of workloads(objects)) {
    const psc = pod.securityContext ?? {};
    for (const c of containers(pod)) {
      const at = `${id(owner)} ${c.name}`;
      const sc = c.securityContext ?? {};
      const r = c.resources ?? {};
      if (!r.requests?.cpu || !r.requests?.memory || !r.limits?.memory) {
        out.push(`${at}: resources need requests.cpu, requests.memory and limits.memory`);
      }
      // "serve --worker-only" listens on no port: nothing to probe (README "Kubernetes").
      if (!(c.args ?? []).includes("--worker-only")) {
        for (const p of ["startupProbe", "livenessProbe", "readinessProbe"]) {
          if (!c[p]?.httpGet?.path) out.push(`${at}: no ${p} with an HTTP path`);
        }
      }
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) out.push(`${at}: may run as root`);
      if (sc.allowPrivilegeEscalation !== false) {
        out.push(`${at}: allowPrivilegeEscalation is not false`);
      }
      if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: root file system is writable`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) out.push(`${at}: capabilities kept`);
      if ((sc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") {
        out.push(`${at}: seccompProfile is not RuntimeDefault`);
      }
    }
    if (pod.automountServiceAccountToken !== false) {
      out.push(`${id(owner)}: the service account token is mounted`);
    }
  }
  return out;
}

/** The gateway's config file as the pod reads it (the ConfigMap mounted at --config). */
export function gatewayConfig(objects: K8sObject[], pod: K8sObject): K8sObject {
  const c = pod.containers[0];
  const path = c.args[c.args.indexOf("--config") + 1] as string;
  const mount = c.volumeMounts.find((m: K8sObject) => path.startsWith(`${m.mountPath}/`));
  const volume = pod.volumes.find((v: K8sObject) => v.name === mount?.name);
  const cm = objects.find((o) =>
    o.kind === "ConfigMap" && o.metadata.name === volume?.configMap?.name
  );
  const text = cm?.data?.[path.slice(mount.mountPath.length + 1)];
  if (typeof text !== "string") throw new Error(`no ConfigMap holds ${path}`);
  return parseYaml(text) ?? {};
}

/** Nothing the gateway writes lands on the read-only root: its data folder and /tmp are volumes. */
export function writableProblems(objects: K8sObject[]): Problems {
  return workloads(objects).flatMap(({ owner, pod }) => {
    const dataDir = gatewayConfig(objects, pod).server?.data_dir;
    const mounts = (pod.containers[0].volumeMounts ?? []).map((m: K8sObject) => m.mountPath);
    return [dataDir, "/tmp"].filter((p) => !mounts.includes(p))
      .map((p) => `${id(owner)}: ${p} is not a writable volume`);
  });
}

const SECRET_ENV = [
  "DHIS2GW_DB",
  "DHIS2GW_DHIS2_PASSWORD",
  "DHIS2GW_DHIS2_PAT",
  "DHIS2GW_JWT_SECRET",
  "DHIS2GW_ADMIN_PASSWORD",
  "DHIS2GW_METRICS_TOKEN",
];
const SECRET_KEYS = [
  ["database", "uri"],
  ["api", "dhis2_password"],
  ["api", "dhis2_pat"],
  ["auth", "jwt_secret"],
  ["auth", "admin_password"],
];

/** Secrets only by reference: no Secret object with data, no literal secret env or config. */
export function secretProblems(objects: K8sObject[]): Problems {
  const out: Problems = [];
  for (const o of objects.filter((o) => o.kind === "Secret")) {
    if (o.data || o.stringData) out.push(`${id(o)}: literal secret data in a manifest`);
  }
  for (const { owner, pod } of workloads(objects)) {
    for (const c of containers(pod)) {
      for (const e of c.env ?? []) {
        if (SECRET_ENV.includes(e.name) && e.value !== undefined) {
          out.push(`${id(owner)} ${c.name}: ${e.name} is written in the manifest`);
        }
      }
    }
    const cfg = gatewayConfig(objects, pod);
    for (const [section, key] of SECRET_KEYS) {
      if (cfg[section]?.[key]) out.push(`${id(owner)}: ${section}.${key} is in the ConfigMap`);
    }
  }
  return out;
}

/** preStop pause + the gateway's drain fit in the grace period. */
/** Some Service's selector matches the labels of the workload's pods. */
function behindService(objects: K8sObject[], owner: K8sObject): boolean {
  const labels: Record<string, string> = owner.spec.template.metadata?.labels ?? {};
  return objects.some((o) =>
    o.kind === "Service" && o.spec?.selector &&
    Object.entries(o.spec.selector as Record<string, string>).every(([k, v]) => labels[k] === v)
  );
}

export function shutdownProblems(objects: K8sObject[]): Problems {
  return workloads(objects).flatMap(({ owner, pod }) => {
    const c = pod.containers[0];
    const env = Object.fromEntries((c.env ?? []).map((e: K8sObject) => [e.name, e.value]));
    const drain = Number(
      env.DHIS2GW_SHUTDOWN_GRACE ?? gatewayConfig(objects, pod).server?.shutdown_grace ?? 10,
    );
    const pause = Number(c.lifecycle?.preStop?.sleep?.seconds ?? 0);
    const args: string[] = c.args ?? [];
    // Today (src/cli/gateway.ts) the HTTP drain and the worker's drain run one after the other,
    // each up to shutdown_grace; then the pool closes (up to 5 s).
    const phases = (args.includes("--worker-only") || args.includes("--no-worker")) ? 1 : 2;
    const needed = pause + phases * drain + 5;
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    const out: Problems = [];
    if (!(grace > pause + drain)) {
      out.push(`${id(owner)}: grace ${grace} s <= preStop ${pause} s + shutdown_grace ${drain} s`);
    }
    if (grace < needed) {
      out.push(`${id(owner)}: grace ${grace} s < the ${needed} s a stop can take`);
    }
    // Only a Service's endpoints need the pause; a port scraped directly (the worker's metrics,
    // by its PodMonitor) has none to leave.
    if (c.ports?.length && pause < 5 && behindService(objects, owner)) {
      out.push(`${id(owner)}: no preStop pause for endpoints to drop the pod`);
    }
    return out;
  });
}

/** Several gateways: replicas >= 2, or an HPA with minReplicas >= 2 owns the count. */
export function replicaProblems(objects: K8sObject[]): Problems {
  return objects.filter((o) => o.kind === "Deployment").flatMap((d) => {
    const hpa = objects.find((o) =>
      o.kind === "HorizontalPodAutoscaler" && o.spec.scaleTargetRef.name === d.metadata.name
    );
    const n = d.spec.replicas ?? hpa?.spec.minReplicas ?? 1;
    return n >= 2 ? [] : [`${id(d)}: ${n} replica(s)`];
  });
}

/**
 * Backups that can run: a 6-field schedule (seconds first), owned by the ScheduledBackup, and a
 * target that exists (the Cluster's Barman Cloud plugin naming an ObjectStore in the output).
 */
export function backupProblems(objects: K8sObject[]): Problems {
  const out: Problems = [];
  for (const b of objects.filter((o) => o.kind === "ScheduledBackup")) {
    const fields = String(b.spec.schedule).trim().split(/\s+/);
    if (fields.length !== 6) {
      out.push(`${id(b)}: schedule "${b.spec.schedule}" has ${fields.length} fields, not 6`);
    } else if (!/^\d+$/.test(fields[0])) {
      out.push(`${id(b)}: schedule's seconds field "${fields[0]}" runs more than once a minute`);
    }
    if (b.spec.backupOwnerReference !== "self") out.push(`${id(b)}: backupOwnerReference`);
    const cluster = objects.find((o) =>
      o.kind === "Cluster" && o.metadata.name === b.spec.cluster.name
    );
    const plugin = cluster?.spec.plugins?.find((p: K8sObject) =>
      p.name === b.spec.pluginConfiguration?.name
    );
    const store = objects.find((o) =>
      o.kind === "ObjectStore" && o.metadata.name === plugin?.parameters?.barmanObjectName
    );
    if (b.spec.method !== "plugin" || !plugin?.isWALArchiver || !store) {
      out.push(`${id(b)}: no backup target (plugin with an ObjectStore) on its Cluster`);
    }
  }
  return out;
}

/** Every HTTP probe path of every container, for comparing with the OpenAPI document. */
export function probePaths(objects: K8sObject[]): string[] {
  const paths = new Set<string>();
  for (const { pod } of workloads(objects)) {
    for (const c of containers(pod)) {
      for (const p of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        if (c[p]?.httpGet?.path) paths.add(c[p].httpGet.path);
      }
    }
  }
  return [...paths].sort();
}

export function allProblems(objects: K8sObject[]): Problems {
  return [
    ...imageProblems(objects),
    ...containerProblems(objects),
    ...writableProblems(objects),
    ...secretProblems(objects),
    ...shutdownProblems(objects),
    ...replicaProblems(objects),
    ...backupProblems(objects),
  ];
}
