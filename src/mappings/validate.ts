/**
 * Row checks for imported mapping files. The per-row rules are model.ts's mappingIssues, the same
 * ones POST/PUT apply; this file adds what only a file can get wrong (duplicates between rows) and
 * an optional check against a snapshot of DHIS2 metadata.
 */
import type { ParsedRow, Problem } from "./formats.ts";
import {
  COLUMN_BY_FIELD,
  type MappingField,
  type MappingInput,
  mappingIssues,
  mappingKey,
  normaliseFields,
} from "./model.ts";

export interface ValidRow {
  row: number;
  mapping: MappingInput;
}

export interface RowValidation {
  /** The rows without problems, normalised (trimmed, defaults applied), in file order. */
  mappings: ValidRow[];
  /** Sorted by row. An import is meant to be all-or-nothing: store nothing when this is non-empty. */
  problems: Problem[];
}

/** A file can name a row in a message only so many times before the message is the problem. */
const MAX_ROWS_NAMED = 10;

const headerOf = (field: MappingField) => COLUMN_BY_FIELD.get(field)?.header ?? field;

export function validateRows(rows: readonly ParsedRow[]): RowValidation {
  const problems: Problem[] = [];
  const candidates: ValidRow[] = [];
  const rowsByKey = new Map<string, number[]>();

  for (const { row, fields } of rows) {
    const m = normaliseFields(fields);
    const issues = mappingIssues(m);
    for (const issue of issues) {
      problems.push({
        row,
        column: headerOf(issue.field),
        value: fields[issue.field] ?? "",
        message: issue.message,
      });
    }
    // Rows with other problems still take part in the duplicate check, so that fixing one
    // problem does not reveal the next on the following upload.
    if (m.code !== "" && (m.what === "de" || m.what === "ou")) {
      const key = mappingKey(m);
      const seen = rowsByKey.get(key);
      if (seen) seen.push(row);
      else rowsByKey.set(key, [row]);
    }
    if (issues.length === 0) candidates.push({ row, mapping: m as MappingInput });
  }

  const duplicated = new Set<number>();
  const fieldsByRow = new Map(rows.map((r) => [r.row, r.fields]));
  for (const group of rowsByKey.values()) {
    if (group.length < 2) continue;
    for (const row of group) {
      duplicated.add(row);
      // Slicing before filtering keeps a file of 100,000 copies of one row linear.
      const named = group.slice(0, MAX_ROWS_NAMED + 1).filter((r) => r !== row)
        .slice(0, MAX_ROWS_NAMED);
      const rest = group.length - 1 - named.length;
      const fields = fieldsByRow.get(row) ?? {};
      problems.push({
        row,
        column: "code",
        value: fields.code ?? fields.sourceOrgUnit ?? "",
        message: `duplicate of row${group.length > 2 ? "s" : ""} ${named.join(", ")}` +
          (rest > 0 ? ` and ${rest} more` : "") +
          " (same code, source_name, instance_name, what)",
      });
    }
  }

  problems.sort((a, b) => a.row - b.row);
  return { mappings: candidates.filter((c) => !duplicated.has(c.row)), problems };
}

/**
 * The parts of DHIS2 metadata a mapping refers to, fetched by someone else (this stays pure).
 * Category option combos are those of each data element's category combo; attribute option
 * combos those of each data set's category combo.
 */
export interface MetadataSnapshot {
  dataElements: ReadonlyMap<string, { categoryComboOptionCombos: ReadonlySet<string> }>;
  dataSets: ReadonlyMap<
    string,
    { dataElements: ReadonlySet<string>; attributeOptionCombos: ReadonlySet<string> }
  >;
  orgUnits: ReadonlySet<string>;
}

/**
 * Check valid rows against DHIS2 metadata: the data element exists (and is in the data set, when
 * one is named), the COC belongs to the data element's category combo, the AOC to the data set's
 * (without a data set: to that of some data set holding the data element, as DHIS2 accepts any;
 * unchecked when no data set of the snapshot holds it), and the destination org unit exists. Empty COC/AOC mean DHIS2's default and are not checked.
 */
export function validateAgainstMetadata(
  rows: readonly ValidRow[],
  snapshot: MetadataSnapshot,
): Problem[] {
  const problems: Problem[] = [];
  const add = (row: number, column: string, value: string, message: string) =>
    problems.push({ row, column, value, message });

  // The AOCs of all data sets holding a data element, built on first use: a file maps the same
  // few data elements many times and there may be hundreds of data sets. Null when no data set
  // of the snapshot holds it: a snapshot may carry only the data sets a file names, so nothing
  // can be said then.
  const aocsByDataElement = new Map<string, Set<string> | null>();
  const aocsOf = (dataElement: string): Set<string> | null => {
    let aocs = aocsByDataElement.get(dataElement);
    if (aocs === undefined) {
      let held = false;
      const found = new Set<string>();
      for (const ds of snapshot.dataSets.values()) {
        if (!ds.dataElements.has(dataElement)) continue;
        held = true;
        ds.attributeOptionCombos.forEach((a) => found.add(a));
      }
      aocs = held ? found : null;
      aocsByDataElement.set(dataElement, aocs);
    }
    return aocs;
  };

  for (const { row, mapping: m } of rows) {
    if (m.what === "ou") {
      if (!snapshot.orgUnits.has(m.destinationOrgUnit)) {
        add(row, "destination_orgunit", m.destinationOrgUnit, "no such org unit in DHIS2");
      }
      continue;
    }
    const de = snapshot.dataElements.get(m.dataElement);
    if (!de) {
      add(row, "dataelement", m.dataElement, "no such data element in DHIS2");
    } else if (
      m.categoryOptionCombo !== "" && !de.categoryComboOptionCombos.has(m.categoryOptionCombo)
    ) {
      add(
        row,
        "category_option_combo",
        m.categoryOptionCombo,
        `is not an option combo of data element ${m.dataElement}'s category combo`,
      );
    }

    if (m.dataSet !== "") {
      const ds = snapshot.dataSets.get(m.dataSet);
      if (!ds) {
        add(row, "dataset", m.dataSet, "no such data set in DHIS2");
        continue;
      }
      if (de && !ds.dataElements.has(m.dataElement)) {
        add(row, "dataelement", m.dataElement, `is not in data set ${m.dataSet}`);
      }
      if (m.attributeOptionCombo !== "" && !ds.attributeOptionCombos.has(m.attributeOptionCombo)) {
        add(
          row,
          "attribute_option_combo",
          m.attributeOptionCombo,
          `is not an attribute option combo of data set ${m.dataSet}`,
        );
      }
    } else if (m.attributeOptionCombo !== "" && de) {
      const aocs = aocsOf(m.dataElement);
      if (aocs && !aocs.has(m.attributeOptionCombo)) {
        add(
          row,
          "attribute_option_combo",
          m.attributeOptionCombo,
          `is not an attribute option combo of any data set holding data element ${m.dataElement}`,
        );
      }
    }
  }
  return problems;
}
