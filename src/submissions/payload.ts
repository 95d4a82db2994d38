/**
 * Builds the DHIS2 data value set for a validated request, once, at acceptance: what the client
 * sees in the reply is byte for byte what the worker sends (the old service mapped twice,
 * §10.1-9). Mapping is by the caller's source; unmapped codes are never dropped silently.
 */
import type { DataValue, DataValueSetPayload } from "../dhis2/client.ts";
import { isUid } from "../dhis2/uid.ts";
import type { FieldProblem } from "../http/errors.ts";
import type { DataValueMapping, MappingLookup } from "../mappings/lookup.ts";
import type { AggregateRequest } from "./request.ts";

export interface PayloadSettings {
  mappingScheme: "CODE" | "UID";
  unmappedCodes: "reject" | "ignore";
  /** api.dhis2_data_set: used when the request has no dataSet. */
  defaultDataSet: string;
  /** api.dhis2_attribute_option_combo: used when neither request nor mapping sets one. */
  defaultAttributeOptionCombo: string;
  /** api.complete_data_set: the default of the request's `complete`. */
  completeByDefault: boolean;
  /** server.timezone, for completeDate. */
  timezone: string;
}

export interface BuiltPayload {
  orgUnit: string;
  dataSet: string;
  payload: DataValueSetPayload;
  /** codes[i] is the request code behind payload.dataValues[i]. */
  codes: string[];
  unmappedCodes: string[];
}

export type BuildResult =
  | { ok: true; built: BuiltPayload }
  | { ok: false; problems: FieldProblem[] };

/** `YYYY-MM-DD` of `now` in `timeZone`. */
export function localDate(now: Date, timeZone: string): string {
  return new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(now);
}

export async function buildPayload(
  req: AggregateRequest,
  sourceName: string,
  lookup: MappingLookup,
  s: PayloadSettings,
  now: Date = new Date(),
): Promise<BuildResult> {
  const problems: FieldProblem[] = [];
  const codes = req.values.map((v) => v.code);
  const [mapped, ouMapped] = await Promise.all([
    s.mappingScheme === "CODE"
      ? lookup.resolve(sourceName, codes)
      : Promise.resolve(uidSchemeMappings(codes)),
    lookup.resolveOrgUnit(sourceName, req.orgUnit),
  ]);

  const orgUnit = ouMapped ?? req.orgUnit;
  if (!isUid(orgUnit)) {
    problems.push({
      field: "orgUnit",
      message:
        `"${req.orgUnit}" is neither a DHIS2 UID nor an org unit code mapped for source "${sourceName}"`,
    });
  }
  const dataSet = req.dataSet ?? s.defaultDataSet;
  if (!dataSet) {
    problems.push({ field: "dataSet", message: "is required (no api.dhis2_data_set default)" });
  }

  const unmapped: string[] = [];
  const dataValues: DataValue[] = [];
  const payloadCodes: string[] = [];
  const seen = new Map<string, string>();
  for (const v of req.values) {
    const m = mapped.get(v.code);
    if (!m) {
      if (s.mappingScheme === "UID") {
        problems.push({
          field: `dataValues.${v.code}`,
          code: v.code,
          message: "with mapping_scheme UID, keys must be <dataElement> or " +
            "<dataElement>.<categoryOptionCombo> DHIS2 UIDs",
        });
      } else unmapped.push(v.code);
      continue;
    }
    const aoc = req.attributeOptionCombo ?? m.attributeOptionCombo ??
      (s.defaultAttributeOptionCombo || undefined);
    const target = `${m.dataElement}.${m.categoryOptionCombo ?? ""}.${aoc ?? ""}`;
    const earlier = seen.get(target);
    if (earlier !== undefined) {
      // DHIS2 would keep one of the two silently.
      problems.push({
        field: `dataValues.${v.code}`,
        code: v.code,
        message: `maps to the same DHIS2 data value as "${earlier}"`,
      });
      continue;
    }
    seen.set(target, v.code);
    const dv: DataValue = { dataElement: m.dataElement };
    if (m.categoryOptionCombo) dv.categoryOptionCombo = m.categoryOptionCombo;
    if (aoc) dv.attributeOptionCombo = aoc;
    dv.value = v.value;
    dataValues.push(dv);
    payloadCodes.push(v.code);
  }

  if (unmapped.length && (s.unmappedCodes === "reject" || dataValues.length === 0)) {
    for (const code of unmapped) {
      problems.push({
        field: `dataValues.${code}`,
        code,
        message: `no mapping for this code (source "${sourceName}")`,
      });
    }
  }
  if (problems.length) return { ok: false, problems };

  // Stored as jsonb, which reorders keys; the reply and the worker both use the stored copy,
  // so what the client sees is what DHIS2 gets (DHIS2 reads JSON by name, not by position).
  const payload: DataValueSetPayload = {
    dataSet,
    ...(req.complete ?? s.completeByDefault ? { completeDate: localDate(now, s.timezone) } : {}),
    period: req.period,
    orgUnit,
    dataValues,
  };
  return {
    ok: true,
    built: { orgUnit, dataSet, payload, codes: payloadCodes, unmappedCodes: unmapped },
  };
}

/** mapping_scheme UID: `DE` or `DE.COC`, both UIDs; anything else is not mapped. */
function uidSchemeMappings(codes: readonly string[]): Map<string, DataValueMapping> {
  const out = new Map<string, DataValueMapping>();
  for (const code of codes) {
    const [de, coc, ...rest] = code.split(".");
    if (rest.length || !isUid(de) || (coc !== undefined && !isUid(coc))) continue;
    out.set(
      code,
      coc === undefined ? { dataElement: de } : { dataElement: de, categoryOptionCombo: coc },
    );
  }
  return out;
}
