/**
 * Strict schema validation of Kubernetes objects, offline, as kubeconform's strict mode does:
 * a wrong type, a missing required field or an unknown (misspelt) field is an error, even where
 * the schema leaves additional properties open.
 *
 * - Core, Flux, Istio, cert-manager and prometheus-operator kinds: the validators that
 *   `kubernetes-models` and `@kubernetes-models/*` compiled from the upstream schemas. They
 *   check types but ignore unknown fields, so the object is walked through proxies that record
 *   which fields the validator looked at: a validator reads every property its schema defines
 *   (present or not) and enumerates the keys of maps (labels) and closed objects, so a key it
 *   never read is a field the schema doesn't have. An object it neither read nor enumerated is
 *   free-form in the schema (`x-kubernetes-preserve-unknown-fields`) and is left alone.
 * - CloudNativePG kinds: the CRDs' openAPIV3Schema compiled with ajv, with
 *   `additionalProperties: false` added wherever a schema lists properties and does not say
 *   otherwise, and the `x-kubernetes-*` keywords taught to ajv.
 */
import { Ajv, type ValidateFunction } from "ajv";
import { ObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import * as coreV1 from "kubernetes-models/v1";
import * as appsV1 from "kubernetes-models/apps/v1";
import * as policyV1 from "kubernetes-models/policy/v1";
import * as autoscalingV2 from "kubernetes-models/autoscaling/v2";
import * as networkingV1 from "kubernetes-models/networking.k8s.io/v1";
import * as fluxSourceV1 from "@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1";
import * as fluxKustomizeV1 from "@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1";
import * as istioNetworkingV1 from "@kubernetes-models/istio/networking.istio.io/v1";
import * as istioSecurityV1 from "@kubernetes-models/istio/security.istio.io/v1";
import * as certManagerV1 from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import * as monitoringV1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { parseAllDocuments } from "yaml";

// deno-lint-ignore no-explicit-any
export type K8sObject = Record<string, any>;
type Validates = { prototype: { validate(): void } };

const MODELS: Record<string, Record<string, unknown>> = {
  "v1": coreV1,
  "apps/v1": appsV1,
  "policy/v1": policyV1,
  "autoscaling/v2": autoscalingV2,
  "networking.k8s.io/v1": networkingV1,
  "source.toolkit.fluxcd.io/v1": fluxSourceV1,
  "kustomize.toolkit.fluxcd.io/v1": fluxKustomizeV1,
  "networking.istio.io/v1": istioNetworkingV1,
  "security.istio.io/v1": istioSecurityV1,
  "cert-manager.io/v1": certManagerV1,
  "monitoring.coreos.com/v1": monitoringV1,
};

interface Seen {
  path: string;
  target: Record<string, unknown>;
  read: Set<string>;
  enumerated: boolean;
}

/** A deep copy in which every object records the keys read from it and whether it was listed. */
function track(value: unknown, path: string, seen: Seen[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => track(v, `${path}/${i}`, seen));
  if (value === null || typeof value !== "object") return value;
  const target: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) target[k] = track(v, `${path}/${k}`, seen);
  const s: Seen = { path, target, read: new Set(), enumerated: false };
  seen.push(s);
  return new Proxy(target, {
    get(t, p, r) {
      if (typeof p === "string") s.read.add(p);
      return Reflect.get(t, p, r);
    },
    has(t, p) {
      if (typeof p === "string") s.read.add(p);
      return Reflect.has(t, p);
    },
    ownKeys(t) {
      s.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

/** Runs a model's compiled validator strictly; the problems, each naming its field. */
function validateModel(model: Validates, obj: unknown, prefix = ""): string[] {
  const seen: Seen[] = [];
  const tracked = track(obj, prefix, seen);
  try {
    model.prototype.validate.call(tracked);
  } catch (e) {
    return [(e as Error).message.replaceAll("data/", `${prefix}/`).replace(/^data /, "/ ")];
  }
  const problems: string[] = [];
  for (const s of seen) {
    if (s.enumerated || s.read.size === 0) continue;
    for (const key of Object.keys(s.target)) {
      if (!s.read.has(key)) problems.push(`${s.path}/${key}: unknown field "${key}"`);
    }
  }
  return problems;
}

// ---- CRDs with ajv -------------------------------------------------------------------------

/** kubeconform's strict mode: an object schema with properties admits no others. */
function closeObjects(schema: K8sObject): K8sObject {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== "object") return schema;
  const out: K8sObject = {};
  for (const [k, v] of Object.entries(schema)) {
    // `properties` and `default`/`example` hold names and values, not schemas to close.
    out[k] = k === "properties"
      ? Object.fromEntries(Object.entries(v as K8sObject).map(([p, s]) => [p, closeObjects(s)]))
      : k === "default" || k === "example" || k === "enum"
      ? v
      : closeObjects(v);
  }
  if (
    out.properties && out.additionalProperties === undefined &&
    out["x-kubernetes-preserve-unknown-fields"] !== true
  ) out.additionalProperties = false;
  return out;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  ajv.addFormat("int32", {
    type: "number",
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat("byte", /^[A-Za-z0-9+/]*={0,2}$/);
  ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
  ajv.addKeyword({
    keyword: "x-kubernetes-int-or-string",
    schemaType: "boolean",
    validate: (on: boolean, data: unknown) =>
      !on || typeof data === "string" || Number.isInteger(data),
  });
  ajv.addKeyword({
    // A "set" holds no item twice; a "map" no two items with the same keys.
    keyword: "x-kubernetes-list-type",
    schemaType: "string",
    validate: function (kind: string, data: unknown, parent?: K8sObject) {
      if (!Array.isArray(data) || kind === "atomic") return true;
      const keys: string[] = parent?.["x-kubernetes-list-map-keys"] ?? [];
      const ids = data.map((item) =>
        JSON.stringify(kind === "map" ? keys.map((k) => item?.[k]) : item)
      );
      return new Set(ids).size === ids.length;
    },
  });
  for (const keyword of ["x-kubernetes-list-map-keys", "x-kubernetes-map-type"]) {
    ajv.addKeyword({ keyword });
  }
  // Annotations for ajv's purposes: CEL rules need an API server; the rest is structure that
  // closeObjects() already read.
  for (
    const keyword of [
      "x-kubernetes-validations",
      "x-kubernetes-preserve-unknown-fields",
      "x-kubernetes-embedded-resource",
    ]
  ) ajv.addKeyword({ keyword });
  return ajv;
}

/** Each served version's schema of every CRD in these files, by "group/version/Kind". */
export async function loadCrdSchemas(files: string[]): Promise<Map<string, K8sObject>> {
  const out = new Map<string, K8sObject>();
  for (const file of files) {
    for (const doc of parseAllDocuments(await Deno.readTextFile(file))) {
      const crd = doc.toJS() as K8sObject;
      if (crd?.kind !== "CustomResourceDefinition") continue;
      for (const v of crd.spec.versions ?? []) {
        if (v.served) {
          out.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, v.schema.openAPIV3Schema);
        }
      }
    }
  }
  return out;
}

/**
 * The Barman Cloud plugin's ObjectStore has no CRD among the references: its
 * `spec.configuration` is the same type as the Cluster's in-tree `spec.backup.barmanObjectStore`
 * (the plugin's documentation says so), and its retention policy the Cluster's, so both are
 * taken from the Cluster's CRD. The plugin's own CRD, once added to the references, wins.
 */
export function objectStoreSchema(cluster: K8sObject): K8sObject {
  const backup = cluster.properties.spec.properties.backup.properties;
  return {
    type: "object",
    required: ["apiVersion", "kind", "metadata", "spec"],
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec: {
        type: "object",
        required: ["configuration"],
        properties: {
          configuration: backup.barmanObjectStore,
          retentionPolicy: backup.retentionPolicy,
          instanceSidecarConfiguration: {
            type: "object",
            "x-kubernetes-preserve-unknown-fields": true,
          },
        },
      },
      status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
    },
  };
}

export class SchemaValidator {
  #ajv = newAjv();
  #compiled = new Map<string, ValidateFunction>();

  constructor(private crds: Map<string, K8sObject>) {
    const cluster = crds.get("postgresql.cnpg.io/v1/Cluster");
    if (cluster && !crds.has("barmancloud.cnpg.io/v1/ObjectStore")) {
      crds.set("barmancloud.cnpg.io/v1/ObjectStore", objectStoreSchema(cluster));
    }
  }

  /** Every problem with one object; empty when it is valid. */
  validate(obj: K8sObject): string[] {
    const id = `${obj?.apiVersion}/${obj?.kind}`;
    const model = MODELS[obj?.apiVersion]?.[obj?.kind] as
      | (Validates & { kind?: string })
      | undefined;
    if (model && model.kind === obj.kind) return validateModel(model, obj);
    const schema = this.crds.get(obj?.apiVersion?.includes("/") ? id : `core/${id}`);
    if (!schema) return [`no schema for ${id}`];
    let fn = this.#compiled.get(id);
    if (!fn) this.#compiled.set(id, fn = this.#ajv.compile(closeObjects(schema)));
    const problems = fn(obj)
      ? []
      : (fn.errors ?? []).map((e) =>
        `${e.instancePath || "/"} ${e.message}${
          e.params && "additionalProperty" in e.params
            ? `: unknown field "${e.params.additionalProperty}"`
            : ""
        }`
      );
    // The CRD says only `type: object` for metadata; ObjectMeta says the rest.
    return [...problems, ...validateModel(ObjectMeta as Validates, obj.metadata, "/metadata")];
  }
}
