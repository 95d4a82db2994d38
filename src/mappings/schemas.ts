/** Request and reply shapes of /api/v3/mappings, with the examples the OpenAPI document shows. */
import { z } from "@hono/zod-openapi";
import { envelopeSchema } from "../http/errors.ts";
import { pagingParams } from "../http/list_query.ts";

const DE = "fbfJHSPpUQD";
const COC = "pq2XI5kz2BY";

export const MappingSchema = z.object({
  uid: z.string().openapi({ example: "Rm2Xq8LkP0a" }),
  code: z.string().openapi({ example: "ANC1_F", description: "the source system's code" }),
  what: z.enum(["de", "ou"]).openapi({
    example: "de",
    description: "de: code → data element (+ COC/AOC); ou: source org unit → DHIS2 org unit",
  }),
  name: z.string().openapi({ example: "ANC 1st visit, female" }),
  description: z.string().openapi({ example: "" }),
  dataSet: z.string().openapi({ example: "pBOMPrpg1QX" }),
  dataElement: z.string().openapi({ example: DE }),
  categoryOptionCombo: z.string().openapi({ example: COC, description: "'' = DHIS2's default" }),
  attributeOptionCombo: z.string().openapi({ example: "", description: "'' = DHIS2's default" }),
  categoryOption: z.string().openapi({ example: "" }),
  categoryCombo: z.string().openapi({ example: "" }),
  instanceName: z.string().openapi({ example: "default" }),
  sourceName: z.string().openapi({ example: "default", description: "the submitting system" }),
  sourceOrgUnit: z.string().openapi({ example: "", description: "ou rows: the source's code" }),
  destinationOrgUnit: z.string().openapi({ example: "", description: "ou rows: DHIS2 UID" }),
  created: z.string().openapi({ example: "2026-05-01T10:00:00.000Z" }),
  updated: z.string().openapi({ example: "2026-05-01T10:00:00.000Z" }),
}).openapi("Mapping");

const text = (example: string, description?: string) =>
  z.string().nullish().openapi({ example, ...(description ? { description } : {}) });

/**
 * Only the shape is checked here; the rules (required fields per `what`, UID formats, defaults)
 * are model.ts's mappingInputSchema, shared with the file importer.
 */
export const MappingBody = z.object({
  code: text("ANC1_F", "required; for ou rows source_orgunit may stand in"),
  what: text("de", "de (default) or ou"),
  name: text("ANC 1st visit, female", "required for de rows"),
  description: text(""),
  dataSet: text("pBOMPrpg1QX"),
  dataElement: text(DE, "required for de rows"),
  categoryOptionCombo: text(COC),
  attributeOptionCombo: text(""),
  categoryOption: text(""),
  categoryCombo: text(""),
  instanceName: text("default", "default: default"),
  sourceName: text("default", "default: default"),
  sourceOrgUnit: text(""),
  destinationOrgUnit: text("", "required for ou rows"),
}).openapi("MappingInput");

export const UidParam = z.object({
  uid: z.string().openapi({ param: { name: "uid", in: "path" }, example: "Rm2Xq8LkP0a" }),
});

const filter = (example: string, description: string) =>
  z.string().optional().openapi({ example, description });

/**
 * The list's and exports' filters, for the OpenAPI document: the routes parse them with
 * parseMappingQuery, which names an unknown (misspelt) filter in a 422 rather than ignoring it
 * into "every mapping", as the old service did with all of them.
 */
export const FilterQuery = z.object({
  uid: filter("Rm2Xq8LkP0a", "exact"),
  code: filter("ANC1_F", "exact"),
  what: filter("de", "de or ou"),
  name: filter("anc", "case-insensitive substring"),
  dataSet: filter("pBOMPrpg1QX", "exact"),
  dataElement: filter(DE, "exact"),
  categoryOptionCombo: filter(COC, "exact"),
  attributeOptionCombo: filter("", "exact"),
  categoryOption: filter("", "exact"),
  categoryCombo: filter("", "exact"),
  source: filter("default", "source_name, exact"),
  source_name: filter("default", "the same as source (the column's name)"),
  instance_name: filter("default", "exact"),
  source_orgunit: filter("OU-0042", "exact"),
  destination_orgunit: filter("DiszpKrYNg8", "exact"),
});

export const ListMappingsQuery = FilterQuery.extend(pagingParams(1000, 50));

export const MappingPage = z.object({
  items: z.array(MappingSchema),
  total: z.number().int().openapi({ example: 1 }),
  page: z.number().int().openapi({ example: 1 }),
  page_size: z.number().int().openapi({ example: 50 }),
  total_pages: z.number().int().openapi({ example: 1 }),
}).openapi("MappingPage");

const boolQuery = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

export const ImportQuery = z.object({
  dryRun: boolQuery.optional().openapi({
    example: "true",
    description: "check and count, change nothing",
  }),
  mode: z.enum(["upsert", "replace"]).default("upsert").openapi({
    example: "upsert",
    description: "upsert: add new, update changed, keep the rest. replace: the file becomes " +
      "the complete set of each (sourceName, instanceName) it has rows for; rows of those " +
      "scopes that are not in the file are deleted. Atomic either way.",
  }),
  validate: z.enum(["dhis2"]).optional().openapi({
    example: "dhis2",
    description: "also check every row against the configured DHIS2's metadata (one snapshot " +
      "per import); 502 if DHIS2 cannot be read",
  }),
});

export const ImportFile = z.object({
  file: z.any().openapi({ type: "string", format: "binary", description: "the CSV or workbook" }),
}).openapi("MappingFile");

export const ProblemSchema = z.object({
  row: z.number().int().openapi({ example: 7, description: "as a spreadsheet shows it" }),
  column: z.string().openapi({ example: "dataelement" }),
  value: z.string().openapi({ example: "fbfJHSPpUQ" }),
  message: z.string().openapi({
    example: "must be a DHIS2 UID (11 characters: a letter, then 10 letters or digits)",
  }),
}).openapi("MappingProblem");

export const ImportReportSchema = z.object({
  format: z.enum(["csv", "xlsx"]),
  mode: z.enum(["upsert", "replace"]),
  dryRun: z.boolean(),
  rows: z.number().int().openapi({ example: 120, description: "data rows in the file" }),
  created: z.number().int().openapi({ example: 3 }),
  updated: z.number().int().openapi({ example: 1 }),
  unchanged: z.number().int().openapi({ example: 116 }),
  deleted: z.number().int().openapi({ example: 0 }),
  validatedAgainstDhis2: z.boolean(),
  problems: z.array(ProblemSchema).openapi({
    description: "always empty on 200: a file with problems is answered 422 with them as " +
      "error.details (at most 100; error.omitted and the message say how many more)",
  }),
  warnings: z.array(z.string()).openapi({
    description: "imported but never used: mappings for an instance no destination is " +
      "configured for",
  }),
}).openapi("MappingImportReport");

/** The one error envelope (http/errors.ts), with an import's problems as its details. */
export const ErrorSchema = envelopeSchema(z.array(ProblemSchema)).openapi("MappingImportError", {
  example: {
    error: {
      code: "validation_failed",
      message: "2 problems in the file; nothing was changed",
      requestId: "6e37a07d-5e1b-4ace-8a31-c714c5a1e92c",
    },
  },
});
