/**
 * Real DHIS2 replies for tests: the captured fixtures of reference §9 (trimmed as there) and
 * the shapes §1, §3.4, §3.6 and §8.1 give. Shared so other domains' tests (the delivery
 * worker's, the gateway's end-to-end ones) assert against the same bodies.
 */

/** §9.1: 2.40.9 OK reply, WebMessage-wrapped. */
export const OK_2_40 = {
  httpStatus: "OK",
  httpStatusCode: 200,
  status: "OK",
  message: "Import was successful.",
  response: {
    responseType: "ImportSummary",
    status: "SUCCESS",
    importOptions: { idSchemes: {}, dryRun: true, importStrategy: "CREATE_AND_UPDATE" },
    description: "Import process completed successfully",
    importCount: { imported: 1, updated: 0, ignored: 0, deleted: 0 },
    conflicts: [],
    rejectedIndexes: [],
    dataSetComplete: "false",
  },
};

export const E7610_1 = {
  object: "INVALID_1",
  objects: { dataElement: "INVALID_1" },
  value: "Data element not found or not accessible: `INVALID_1`",
  errorCode: "E7610",
  property: "dataElement",
  indexes: [1],
};
export const E7610_2 = {
  object: "INVALID_2",
  objects: { dataElement: "INVALID_2" },
  value: "Data element not found or not accessible: `INVALID_2`",
  errorCode: "E7610",
  property: "dataElement",
  indexes: [2],
};

/** §9.2: 2.40.9 WARNING reply with HTTP 409 and two E7610 conflicts. */
export const WARNING_2_40 = {
  httpStatus: "Conflict",
  httpStatusCode: 409,
  status: "WARNING",
  message: "One more conflicts encountered, please check import summary.",
  response: {
    responseType: "ImportSummary",
    status: "WARNING",
    description: "Import process completed successfully",
    importCount: { imported: 1, updated: 0, ignored: 2, deleted: 0 },
    conflicts: [E7610_1, E7610_2],
    rejectedIndexes: [1, 2],
    dataSetComplete: "false",
  },
};

/** §9.4: a bare ImportSummary (pre-2.38, `/api/37/…`, task summaries). */
export const BARE_SUCCESS = {
  responseType: "ImportSummary",
  status: "SUCCESS",
  importOptions: { idSchemes: {}, dryRun: false, async: true },
  description: "Import process completed successfully",
  importCount: { imported: 0, updated: 431, ignored: 0, deleted: 0 },
  dataSetComplete: "false",
};

/** §3.3/§3.4: a data-set level abort (E7600) – WebMessage ERROR, 409, no indexes. */
export const ABORTED = {
  httpStatus: "Conflict",
  httpStatusCode: 409,
  status: "ERROR",
  message: "An error occurred, please check import summary.",
  response: {
    responseType: "ImportSummary",
    status: "ERROR",
    description: "Import process was aborted",
    importCount: { imported: 0, updated: 0, ignored: 0, deleted: 0 },
    conflicts: [{
      object: "xxxxxxxxxxx",
      objects: { dataSet: "xxxxxxxxxxx" },
      value: "Data set not found or not accessible: `xxxxxxxxxxx`",
      errorCode: "E7600",
      property: "dataSet",
    }],
    rejectedIndexes: [],
    dataSetComplete: "false",
  },
};

/** §3.6: malformed JSON → 409 with a failed summary. */
export const FAILED = {
  httpStatus: "Conflict",
  httpStatusCode: 409,
  status: "ERROR",
  message: "An error occurred, please check import summary.",
  response: {
    responseType: "ImportSummary",
    status: "ERROR",
    description: "The import process failed: No content to map due to end-of-input",
    importCount: { imported: 0, updated: 0, ignored: 0, deleted: 0 },
    conflicts: [],
    rejectedIndexes: [],
    dataSetComplete: "false",
  },
};

export const UNAUTHORIZED = {
  httpStatus: "Unauthorized",
  httpStatusCode: 401,
  status: "ERROR",
  message: "Unauthorized",
};
export const FORBIDDEN = {
  httpStatus: "Forbidden",
  httpStatusCode: 403,
  status: "ERROR",
  message: "Access is denied",
};
export const BAD_CHECKSUM = {
  httpStatus: "Bad Request",
  httpStatusCode: 400,
  status: "ERROR",
  message: "Checksum validation failed",
};
export const BAD_ENUM = {
  httpStatus: "Bad Request",
  httpStatusCode: 400,
  status: "ERROR",
  message: "Value 'FOO' is not valid for parameter importStrategy.",
};
export const JSON_PARSE_409 = {
  httpStatus: "Conflict",
  httpStatusCode: 409,
  status: "ERROR",
  message: "Unexpected character",
};
