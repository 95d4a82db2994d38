/**
 * Where a submission goes and what each destination is sent: its source's destination and every
 * copy (config `sources:`/`destinations:` → routeFor), each mapped with the mappings of that
 * destination's `instance_name`. A code one of them cannot map is refused at intake, naming the
 * destination and the code, so no copy is ever silently short of a value.
 */
import { type Config, destinationsOf } from "../config/config.ts";
import { routeFor } from "../config/destinations.ts";
import type { FieldProblem } from "../http/errors.ts";
import type { MappingLookup } from "../mappings/lookup.ts";
import { buildPayload, type BuiltPayload } from "../aggregate/payload.ts";
import type { AggregateRequest } from "../aggregate/request.ts";

export interface RoutedPayload {
  destination: string;
  built: BuiltPayload;
}

export type RouteResult =
  | { ok: true; routed: RoutedPayload[] }
  | { ok: false; problems: FieldProblem[] };

/** The destination names a source's submissions go to, primary first. */
export function destinationsFor(config: Readonly<Config>, sourceName: string): string[] {
  return routeFor(
    { destinations: destinationsOf(config), sources: config.sources ?? {} },
    sourceName,
  );
}

export async function routeSubmission(
  config: Readonly<Config>,
  req: AggregateRequest,
  sourceName: string,
  mappingsFor: (instance: string) => MappingLookup,
  now: Date = new Date(),
): Promise<RouteResult> {
  const all = destinationsOf(config);
  const names = destinationsFor(config, sourceName);
  const routed: RoutedPayload[] = [];
  const problems: FieldProblem[] = [];
  for (const name of names) {
    const d = all[name];
    const result = await buildPayload(req, sourceName, mappingsFor(d?.instance_name ?? name), {
      mappingScheme: config.api.mapping_scheme,
      unmappedCodes: config.api.unmapped_codes,
      defaultDataSet: d?.data_set ?? config.api.dhis2_data_set,
      defaultAttributeOptionCombo: d?.attribute_option_combo ??
        config.api.dhis2_attribute_option_combo,
      completeByDefault: config.api.complete_data_set,
      timezone: config.server.timezone,
    }, now);
    if (result.ok) routed.push({ destination: name, built: result.built });
    else if (names.length === 1) problems.push(...result.problems);
    else {
      // Which destination could not take it: its instance's mappings differ from the others'.
      for (const p of result.problems) {
        problems.push({
          ...p,
          destination: name,
          message: `${p.message} (destination "${name}", instance "${d?.instance_name ?? name}")`,
        });
      }
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, routed };
}
