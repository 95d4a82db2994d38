/**
 * The simulator's metadata store and its read API: `GET /api/<collection>` and
 * `/api/<collection>/{uid}` with `fields`, `filter`, `rootJunction` and paging (reference §7.1).
 */
import { compileFilter, parseFields, project } from "./simulator_query.ts";
import { webMessage } from "./simulator_web.ts";

export const DEFAULT_CATEGORY_COMBO = "bjDvmb4bfuf";
export const DEFAULT_COC = "HllvX50cXC0";

export interface SimCategoryCombo {
  id: string;
  code?: string;
  name: string;
  /** Ids of its category option combos. */
  categoryOptionCombos: string[];
}

export interface SimCategoryOptionCombo {
  id: string;
  code?: string;
  name: string;
  categoryCombo: string;
}

export interface SimDataElement {
  id: string;
  code?: string;
  name: string;
  /** `INTEGER`, `NUMBER`, `BOOLEAN`, `TEXT`, … (see simulator_value_types.ts). */
  valueType: string;
  domainType?: string;
  aggregationType?: string;
  /** DHIS2's default is false: a numeric zero is then not stored (§3.5). */
  zeroIsSignificant: boolean;
  categoryCombo: string;
  optionSet?: { id: string; options: string[] };
}

export interface SimDataSet {
  id: string;
  code?: string;
  name: string;
  periodType: string;
  categoryCombo: string;
  dataSetElements: Array<{ dataElement: string; categoryCombo?: string }>;
  organisationUnits: string[];
  openFuturePeriods?: number;
  expiryDays?: number;
  /** false → the user lacks data-write sharing: import aborts with E7601. */
  writable?: boolean;
}

export interface SimOrgUnit {
  id: string;
  code?: string;
  name: string;
  /** Parent id; path and level are derived from the chain. */
  parent?: string;
}

export interface SimMetadata {
  categoryCombos: SimCategoryCombo[];
  categoryOptionCombos: SimCategoryOptionCombo[];
  dataElements: SimDataElement[];
  dataSets: SimDataSet[];
  organisationUnits: SimOrgUnit[];
}

/**
 * A small Sierra Leone–like seed: the default combo (fixed UIDs, §3.1), a Sex combo, a
 * Funding attribute combo, one element per common value type, one monthly data set.
 */
export function defaultMetadata(): SimMetadata {
  return {
    categoryCombos: [
      {
        id: DEFAULT_CATEGORY_COMBO,
        code: "default",
        name: "default",
        categoryOptionCombos: [DEFAULT_COC],
      },
      {
        id: "ccSex000001",
        code: "SEX",
        name: "Sex",
        categoryOptionCombos: ["cocMale0001", "cocFemale01"],
      },
      {
        id: "ccFunding01",
        code: "FUNDING",
        name: "Funding",
        categoryOptionCombos: ["cocDonorA01", "cocDonorB01"],
      },
    ],
    categoryOptionCombos: [
      { id: DEFAULT_COC, code: "default", name: "default", categoryCombo: DEFAULT_CATEGORY_COMBO },
      { id: "cocMale0001", code: "MALE", name: "Male", categoryCombo: "ccSex000001" },
      { id: "cocFemale01", code: "FEMALE", name: "Female", categoryCombo: "ccSex000001" },
      { id: "cocDonorA01", code: "DONOR_A", name: "Donor A", categoryCombo: "ccFunding01" },
      { id: "cocDonorB01", code: "DONOR_B", name: "Donor B", categoryCombo: "ccFunding01" },
    ],
    dataElements: [
      de("f7n9E0hX8qk", "ANC1", "ANC 1st visit", "INTEGER_ZERO_OR_POSITIVE", true),
      de("deMalCases1", "MAL_CASES", "Malaria cases", "INTEGER", true, "ccSex000001"),
      de("deWeightKg1", "WEIGHT_KG", "Average weight (kg)", "NUMBER", true),
      de("deNetsOk001", "BEDNETS_OK", "Bed nets available", "BOOLEAN", true),
      de("deRemarks01", "REMARKS", "Remarks", "TEXT", true),
      de("deVisitDate", "VISIT_DATE", "Supervision visit date", "DATE", true),
      de("deStockOut1", "STOCK_OUT", "Stock-out days", "INTEGER_ZERO_OR_POSITIVE", false),
    ],
    dataSets: [{
      id: "pBOMPrpg1QX",
      code: "HMIS_MONTHLY",
      name: "Monthly HMIS",
      periodType: "Monthly",
      categoryCombo: DEFAULT_CATEGORY_COMBO,
      dataSetElements: [
        { dataElement: "f7n9E0hX8qk" },
        { dataElement: "deMalCases1" },
        { dataElement: "deWeightKg1" },
        { dataElement: "deNetsOk001" },
        { dataElement: "deRemarks01" },
        { dataElement: "deVisitDate" },
        { dataElement: "deStockOut1" },
      ],
      organisationUnits: ["DiszpKrYNg8", "ouBaomaCHC1"],
      openFuturePeriods: 0,
      expiryDays: 0,
    }],
    organisationUnits: [
      { id: "ImspTQPwCqd", code: "OU_525", name: "Sierra Leone" },
      { id: "O6uvpzGd5pu", code: "OU_264", name: "Bo", parent: "ImspTQPwCqd" },
      { id: "DiszpKrYNg8", code: "OU_559", name: "Ngelehun CHC", parent: "O6uvpzGd5pu" },
      { id: "ouBaomaCHC1", code: "OU_BAOMA", name: "Baoma CHC", parent: "O6uvpzGd5pu" },
    ],
  };
}

