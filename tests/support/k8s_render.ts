/**
 * The Kubernetes manifests as a cluster would receive them: `kubectl kustomize` of each folder
 * under packaging/k8s/, and the Flux objects (which Flux itself applies, so they are read as
 * written). What the tests need from outside the repository is found here, and its absence is a
 * failure under CI=true, a skip (with the reason) elsewhere.
 */
import { parseAllDocuments } from "yaml";
import type { K8sObject } from "./k8s_schemas.ts";

export const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const K8S_DIR = `${REPO}/packaging/k8s`;

/** Every folder with a kustomization.yaml; the overlays are the ones a site applies. */
export const KUSTOMIZE_DIRS = [
  "base",
  "database",
  "istio",
  "istio/certificate",
  "monitoring",
  "overlays/production",
  "overlays/minimal",
  "overlays/split-worker",
];
export const OVERLAYS = KUSTOMIZE_DIRS.filter((d) => d.startsWith("overlays/"));
export const FLUX_FILES = ["flux/sync.yaml"];

const IN_CI = Deno.env.get("CI") === "true";

/** `kubectl` (or $KUBECTL) when it runs, else why not. */
async function findKubectl(): Promise<{ bin?: string; why?: string }> {
  const bin = Deno.env.get("KUBECTL") ?? "kubectl";
  try {
    const out = await new Deno.Command(bin, { args: ["version", "--client"], stdout: "null" })
      .output();
    return out.success ? { bin } : { why: `${bin} version --client failed` };
  } catch {
    return { why: `${bin} not found (install kubectl, or set KUBECTL)` };
  }
}

/**
 * CloudNativePG's CRDs, from shared/ beside the checkout (as CI lays it out) or, for a work tree
 * elsewhere on this machine, /work/shared.
 */
async function findCnpgCrds(): Promise<{ dir?: string; why?: string }> {
  for (const dir of [`${REPO}/../shared/reference/crds/cnpg`, "/work/shared/reference/crds/cnpg"]) {
    try {
      await Deno.stat(`${dir}/postgresql.cnpg.io_clusters.yaml`);
      return { dir };
    } catch { /* try the next */ }
  }
  return { why: `no CloudNativePG CRDs in ${REPO}/../shared/reference/crds/cnpg` };
}

export const KUBECTL = await findKubectl();
export const CNPG_CRDS = await findCnpgCrds();

/** Deno.test that needs kubectl (and, with `crds`, the CRDs): fails in CI without them. */
export function k8sTest(
  name: string,
  opts: { crds?: boolean },
  fn: () => Promise<void> | void,
): void {
  const why = KUBECTL.why ?? (opts.crds ? CNPG_CRDS.why : undefined);
  Deno.test({
    name: why && !IN_CI ? `${name} (skipped: ${why})` : name,
    ignore: !!why && !IN_CI,
    fn: why ? () => Promise.reject(new Error(why)) : fn,
  });
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => d.toJS()).filter((o) => o);
}

/** `kubectl kustomize packaging/k8s/<dir>`, parsed. */
export async function render(dir: string): Promise<K8sObject[]> {
  if (!KUBECTL.bin) throw new Error(KUBECTL.why);
  const out = await new Deno.Command(KUBECTL.bin, {
    args: ["kustomize", `${K8S_DIR}/${dir}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`kubectl kustomize ${dir}: ${dec.decode(out.stderr)}`);
  return parseObjects(dec.decode(out.stdout));
}

export async function readFlux(): Promise<K8sObject[]> {
  const all: K8sObject[] = [];
  for (const f of FLUX_FILES) all.push(...parseObjects(await Deno.readTextFile(`${K8S_DIR}/${f}`)));
  return all;
}

export function cnpgCrdFiles(): string[] {
  if (!CNPG_CRDS.dir) throw new Error(CNPG_CRDS.why);
  return [...Deno.readDirSync(CNPG_CRDS.dir)]
    .filter((e) => e.name.endsWith(".yaml"))
    .map((e) => `${CNPG_CRDS.dir}/${e.name}`);
}

export function findObject(objects: K8sObject[], kind: string, name: string): K8sObject {
  // A generated ConfigMap's name ends in its content's hash.
  const hashed = new RegExp(`^${name}-[a-z0-9]{10}$`);
  const o = objects.find((x) =>
    x.kind === kind && (x.metadata?.name === name || hashed.test(x.metadata?.name ?? ""))
  );
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
}
