/**
 * `POST /api/dataValueSets` as DHIS2 2.38–2.42 run it synchronously (reference §3): data-set
 * level aborts, per-value checks in DHIS2's order (first failure wins), and counting against
 * a store keyed by DHIS2's natural key (§3.5).
 */
import { type ParsedPeriod, parsePeriod } from "../dhis2/periods.ts";
import { simulatedPeriod } from "./simulator_periods.ts";
import { send } from "./simulator_import_versions.ts";
import type { SimUser } from "./simulator_auth.ts";
import {
  addConflict,
  applyBodyOptions,
  type Conflict,
  conflict,
  type ImportOptions,
  isObj,
  type Obj,
  parseQuery,
  schemeOf,
  summary,
  text,
} from "./simulator_import_summary.ts";
import {
  DEFAULT_COC,
  orgUnitPath,
  type SimCategoryOptionCombo,
  type SimDataElement,
  type SimDataSet,
  type SimMetadata,
  type SimOrgUnit,
} from "./simulator_metadata.ts";
import { checkValueType, isZero, MAX_TEXT_LENGTH } from "./simulator_value_types.ts";
import { type Dhis2Version, FULL_VERSION, minor } from "./simulator_web.ts";

export interface StoredDataValue {
  dataElement: string;
  /** The period as first sent; the store key uses its interval, so `2024-01` = `202401`. */
  period: string;
  orgUnit: string;
  categoryOptionCombo: string;
  attributeOptionCombo: string;
  value: string | null;
  comment: string | null;
  followup: boolean;
  storedBy: string;
  /** Deletes are soft (§3.5). */
  deleted: boolean;
  created: string;
  lastUpdated: string;
}

export type DataValueStore = Map<string, StoredDataValue>;

export interface ImportContext {
  version: Dhis2Version;
  /** The full release (`2.40.0`); default: the version's late patch. */
  release?: string;
  metadata: SimMetadata;
  store: DataValueStore;
  user: SimUser;
  /** `/api/37/…` and lower on 2.38–2.41: bare summary, always HTTP 200 (§3.4). */
  plainResponse: boolean;
  now: Date;
}

type Finder<T> = (key: string) => T | undefined;

interface Lookups {
  de: Finder<SimDataElement>;
  ou: Finder<SimOrgUnit>;
  /** Attribute option combos too: they resolve with the category-option-combo scheme (§3.2). */
  coc: Finder<SimCategoryOptionCombo>;
  defaultCoc: SimCategoryOptionCombo | undefined;
  period: Finder<ParsedPeriod | null>;
  /** The org unit is inside the user's hierarchy. */
  inHierarchy: (ouId: string) => boolean;
}

/**
 * Remembers each key's answer for one import: the metadata does not change during it, and a
 * batched import of 10,000 values repeats a few dozen keys (a list scan per value made the
 * simulator itself, not its cost model, the slowest part of the delivery benchmark).
 */
function memo<T>(f: (key: string) => T): (key: string) => T {
  const seen = new Map<string, T>();
  return (key) => {
    const known = seen.get(key);
    if (known !== undefined || seen.has(key)) return known as T;
    const v = f(key);
    seen.set(key, v);
    return v;
  };
}

interface Header {
  period: string | null;
  orgUnit: string | null;
  attributeOptionCombo: string | null;
}

interface ValidValue {
  de: SimDataElement;
  periodKey: string;
  period: ParsedPeriod;
  ou: SimOrgUnit;
  coc: SimCategoryOptionCombo;
  aoc: SimCategoryOptionCombo;
  value: string | null;
  comment: string | null;
}

