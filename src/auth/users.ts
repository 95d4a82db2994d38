/**
 * Account rules shared by the HTTP routes and the `user` CLI: the password policy as a 422 that
 * names the field, role resolution from the old body's `isAdminUser`, the last-admin guard, and
 * the public JSON shape of a user (which never includes the hash).
 */
import type { Db } from "../db/db.ts";
import { PG, pgCode } from "../db/db.ts";
import { generateUid } from "../dhis2/uid.ts";
import { AppError, conflict, type FieldProblem, validationFailed } from "../http/errors.ts";
import { checkPasswordPolicy, hashPassword } from "./password.ts";
import type { Role } from "./principal.ts";
import { countActiveAdmins, insertUser, type UserChanges, type UserRow } from "./queries.ts";

export function toUserJson(u: UserRow) {
  return {
    uid: u.uid,
    username: u.username,
    firstName: u.first_name,
    lastName: u.last_name,
    email: u.email,
    telephone: u.telephone,
    role: u.role,
    isActive: u.is_active,
    isAdminUser: u.role === "admin",
    sourceName: u.source_name,
    lastLogin: u.last_login?.toISOString() ?? null,
    created: u.created.toISOString(),
    updated: u.updated.toISOString(),
  };
}

/** 422 naming `password` and every reason it is too weak, or nothing when it is acceptable. */
export function assertStrongPassword(password: string, username: string, field = "password") {
  const reasons = checkPasswordPolicy(password, { username });
  if (reasons.length === 0) return;
  const problems: FieldProblem[] = reasons.map((message) => ({ field, message }));
  throw validationFailed(`${field} is too weak: it ${reasons.join("; it ")}`, problems);
}

/**
 * The old body's `isAdminUser` and the new `role` together. `isAdminUser: true` alone means
 * admin; a contradiction is a 422 rather than a silent guess.
 */
export function resolveRole(
  role: Role | undefined,
  isAdminUser: boolean | undefined,
  current?: Role,
): Role | undefined {
  if (role !== undefined) {
    if (isAdminUser === true && role !== "admin") {
      throw validationFailed("isAdminUser contradicts role", [
        { field: "isAdminUser", message: `is true but role is ${role}` },
      ]);
    }
    if (isAdminUser === false && role === "admin") {
      throw validationFailed("isAdminUser contradicts role", [
        { field: "isAdminUser", message: "is false but role is admin" },
      ]);
    }
    return role;
  }
  if (isAdminUser === true) return "admin";
  if (isAdminUser === false && current === "admin") {
    throw validationFailed("say which role the user gets instead of admin", [
      { field: "role", message: "is required when isAdminUser turns an admin into a non-admin" },
    ]);
  }
  return current;
}

export interface CreateUserInput {
  username: string;
  password: string;
  role: Role;
  firstName?: string;
  lastName?: string;
  email?: string | null;
  telephone?: string;
  isActive?: boolean;
  sourceName?: string;
}

export async function createUser(sql: Db, input: CreateUserInput): Promise<UserRow> {
  assertStrongPassword(input.password, input.username);
  try {
    return await insertUser(sql, {
      uid: generateUid(),
      username: input.username,
      password_hash: await hashPassword(input.password),
      first_name: input.firstName,
      last_name: input.lastName,
      email: input.email || null,
      telephone: input.telephone,
      role: input.role,
      is_active: input.isActive,
      source_name: input.sourceName,
    });
  } catch (err) {
    throw uniqueToConflict(err, input.username);
  }
}

export function uniqueToConflict(err: unknown, username?: string): unknown {
  if (pgCode(err) === PG.uniqueViolation) {
    return conflict(`the username ${username ?? ""} is already taken`.replace("  ", " "), [
      { field: "username", message: "is already taken" },
    ]);
  }
  return err;
}

/**
 * Refuses a change that would leave no active admin: nobody could then manage users without
 * the CLI. Counted inside the caller's transaction.
 */
export async function assertNotLastAdmin(
  sql: Db,
  target: UserRow,
  changes: UserChanges,
): Promise<void> {
  const losesAdmin = target.role === "admin" && target.is_active &&
    ((changes.role !== undefined && changes.role !== "admin") || changes.is_active === false);
  if (losesAdmin && await countActiveAdmins(sql, target.id) === 0) {
    throw new AppError(
      "conflict",
      "this is the last active admin: make another user admin first",
    );
  }
}
