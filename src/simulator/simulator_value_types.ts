/**
 * Value-type checks behind conflict E7619 (reference §3.3), after DHIS2's
 * `ValidationUtils.valueIsValid`: the key goes into `objects.value`, the text into the message.
 * Texts marked (ref) are quoted by the reference; the others follow the same pattern.
 */
import { parsePeriod } from "../dhis2/periods.ts";

export interface ValueTypeViolation {
  key: string;
  text: string;
}

const INT_MAX = 2147483647;
// DHIS2 MathUtils patterns: no leading zeros, no leading '+', upper-case exponent only.
const NUMERIC = /^(-?0|-?[1-9]\d*)(\.\d+)?(E-?\d+)?$/;
const INTEGER = /^(0|-?[1-9]\d*)$/;

const isNumeric = (v: string) => NUMERIC.test(v) && Number.isFinite(Number(v));
const isInt = (v: string) => INTEGER.test(v) && Math.abs(Number(v)) <= INT_MAX;

const violation = (key: string, text: string): ValueTypeViolation => ({ key, text });
const NOT_NUMERIC = violation("value_not_numeric", "Data value is not numeric"); // (ref)
const NOT_INTEGER = violation("value_not_integer", "Data value is not an integer"); // (ref)
const NOT_POSITIVE = violation(
  "value_not_positive_integer",
  "Data value is not a positive integer",
); // (ref)
const NOT_BOOL = violation("value_not_bool", "Data value is not a boolean"); // (ref)
const NOT_DATE = violation("value_not_valid_date", "Data value is not a valid date"); // (ref)
const TOO_LONG = violation(
  "value_length_greater_than_max_length",
  "Data value is greater than max length", // (ref)
);

/** Longest TEXT value DHIS2's ValidationUtils accepts. */
export const MAX_TEXT_LENGTH = 50000;

/** Booleans as the reference lists them (§3.3, data.md "Value type requirements"). */
const BOOLEAN = new Set(["true", "True", "TRUE", "false", "False", "FALSE", "1", "0", "t", "f"]);
const TRUE_ONLY = new Set(["true", "True", "TRUE", "1", "t"]);

const NUMERIC_TYPES = new Set([
  "NUMBER",
  "INTEGER",
  "INTEGER_POSITIVE",
  "INTEGER_NEGATIVE",
  "INTEGER_ZERO_OR_POSITIVE",
  "PERCENTAGE",
  "UNIT_INTERVAL",
]);

export function isNumericType(valueType: string): boolean {
  return NUMERIC_TYPES.has(valueType);
}

/** Null when `value` fits `valueType`; unknown value types accept anything. */
export function checkValueType(valueType: string, value: string): ValueTypeViolation | null {
  switch (valueType) {
    case "NUMBER":
      return isNumeric(value) ? null : NOT_NUMERIC;
    case "INTEGER":
      return isInt(value) ? null : NOT_INTEGER;
    case "INTEGER_POSITIVE":
      return isInt(value) && Number(value) > 0 ? null : NOT_POSITIVE;
    case "INTEGER_NEGATIVE":
      return isInt(value) && Number(value) < 0
        ? null
        : violation("value_not_negative_integer", "Data value is not a negative integer");
    case "INTEGER_ZERO_OR_POSITIVE":
      return isInt(value) && Number(value) >= 0 ? null : violation(
        "value_not_zero_or_positive_integer",
        "Data value is not zero or positive integer",
      );
    case "PERCENTAGE":
      return isNumeric(value) && Number(value) >= 0 && Number(value) <= 100
        ? null
        : violation("value_not_percentage", "Data value is not a percentage");
    case "UNIT_INTERVAL":
      return isNumeric(value) && Number(value) >= 0 && Number(value) <= 1
        ? null
        : violation("value_not_unit_interval", "Data value is not a unit interval");
    case "BOOLEAN":
      return BOOLEAN.has(value) ? null : NOT_BOOL;
    case "TRUE_ONLY":
      return TRUE_ONLY.has(value)
        ? null
        : violation("value_not_true_only", "Data value is not true only");
    case "DATE":
      // yyyy-MM-dd of a day that exists: the Daily period parser already knows the calendar.
      return /^\d{4}-\d{2}-\d{2}$/.test(value) && parsePeriod(value) ? null : NOT_DATE;
    case "TEXT":
      return value.length > MAX_TEXT_LENGTH ? TOO_LONG : null;
    default:
      return null;
  }
}

/** A numeric zero, which DHIS2 does not store for elements with zeroIsSignificant=false. */
export function isZero(valueType: string, value: string | null): boolean {
  return value !== null && isNumericType(valueType) && isNumeric(value) && Number(value) === 0;
}