/** `parsed`: rawBody already parsed, when the caller has (an object; anything else is parsed). */
export function importDataValueSets(
  rawBody: string,
  query: URLSearchParams,
  ctx: ImportContext,
  parsed?: unknown,
): Response {
  const options = parseQuery(query);
  if (options instanceof Response) return options;
  const fail = (why: string) =>
    send(summary(options, "ERROR", `The import process failed: ${why}`), ctx);

  if (rawBody.trim() === "") return fail("No content to map due to end-of-input");
  let body: unknown = parsed;
  if (!isObj(body)) {
    try {
      body = JSON.parse(rawBody);
    } catch (err) {
      return fail(`JSON parse error: ${(err as Error).message}`);
    }
  }
  if (!isObj(body)) {
    const kind = Array.isArray(body) ? "Array" : typeof body;
    return fail(`Cannot deserialize value of type \`DataValueSet\` from ${kind} value`);
  }
  applyBodyOptions(options, body);
  const today = ctx.now.toISOString().slice(0, 10);
  const completion = completionDate(body.completeDate, today);
  if (completion instanceof Error) return fail(completion.message);
  const values = body.dataValues ?? [];
  if (!Array.isArray(values)) return fail("Cannot deserialize `dataValues` from a non-array value");

  const md = ctx.metadata;
  const roots = ctx.user.organisationUnits ??
    md.organisationUnits.filter((o) => !o.parent).map((o) => o.id);
  const lookups: Lookups = {
    de: memo(finder(md.dataElements, schemeOf(options, "dataElementIdScheme"))),
    ou: memo(finder(md.organisationUnits, schemeOf(options, "orgUnitIdScheme"))),
    coc: memo(finder(md.categoryOptionCombos, schemeOf(options, "categoryOptionComboIdScheme"))),
    defaultCoc: md.categoryOptionCombos.find((c) => c.id === DEFAULT_COC),
    period: memo((key) => simulatedPeriod(key, ctx.release ?? FULL_VERSION[ctx.version])),
    inHierarchy: memo((ouId) => {
      const path = orgUnitPath(md, ouId).path.split("/");
      return roots.some((root) => path.includes(root));
    }),
  };
  const header: Header = {
    period: text(body.period),
    orgUnit: text(body.orgUnit),
    attributeOptionCombo: text(body.attributeOptionCombo),
  };
  const dataSetKey = text(body.dataSet);
  const dataSet = dataSetKey
    ? finder(md.dataSets, schemeOf(options, "dataSetIdScheme"))(dataSetKey)
    : undefined;
  const aborted = checkDataSetLevel(dataSetKey, dataSet, header, lookups);
  if (aborted) {
    const s = summary(options, "ERROR", "Import process was aborted");
    s.conflicts = [aborted];
    return send(s, ctx);
  }

  const result = summary(options, "SUCCESS", "Import process completed successfully");
  const counts = result.importCount;
  const stamp = ctx.now.toISOString();
  values.forEach((raw: unknown, index: number) => {
    const v = isObj(raw) ? raw : {};
    const reject = (c?: Conflict) => {
      counts.ignored++;
      result.rejectedIndexes.push(index);
      if (c) addConflict(result.conflicts, { ...c, indexes: [index] });
    };
    const checked = validateValue(v, header, lookups, options, ctx);
    if (!("de" in checked)) return reject(checked);
    const { de, period, ou, coc, aoc, value, comment } = checked;

    const key = `${de.id}|${period.type}:${period.start}|${ou.id}|${coc.id}|${aoc.id}`;
    const existing = ctx.store.get(key);
    const live = existing !== undefined && !existing.deleted;
    const write = (row: Partial<StoredDataValue>) => {
      if (options.dryRun) return;
      if (existing) {
        ctx.store.set(key, { ...existing, ...row, lastUpdated: stamp });
        return;
      }
      ctx.store.set(key, {
        dataElement: de.id,
        period: checked.periodKey,
        orgUnit: ou.id,
        categoryOptionCombo: coc.id,
        attributeOptionCombo: aoc.id,
        value: row.value ?? null,
        comment: row.comment ?? null,
        followup: row.followup ?? false,
        storedBy: row.storedBy ?? ctx.user.username,
        deleted: row.deleted ?? false,
        created: stamp,
        lastUpdated: stamp,
      });
    };
    const softDelete = () => {
      counts.deleted++;
      write({ deleted: true });
    };

    // Counting rules of §3.5, in the order that makes each row of its table hold.
    if (options.strategy === "DELETE") return live ? softDelete() : reject();
    if (live && options.strategy === "CREATE") return reject();
    const zeroSkip = isZero(de.valueType, value) && !de.zeroIsSignificant &&
      !de.aggregationType?.startsWith("AVERAGE");
    if (v.deleted === true || zeroSkip) {
      if (live) return softDelete();
      // A new zero leaves no trace in the final counts (§3.5, inferred there).
      if (!zeroSkip) counts.ignored++;
      return;
    }
    const followup = v.followup === true;
    const storedBy = text(v.storedBy) ?? ctx.user.username;
    if (live) {
      // Unchanged → ignored, as from 2.38.6/2.39.5/2.40.3 (§3.5); the simulator is a late patch.
      const same = existing.value === value && existing.comment === comment &&
        existing.followup === followup;
      if (same) counts.ignored++;
      else {
        counts.updated++;
        write({ value, comment, followup, storedBy });
      }
      return;
    }
    if (options.strategy === "UPDATE") return reject();
    counts.imported++;
    write({ value, comment, followup, storedBy, deleted: false, created: stamp });
  });

  if (completion && dataSet) {
    // Completion needs the header period and org unit; the legacy conflict has no code (§3.3).
    if (header.period && header.orgUnit) result.dataSetComplete = completion;
    else {
      result.conflicts.push({
        object: "OrganisationUnit",
        value: "Must be provided to complete data set",
      });
    }
  }
  if (result.conflicts.length > 0) result.status = "WARNING";
  return send(result, ctx);
}

