/** DHIS2 UIDs: 11 characters, a letter then ten letters or digits (CodeGenerator.UID_REGEXP). */
export const UID_PATTERN = /^[a-zA-Z][a-zA-Z0-9]{10}$/;

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHANUMERIC = LETTERS + "0123456789";

export function isUid(value: unknown): value is string {
  return typeof value === "string" && UID_PATTERN.test(value);
}

/** A new UID drawn as DHIS2 does: first char from the 52 letters, the rest from 62 alphanumerics. */
export function generateUid(): string {
  const bytes = crypto.getRandomValues(new Uint32Array(11));
  let out = LETTERS[bytes[0] % LETTERS.length];
  for (let i = 1; i < 11; i++) out += ALPHANUMERIC[bytes[i] % ALPHANUMERIC.length];
  return out;
}
