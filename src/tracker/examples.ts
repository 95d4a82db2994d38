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
