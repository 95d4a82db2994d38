/**
 * `POST /api/completeDataSetRegistrations` (JSON): registers data sets complete for an org unit,
 * period and attribute option combo, answering an ImportSummary in a WebMessage. A batched
 * dataValueSets import carries no `completeDate` (its header has no period or org unit), so the
 * gateway registers completion here.
 */
import { DEFAULT_COC, type SimMetadata } from "./simulator_metadata.ts";
import { simulatedPeriod } from "./simulator_periods.ts";
import { type Dhis2Version, FULL_VERSION, webMessage } from "./simulator_web.ts";

export interface StoredRegistration {
  dataSet: string;
  period: string;
  organisationUnit: string;
  attributeOptionCombo: string;
  date: string;
  completed: boolean;
}

export type RegistrationStore = Map<string, StoredRegistration>;

export function importCompleteRegistrations(
  rawBody: string,
  ctx: {
    version: Dhis2Version;
    /** The full release (`2.40.0`); default: the version's late patch. */
    release?: string;
    metadata: SimMetadata;
    store: RegistrationStore;
    now: Date;
  },
): Response {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch (err) {
    return webMessage(400, "ERROR", `JSON parse error: ${(err as Error).message}`);
  }
  const list = (body as { completeDataSetRegistrations?: unknown })?.completeDataSetRegistrations;
  if (!Array.isArray(list)) {
    return webMessage(400, "ERROR", "completeDataSetRegistrations must be an array");
  }
  const md = ctx.metadata;
  const conflicts: Array<{ object: string; value: string; indexes: number[] }> = [];
  const count = { imported: 0, updated: 0, ignored: 0, deleted: 0 };
  list.forEach((raw, i) => {
    const r = (raw ?? {}) as Record<string, unknown>;
    const ds = String(r.dataSet ?? "");
    const ou = String(r.organisationUnit ?? "");
    const pe = String(r.period ?? "");
    const refuse = (object: string, value: string) => {
      conflicts.push({ object, value, indexes: [i] });
      count.ignored++;
    };
    if (!md.dataSets.some((d) => d.id === ds)) return refuse(ds, "Data set not found");
    if (!md.organisationUnits.some((o) => o.id === ou)) return refuse(ou, "Org unit not found");
    const period = simulatedPeriod(pe, ctx.release ?? FULL_VERSION[ctx.version]);
    if (!period) return refuse(pe, "Period not valid");
    const aoc = String(r.attributeOptionCombo ?? DEFAULT_COC);
    const key = [ds, period.start, period.end, ou, aoc].join("|");
    const existed = ctx.store.has(key);
    ctx.store.set(key, {
      dataSet: ds,
      period: pe,
      organisationUnit: ou,
      attributeOptionCombo: aoc,
      date: typeof r.date === "string" ? r.date : ctx.now.toISOString().slice(0, 10),
      completed: r.completed !== false,
    });
    if (existed) count.updated++;
    else count.imported++;
  });
  const status = conflicts.length ? "WARNING" : "SUCCESS";
  const summary = { responseType: "ImportSummary", status, importCount: count, conflicts };
  return conflicts.length
    ? webMessage(409, "WARNING", "One more conflicts encountered, please check import summary.", {
      response: summary,
    })
    : webMessage(200, "OK", "Import was successful.", { response: summary });
}
