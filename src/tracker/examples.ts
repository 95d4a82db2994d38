/** Request examples for the OpenAPI document (the simulator's seed program, sim metadata). */

export const TRACKER_EXAMPLE = {
  trackedEntities: [{
    trackedEntityType: "nEenWmSyUEp",
    orgUnit: "DiszpKrYNg8",
    attributes: [
      { attribute: "w75KJ2mc4zz", value: "Jane" },
      { attribute: "zDhUuAYrxNC", value: "Doe" },
    ],
    enrollments: [{
      program: "IpHINAT79UW",
      orgUnit: "DiszpKrYNg8",
      enrolledAt: "2024-03-01",
      events: [{
        programStage: "A03MvHHogjR",
        orgUnit: "DiszpKrYNg8",
        occurredAt: "2024-03-01",
        status: "COMPLETED",
        dataValues: [{ dataElement: "UXz7xuGCEhU", value: "3200" }],
      }],
    }],
  }],
};

export const CODED_EVENT_EXAMPLE = {
  program: "MALARIA_CASE",
  programStage: "MALARIA_CASE",
  orgUnit: "OU_559",
  occurredAt: "2024-05-01",
  status: "COMPLETED",
  dataValues: { AGE_YEARS: 34, GENDER: "F", RDT_POSITIVE: true },
};

export const CODED_PERSON_EXAMPLE = {
  trackedEntityType: "PERSON",
  orgUnit: "OU_559",
  attributes: { FIRST_NAME: "Jane", LAST_NAME: "Doe", SEX: "F" },
  enrollment: {
    program: "CHILD",
    enrolledAt: "2024-03-01",
    events: [
      { programStage: "BIRTH", occurredAt: "2024-03-01", dataValues: { WEIGHT_G: 3200 } },
      { programStage: "POSTNATAL", occurredAt: "2024-03-15", dataValues: { FEEDING: "EBF" } },
    ],
  },
};