/** `yyyy-MM-dd` (future clamped to today), `true` = today, `false`/absent = none (§3.1). */
function completionDate(raw: unknown, today: string): string | null | Error {
  if (raw === undefined || raw === null || raw === "" || raw === false || raw === "false") {
    return null;
  }
  if (raw === true || raw === "true") return today;
  if (typeof raw === "string" && /^\d{4}-\d{2}-\d{2}$/.test(raw) && parsePeriod(raw)) {
    return raw > today ? today : raw;
  }
  return new Error(`Unparseable date: "${String(raw)}"`);
}

/** The checks that abort the whole import (E7600–E7604, §3.3), or null. */
function checkDataSetLevel(
  dataSetKey: string | null,
  dataSet: SimDataSet | undefined,
  header: Header,
  lookups: Lookups,
): Conflict | null {
  const withDataSet = (
    o: Record<string, string>,
  ) => (dataSetKey ? { ...o, dataSet: dataSetKey } : o);
  if (dataSetKey && !dataSet) {
    const msg = `Data set not found or not accessible: \`${dataSetKey}\``;
    return conflict("E7600", { dataSet: dataSetKey }, msg, "dataSet");
  }
  if (dataSetKey && dataSet?.writable === false) {
    const msg = `User does not have write access for DataSet: \`${dataSetKey}\``;
    return conflict("E7601", { dataSet: dataSetKey }, msg, "dataSet");
  }
  const ou = header.orgUnit;
  if (ou && !lookups.ou(ou)) {
    const msg = `Org unit not found or not accessible: \`${ou}\``;
    return conflict("E7603", withDataSet({ organisationUnit: ou }), msg, "orgUnit");
  }
  const aoc = header.attributeOptionCombo;
  if (aoc && !lookups.coc(aoc)) {
    const msg = `Attribute option combo not found or not accessible: \`${aoc}\``;
    return conflict(
      "E7604",
      withDataSet({ categoryOptionCombo: aoc }),
      msg,
      "attributeOptionCombo",
    );
  }
  return null;
}

