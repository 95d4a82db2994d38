/**
 * The demo's tracker sample, and the OpenAPI document's request examples (Swagger UI's "Try it
 * out" runs them as they are against `deno task demo`, tests/openapi_examples_test.ts): tracker
 * mappings for the simulator's programs, a coded event, a person with an enrollment and two
 * events, and a raw DHIS2 tracker bundle.
 */

export const TRACKER_MAPPINGS_EXAMPLE = [
  { kind: "program", code: "MALARIA_CASE", uid: "eBAyeGv0exc" },
  { kind: "stage", scope: "eBAyeGv0exc", code: "CASE", uid: "Zj7UnCAulEk" },
  { kind: "data_element", scope: "Zj7UnCAulEk", code: "AGE", uid: "qrur9Dvnyt5" },
  { kind: "data_element", scope: "Zj7UnCAulEk", code: "GENDER", uid: "oZg33kd9taw" },
  { kind: "data_element", scope: "Zj7UnCAulEk", code: "RDT_POS", uid: "bx6fsa0t90x" },
  { kind: "option", scope: "oZg33kd9taw", code: "F", uid: "FEMALE" },
  { kind: "option", scope: "oZg33kd9taw", code: "M", uid: "MALE" },
  { kind: "tracked_entity_type", code: "PERSON", uid: "nEenWmSyUEp" },
  { kind: "program", code: "CHILD", uid: "IpHINAT79UW" },
  { kind: "attribute", scope: "IpHINAT79UW", code: "FIRST_NAME", uid: "w75KJ2mc4zz" },
  { kind: "attribute", scope: "IpHINAT79UW", code: "LAST_NAME", uid: "zDhUuAYrxNC" },
  { kind: "attribute", scope: "IpHINAT79UW", code: "SEX", uid: "cejWyOfXge6" },
  { kind: "option", scope: "cejWyOfXge6", code: "F", uid: "FEMALE" },
  { kind: "option", scope: "cejWyOfXge6", code: "M", uid: "MALE" },
  { kind: "stage", scope: "IpHINAT79UW", code: "BIRTH", uid: "A03MvHHogjR" },
  { kind: "stage", scope: "IpHINAT79UW", code: "POSTNATAL", uid: "ZzYYXq4fJie" },
  { kind: "data_element", scope: "A03MvHHogjR", code: "WEIGHT_G", uid: "UXz7xuGCEhU" },
  { kind: "data_element", scope: "A03MvHHogjR", code: "APGAR", uid: "GQY2lXrypjO" },
  { kind: "data_element", scope: "ZzYYXq4fJie", code: "WEIGHT_G", uid: "UXz7xuGCEhU" },
  { kind: "data_element", scope: "ZzYYXq4fJie", code: "FEEDING", uid: "X8zyunlgUfM" },
  { kind: "option", scope: "X8zyunlgUfM", code: "EBF", uid: "EXCLUSIVE" },
];

export const CODED_EVENT_EXAMPLE = {
  program: "MALARIA_CASE",
  programStage: "CASE",
  orgUnit: "NGELEHUN",
  occurredAt: "2026-05-01",
  status: "COMPLETED",
  dataValues: { AGE: 34, GENDER: "F", RDT_POS: true },
};

export const CODED_PERSON_EXAMPLE = {
  trackedEntityType: "PERSON",
  orgUnit: "NGELEHUN",
  attributes: { FIRST_NAME: "Aminata", LAST_NAME: "Kamara", SEX: "F" },
  enrollment: {
    program: "CHILD",
    enrolledAt: "2026-03-01",
    events: [
      {
        programStage: "BIRTH",
        occurredAt: "2026-03-01",
        status: "COMPLETED",
        dataValues: { WEIGHT_G: 3200, APGAR: 9 },
      },
      { programStage: "POSTNATAL", occurredAt: "2026-03-15", dataValues: { FEEDING: "EBF" } },
    ],
  },
};

export const TRACKER_EXAMPLE = {
  trackedEntities: [{
    trackedEntity: "teDemoMusu1",
    trackedEntityType: "nEenWmSyUEp",
    orgUnit: "DiszpKrYNg8",
    attributes: [{ attribute: "w75KJ2mc4zz", value: "Musu" }],
    enrollments: [{
      program: "IpHINAT79UW",
      orgUnit: "DiszpKrYNg8",
      enrolledAt: "2026-04-02",
      events: [{
        programStage: "A03MvHHogjR",
        orgUnit: "DiszpKrYNg8",
        occurredAt: "2026-04-02",
        dataValues: [{ dataElement: "UXz7xuGCEhU", value: "2900" }],
      }],
    }],
  }],
};
