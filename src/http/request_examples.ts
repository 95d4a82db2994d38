/**
 * One example per JSON request body, shown by Swagger UI's "Try it out" and run as is against
 * `deno task demo` by tests/openapi_examples_test.ts: each succeeds there (the demo's admin,
 * its clinic system and mappings, the simulator's metadata), except where it needs a secret
 * only a previous reply holds (a refresh token). Without one, Swagger UI writes `"string"` for
 * every field and the body is refused.
 *
 * Kept in one table rather than beside each route so the test can walk it; docs.ts puts each
 * into the document, keyed by operation.
 */

/** The demo's submission (scripts/sample.ts SAMPLE_SUBMISSION): codes mapped by the demo. */
export const AGGREGATE_EXAMPLE = {
  orgUnit: "DiszpKrYNg8",
  orgUnitName: "Ngelehun CHC",
  period: "202410",
  dataSet: "pBOMPrpg1QX",
  dataValues: { ANC1: 12, MAL_M: 3, MAL_F: 1000000, WEIGHT: 3.25, NETS_OK: true },
};

const NEW_USER = {
  username: "lab_system",
  password: "Lab-Results-2026",
  firstName: "District",
  lastName: "Lab system",
  role: "submitter",
};

const MAPPING = {
  code: "REMARKS",
  what: "de",
  name: "Remarks",
  dataSet: "pBOMPrpg1QX",
  dataElement: "deRemarks01",
  categoryOptionCombo: "HllvX50cXC0",
};

export const REQUEST_EXAMPLES: Record<string, unknown> = {
  "POST /api/v3/users/getToken": { username: "admin", password: "Demo-Gateway-2026" },
  "POST /api/v3/users/refreshToken": { refreshToken: "the refreshToken getToken returned" },
  "POST /api/v3/users/logout": { refreshToken: "the refreshToken getToken returned" },
  "POST /api/v3/users": NEW_USER,
  "POST /api/v3/user": { ...NEW_USER, username: "lab_system2" },
  "PUT /api/v3/users/{uid}": { firstName: "Ngelehun", telephone: "+23276000000" },
  "POST /api/v3/users/{uid}/tokens": { name: "clinic system, second server" },
  "PUT /api/v3/users/{uid}/tokens/{id}": { name: "clinic system (main server)" },
  "POST /api/v3/mappings": MAPPING,
  "PUT /api/v3/mappings/{uid}": { ...MAPPING, name: "Remarks from the clinic" },
  "POST /api/v3/aggregate": AGGREGATE_EXAMPLE,
  "POST /api/v3/aggregate/reenqueue/batch": {
    queue: "dead",
    task_ids: ["6fd40373-0f90-41e7-9d9c-1fae41b542f6"],
  },
};

/** Operations whose example cannot succeed by itself: it needs a value a reply gave. */
export const EXAMPLES_NEEDING_A_REPLY = new Set(["POST /api/v3/users/refreshToken"]);