/** Per-value checks in the order of §3.3's table; the first failure is the value's conflict. */
function validateValue(
  v: Obj,
  header: Header,
  lookups: Lookups,
  options: ImportOptions,
  ctx: ImportContext,
): ValidValue | Conflict {
  const deKey = text(v.dataElement);
  const de = deKey ? lookups.de(deKey) : undefined;
  if (!de) {
    const msg = `Data element not found or not accessible: \`${deKey}\``;
    return conflict("E7610", { dataElement: String(deKey) }, msg, "dataElement");
  }
  const periodKey = header.period ?? text(v.period);
  const period = periodKey ? lookups.period(periodKey) : null;
  if (!periodKey || !period) {
    return conflict(
      "E7611",
      { period: String(periodKey) },
      `Period not valid: \`${periodKey}\``,
      "period",
    );
  }
  const ouKey = header.orgUnit ?? text(v.orgUnit);
  const ou = ouKey ? lookups.ou(ouKey) : undefined;
  if (!ou) {
    const msg = `Organisation unit not found or not accessible: \`${ouKey}\``;
    return conflict("E7612", { organisationUnit: String(ouKey) }, msg, "orgUnit");
  }
  // Missing combos fall back to the default one (§3.1).
  const defaultCoc = lookups.defaultCoc;
  const cocKey = text(v.categoryOptionCombo);
  const coc = cocKey ? lookups.coc(cocKey) : defaultCoc;
  if (!coc) {
    const msg = `Category option combo not found or not accessible for writing data: \`${cocKey}\``;
    return conflict("E7613", { categoryOptionCombo: String(cocKey) }, msg, "categoryOptionCombo");
  }
  const aocKey = header.attributeOptionCombo ?? text(v.attributeOptionCombo);
  const aoc = aocKey ? lookups.coc(aocKey) : defaultCoc;
  if (!aoc) {
    const msg =
      `Attribute option combo not found or not accessible for writing data: \`${aocKey}\``;
    return conflict("E7615", { categoryOptionCombo: String(aocKey) }, msg, "attributeOptionCombo");
  }
  if (!lookups.inHierarchy(ou.id)) {
    const msg = `Organisation unit: \`${ouKey}\` not in hierarchy of current user: ` +
      `\`${ctx.user.username}\``;
    return conflict("E7617", { organisationUnit: ouKey! }, msg, "orgUnit");
  }
  const value = text(v.value);
  const comment = text(v.comment);
  if (value === null && comment === null && v.deleted !== true && options.strategy !== "DELETE") {
    const msg = `Data value or comment not specified for data element: \`${deKey}\``;
    return conflict("E7618", { dataElement: deKey! }, msg, "value");
  }
  const bad = value === null ? null : checkValueType(de.valueType, value);
  if (bad) {
    // 2.38 worded E7619 differently (§3.3).
    const msg = minor(ctx.version) >= 39
      ? `Value must match value type of data element \`${deKey}\`: \`${bad.text}\``
      : `Value must match data element's \`${deKey}\` type constraints: ${bad.text}`;
    return conflict("E7619", { dataElement: deKey!, value: bad.key }, msg, "value");
  }
  if (comment !== null && comment.length > MAX_TEXT_LENGTH) {
    const msg = "Invalid comment: Comment is greater than max length";
    return conflict("E7620", { dataElement: deKey! }, msg, "comment");
  }
  if (value !== null && de.optionSet && !de.optionSet.options.includes(value)) {
    const msg = `Data value is not a valid option of the data element option set: \`${deKey}\``;
    return conflict("E7621", { dataElement: deKey! }, msg, "value");
  }
  return { de, periodKey, period, ou, coc, aoc, value, comment };
}

/** Resolves by the id scheme; `ATTRIBUTE:<uid>` resolves nothing (no attribute values here). */
function finder<T extends { id: string; code?: string; name: string }>(
  list: T[],
  scheme: string,
): Finder<T> {
  const field = scheme === "CODE"
    ? "code"
    : scheme === "NAME"
    ? "name"
    : scheme === "UID" || scheme === "ID"
    ? "id"
    : null;
  return (key) => (field ? list.find((x) => x[field] === key) : undefined);
}