function de(
  id: string,
  code: string,
  name: string,
  valueType: string,
  zeroIsSignificant: boolean,
  categoryCombo = DEFAULT_CATEGORY_COMBO,
): SimDataElement {
  return {
    id,
    code,
    name,
    valueType,
    domainType: "AGGREGATE",
    aggregationType: "SUM",
    zeroIsSignificant,
    categoryCombo,
  };
}

/** `/root/…/id` and level, walking parents (a cycle or missing parent ends the walk). */
export function orgUnitPath(md: SimMetadata, id: string): { path: string; level: number } {
  const chain: string[] = [];
  let current = md.organisationUnits.find((o) => o.id === id);
  while (current && !chain.includes(current.id)) {
    chain.unshift(current.id);
    current = current.parent
      ? md.organisationUnits.find((o) => o.id === current!.parent)
      : undefined;
  }
  return { path: `/${chain.join("/")}`, level: chain.length };
}

// ---- full object graphs; `fields` then cuts them down

type Obj = Record<string, unknown>;

function named(o: { id: string; code?: string; name: string }): Obj {
  return { id: o.id, code: o.code, name: o.name, displayName: o.name };
}

function cocView(md: SimMetadata, id: string): Obj | undefined {
  const c = md.categoryOptionCombos.find((x) => x.id === id);
  return c && { ...named(c), categoryCombo: { id: c.categoryCombo } };
}

function ccView(md: SimMetadata, id: string): Obj | undefined {
  const c = md.categoryCombos.find((x) => x.id === id);
  return c && {
    ...named(c),
    categoryOptionCombos: c.categoryOptionCombos.map((x) => cocView(md, x)).filter(Boolean),
  };
}

function deView(md: SimMetadata, d: SimDataElement): Obj {
  return {
    ...named(d),
    valueType: d.valueType,
    domainType: d.domainType,
    aggregationType: d.aggregationType,
    zeroIsSignificant: d.zeroIsSignificant,
    categoryCombo: ccView(md, d.categoryCombo),
    optionSet: d.optionSet &&
      { id: d.optionSet.id, options: d.optionSet.options.map((code) => ({ code })) },
  };
}

export function ouView(md: SimMetadata, o: SimOrgUnit): Obj {
  return { ...named(o), ...orgUnitPath(md, o.id), parent: o.parent ? { id: o.parent } : undefined };
}

