/**
 * The demo's tracker sample: tracker mappings for the simulator's programs (set through
 * PUT /api/v3/tracker/mappings), and three submissions of the kinds third-party systems send: a
 * coded event, a person with an enrollment and two events, and a raw DHIS2 tracker bundle.
 */
import { callApi } from "./sample.ts";

export const TRACKER_MAPPINGS = [
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

export const CODED_EVENT = {
  program: "MALARIA_CASE",
  programStage: "CASE",
  orgUnit: "NGELEHUN",
  occurredAt: "2026-05-01",
  status: "COMPLETED",
  dataValues: { AGE: 34, GENDER: "F", RDT_POS: true },
};

export const CODED_PERSON = {
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

export const RAW_BUNDLE = {
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

/** The three tracker routes with their sample bodies, for the demo's curls and smoke run. */
export const TRACKER_SAMPLES = [
  { path: "/events", body: CODED_EVENT },
  { path: "/trackedEntities", body: CODED_PERSON },
  { path: "/tracker", body: RAW_BUNDLE },
] as const;

export async function setUpTrackerSample(api: string, adminToken: string): Promise<number> {
  const r = await callApi(api, "/tracker/mappings", {
    method: "PUT",
    token: adminToken,
    body: JSON.stringify({ mappings: TRACKER_MAPPINGS }),
  });
  return r.stored;
}
