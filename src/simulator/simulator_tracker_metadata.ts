/**
 * The simulator's tracker metadata: a person type with attributes, a tracker program (child
 * programme, two stages) and an event program (malaria case), after the Sierra Leone demo
 * database's UIDs where it has them. The org units are the aggregate seed's.
 */

export interface SimAttribute {
  id: string;
  code: string;
  name: string;
  valueType: string;
  options?: string[];
}

export interface SimTrackerDataElement {
  id: string;
  code: string;
  name: string;
  valueType: string;
  options?: string[];
}

export interface SimProgramStage {
  id: string;
  code: string;
  name: string;
  program: string;
  repeatable: boolean;
  dataElements: string[];
}

export interface SimProgram {
  id: string;
  code: string;
  name: string;
  /** With registration: a tracker program (enrollments, tracked entities). */
  registration: boolean;
  trackedEntityType?: string;
  organisationUnits: string[];
  attributes: string[];
  stages: string[];
}

export interface SimTrackerMetadata {
  trackedEntityTypes: Array<{ id: string; name: string; attributes: string[] }>;
  attributes: SimAttribute[];
  dataElements: SimTrackerDataElement[];
  programs: SimProgram[];
  programStages: SimProgramStage[];
  relationshipTypes: Array<{ id: string; name: string }>;
}

export const PERSON = "nEenWmSyUEp";
export const CHILD_PROGRAMME = "IpHINAT79UW";
export const BIRTH_STAGE = "A03MvHHogjR";
export const POSTNATAL_STAGE = "ZzYYXq4fJie";
export const MALARIA_PROGRAM = "eBAyeGv0exc";
export const MALARIA_STAGE = "Zj7UnCAulEk";

export function defaultTrackerMetadata(): SimTrackerMetadata {
  const ous = ["DiszpKrYNg8", "ouBaomaCHC1"];
  return {
    trackedEntityTypes: [{
      id: PERSON,
      name: "Person",
      attributes: ["w75KJ2mc4zz", "zDhUuAYrxNC", "cejWyOfXge6", "lZGmxYbs97q"],
    }],
    attributes: [
      { id: "w75KJ2mc4zz", code: "FIRST_NAME", name: "First name", valueType: "TEXT" },
      { id: "zDhUuAYrxNC", code: "LAST_NAME", name: "Last name", valueType: "TEXT" },
      {
        id: "cejWyOfXge6",
        code: "SEX",
        name: "Sex",
        valueType: "TEXT",
        options: ["MALE", "FEMALE"],
      },
      { id: "lZGmxYbs97q", code: "UNIQUE_ID", name: "Unique ID", valueType: "TEXT" },
      { id: "iESIqZ0R0R0", code: "DOB", name: "Date of birth", valueType: "DATE" },
    ],
    dataElements: [
      { id: "UXz7xuGCEhU", code: "WEIGHT_G", name: "Weight (g)", valueType: "INTEGER_POSITIVE" },
      {
        id: "GQY2lXrypjO",
        code: "APGAR",
        name: "Apgar score",
        valueType: "INTEGER_ZERO_OR_POSITIVE",
      },
      {
        id: "X8zyunlgUfM",
        code: "FEEDING",
        name: "Infant feeding",
        valueType: "TEXT",
        options: ["EXCLUSIVE", "MIXED", "REPLACEMENT"],
      },
      { id: "qrur9Dvnyt5", code: "AGE_YEARS", name: "Age in years", valueType: "INTEGER" },
      {
        id: "oZg33kd9taw",
        code: "GENDER",
        name: "Gender",
        valueType: "TEXT",
        options: ["MALE", "FEMALE"],
      },
      { id: "bx6fsa0t90x", code: "RDT_POSITIVE", name: "RDT positive", valueType: "BOOLEAN" },
    ],
    programs: [
      {
        id: CHILD_PROGRAMME,
        code: "CHILD",
        name: "Child Programme",
        registration: true,
        trackedEntityType: PERSON,
        organisationUnits: ous,
        attributes: ["w75KJ2mc4zz", "zDhUuAYrxNC", "cejWyOfXge6", "lZGmxYbs97q", "iESIqZ0R0R0"],
        stages: [BIRTH_STAGE, POSTNATAL_STAGE],
      },
      {
        id: MALARIA_PROGRAM,
        code: "MALARIA_CASE",
        name: "Malaria case",
        registration: false,
        organisationUnits: ous,
        attributes: [],
        stages: [MALARIA_STAGE],
      },
    ],
    programStages: [
      {
        id: BIRTH_STAGE,
        code: "BIRTH",
        name: "Birth",
        program: CHILD_PROGRAMME,
        repeatable: false,
        dataElements: ["UXz7xuGCEhU", "GQY2lXrypjO"],
      },
      {
        id: POSTNATAL_STAGE,
        code: "POSTNATAL",
        name: "Baby postnatal",
        program: CHILD_PROGRAMME,
        repeatable: true,
        dataElements: ["UXz7xuGCEhU", "X8zyunlgUfM"],
      },
      {
        id: MALARIA_STAGE,
        code: "MALARIA_CASE",
        name: "Malaria case",
        program: MALARIA_PROGRAM,
        repeatable: true,
        dataElements: ["qrur9Dvnyt5", "oZg33kd9taw", "bx6fsa0t90x"],
      },
    ],
    relationshipTypes: [{ id: "mxZDvSZYxlw", name: "Mother-Child" }],
  };
}