function dsView(md: SimMetadata, s: SimDataSet): Obj {
  const element = (id: string) => md.dataElements.find((d) => d.id === id);
  return {
    ...named(s),
    periodType: s.periodType,
    openFuturePeriods: s.openFuturePeriods,
    expiryDays: s.expiryDays,
    categoryCombo: ccView(md, s.categoryCombo),
    dataSetElements: s.dataSetElements.flatMap((e) => {
      const d = element(e.dataElement);
      if (!d) return [];
      const cc = e.categoryCombo ? ccView(md, e.categoryCombo) : undefined;
      return [{ dataSet: { id: s.id }, dataElement: deView(md, d), categoryCombo: cc }];
    }),
    organisationUnits: s.organisationUnits.flatMap((id) => {
      const o = md.organisationUnits.find((x) => x.id === id);
      return o ? [ouView(md, o)] : [];
    }),
  };
}

const COLLECTIONS: Record<string, { type: string; list: (md: SimMetadata) => Obj[] }> = {
  dataElements: { type: "DataElement", list: (md) => md.dataElements.map((d) => deView(md, d)) },
  dataSets: { type: "DataSet", list: (md) => md.dataSets.map((s) => dsView(md, s)) },
  organisationUnits: {
    type: "OrganisationUnit",
    list: (md) => md.organisationUnits.map((o) => ouView(md, o)),
  },
  categoryCombos: {
    type: "CategoryCombo",
    list: (md) => md.categoryCombos.map((c) => ccView(md, c.id)).filter((o): o is Obj => !!o),
  },
  categoryOptionCombos: {
    type: "CategoryOptionCombo",
    list: (md) =>
      md.categoryOptionCombos.map((c) => cocView(md, c.id)).filter((o): o is Obj => !!o),
  },
};

/** Serves `GET /api/<collection>[/{uid}]`, or returns null when the path is not metadata. */
export function metadataResponse(md: SimMetadata, path: string, url: URL, apiRoot: string) {
  const [collection, uid, ...rest] = path.split("/").filter(Boolean);
  const spec = COLLECTIONS[collection];
  if (!spec || rest.length > 0) return null;
  const fields = parseFields(url.searchParams.get("fields") ?? "id,displayName");
  if (uid) {
    const found = spec.list(md).find((o) => o.id === uid);
    if (!found) return webMessage(404, "ERROR", `${spec.type} with id ${uid} could not be found.`);
    return Response.json(
      project(found, url.searchParams.has("fields") ? fields : parseFields("*")),
    );
  }
  let items = spec.list(md);
  const filters = url.searchParams.getAll("filter");
  if (filters.length > 0) {
    let tests: Array<(o: Obj) => boolean>;
    try {
      tests = filters.map(compileFilter);
    } catch (err) {
      return webMessage(400, "ERROR", (err as Error).message);
    }
    const anyOf = url.searchParams.get("rootJunction")?.toUpperCase() === "OR";
    items = items.filter((o) => (anyOf ? tests.some((t) => t(o)) : tests.every((t) => t(o))));
  }
  const projected = items.map((o) => project(o, fields));
  if (url.searchParams.get("paging") === "false") return Response.json({ [collection]: projected });

  const pageSize = Math.max(1, Number(url.searchParams.get("pageSize")) || 50);
  const total = projected.length;
  const pageCount = Math.max(1, Math.ceil(total / pageSize));
  const page = Math.min(Math.max(1, Number(url.searchParams.get("page")) || 1), pageCount);
  const pager: Obj = { page, total, pageSize, pageCount };
  const link = (p: number) => {
    const params = new URLSearchParams(url.searchParams);
    params.set("page", String(p));
    if (pageSize === 50) params.delete("pageSize");
    return `${apiRoot}/${collection}?${params}`;
  };
  if (page < pageCount) pager.nextPage = link(page + 1);
  if (page > 1) pager.prevPage = link(page - 1);
  const slice = projected.slice((page - 1) * pageSize, page * pageSize);
  return Response.json({ pager, [collection]: slice });
}
