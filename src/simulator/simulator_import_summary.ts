/**
 * Import options, conflicts and the summary reply of the simulated `POST /api/dataValueSets`
 * (reference §3.2–§3.4).
 */
import { json, webMessage } from "./simulator_web.ts";

export type Strategy = "CREATE_AND_UPDATE" | "CREATE" | "UPDATE" | "DELETE";
export type Obj = Record<string, unknown>;

/** The four names, then the legacy ones that still parse (§3.2). */
export const STRATEGIES: Record<string, Strategy> = {
  CREATE_AND_UPDATE: "CREATE_AND_UPDATE",
  CREATE: "CREATE",
  UPDATE: "UPDATE",
  DELETE: "DELETE",
  NEW_AND_UPDATES: "CREATE_AND_UPDATE",
  NEW: "CREATE",
  UPDATES: "UPDATE",
  DELETES: "DELETE",
};

export const SCHEME_KEYS = [
  "idScheme",
  "dataElementIdScheme",
  "orgUnitIdScheme",
  "categoryOptionComboIdScheme",
  "dataSetIdScheme",
] as const;
export type SchemeKey = typeof SCHEME_KEYS[number];

export interface ImportOptions {
  strategy: Strategy;
  dryRun: boolean;
  schemes: Partial<Record<SchemeKey, string>>;
}

export interface Conflict {
  object: string;
  objects?: Record<string, string>;
  value: string;
  errorCode?: string;
  property?: string;
  indexes?: number[];
}

export interface ImportCount {
  imported: number;
  updated: number;
  ignored: number;
  deleted: number;
}

export interface Summary {
  responseType: "ImportSummary";
  status: "SUCCESS" | "WARNING" | "ERROR";
  importOptions: Obj;
  description: string;
  importCount: ImportCount;
  conflicts: Conflict[];
  rejectedIndexes: number[];
  dataSetComplete: string;
}

export const isObj = (v: unknown): v is Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Jackson as DHIS2 configures it: `""` → null, numbers and booleans → their text (§2, §3.1). */
export function text(v: unknown): string | null {
  if (v === "" || v === null || v === undefined || typeof v === "object") return null;
  return String(v);
}

/** Query parameters, or the 400 DHIS2 gives for a value it cannot bind (§3.6). */
export function parseQuery(query: URLSearchParams): ImportOptions | Response {
  const options: ImportOptions = { strategy: "CREATE_AND_UPDATE", dryRun: false, schemes: {} };
  for (const name of ["importStrategy", "strategy"]) {
    const raw = query.get(name);
    if (raw === null) continue;
    const strategy = STRATEGIES[raw.toUpperCase()];
    if (!strategy) return badParameter(raw, name, Object.keys(STRATEGIES));
    options.strategy = strategy;
  }
  const dryRun = query.get("dryRun");
  if (dryRun !== null) {
    if (!/^(true|false)$/i.test(dryRun)) return badParameter(dryRun, "dryRun", ["true", "false"]);
    options.dryRun = dryRun.toLowerCase() === "true";
  }
  for (const key of SCHEME_KEYS) {
    const scheme = query.get(key);
    if (scheme) options.schemes[key] = scheme;
  }
  return options;
}

function badParameter(value: string, name: string, valid: string[]): Response {
  const message = `Value '${value}' is not valid for parameter ${name}. ` +
    `Valid values are: [${valid.join(", ")}]`;
  return webMessage(400, "ERROR", message);
}

/** Header-level options in the body win over the query string (§3.1). */
export function applyBodyOptions(options: ImportOptions, body: Obj): void {
  for (const key of SCHEME_KEYS) {
    const scheme = text(body[key]);
    if (scheme) options.schemes[key] = scheme;
  }
  if (typeof body.dryRun === "boolean") options.dryRun = body.dryRun;
  const strategy = STRATEGIES[text(body.strategy)?.toUpperCase() ?? ""];
  if (strategy) options.strategy = strategy;
}

/** The scheme for one kind of object: the specific one beats the generic `idScheme`. */
export function schemeOf(options: ImportOptions, key: SchemeKey): string {
  return (options.schemes[key] ?? options.schemes.idScheme ?? "UID").toUpperCase();
}

/** `objects` keys are schema names; `object` is the first of them (§3.3). */
export function conflict(
  errorCode: string,
  objects: Record<string, string>,
  message: string,
  property: string,
  index?: number,
): Conflict {
  const c: Conflict = {
    object: Object.values(objects)[0],
    objects,
    value: message,
    errorCode,
    property,
  };
  if (index !== undefined) c.indexes = [index];
  return c;
}

/** Same error code and same referenced objects → one conflict listing every index (§3.3). */
export function addConflict(list: Conflict[], c: Conflict): void {
  const key = JSON.stringify(c.objects);
  const same = list.find((x) => x.errorCode === c.errorCode && JSON.stringify(x.objects) === key);
  if (same) same.indexes = [...(same.indexes ?? []), ...(c.indexes ?? [])];
  else list.push(c);
}

export function summary(
  o: ImportOptions,
  status: Summary["status"],
  description: string,
): Summary {
  const idSchemes: Obj = {};
  for (const key of SCHEME_KEYS) {
    if (o.schemes[key]) idSchemes[key] = { type: o.schemes[key]!.toUpperCase() };
  }
  const off = Object.fromEntries(
    [
      "skipExistingCheck",
      "sharing",
      "skipNotifications",
      "skipAudit",
      "datasetAllowsPeriods",
      "strictPeriods",
      "strictDataElements",
      "strictCategoryOptionCombos",
      "strictAttributeOptionCombos",
      "strictOrganisationUnits",
      "strictDataSetApproval",
      "strictDataSetLocking",
      "strictDataSetInputPeriods",
      "requireCategoryOptionCombo",
      "requireAttributeOptionCombo",
      "skipPatternValidation",
      "ignoreEmptyCollection",
      "force",
    ].map((k) => [k, false]),
  );
  return {
    responseType: "ImportSummary",
    status,
    importOptions: {
      idSchemes,
      dryRun: o.dryRun,
      preheatCache: false,
      async: false,
      importStrategy: o.strategy,
      mergeMode: "REPLACE",
      reportMode: "FULL",
      ...off,
      firstRowIsHeader: true,
      skipLastUpdated: false,
      mergeDataValues: false,
      skipCache: false,
    },
    description,
    importCount: { imported: 0, updated: 0, ignored: 0, deleted: 0 },
    conflicts: [],
    rejectedIndexes: [],
    dataSetComplete: "false",
  };
}

/**
 * §3.4: SUCCESS → 200 `OK`; WARNING and ERROR → 409 on 2.38–2.42 (2.43 would answer WARNING
 * with 200); a bare summary with HTTP 200 on `/api/37/…` and lower before 2.42.
 */
export function reply(s: Summary, plainResponse: boolean): Response {
  if (plainResponse) return json(s);
  if (s.status === "SUCCESS") {
    return webMessage(200, "OK", "Import was successful.", { response: s });
  }
  if (s.status === "WARNING") {
    const message = "One more conflicts encountered, please check import summary."; // sic
    return webMessage(409, "WARNING", message, { response: s });
  }
  return webMessage(409, "ERROR", "An error occurred, please check import summary.", {
    response: s,
  });
}
