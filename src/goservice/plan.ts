/**
 * How one row of the old Go service's tables becomes a dhis2gw row, as pure functions: what is
 * kept, what is cleaned (and said so), what cannot come over (and why). The old schema and its
 * oddities are in /work/shared/reference/old-go-service.md §4–§6; apply.ts writes the result.
 */
import { isLegacyBcrypt } from "../auth/password.ts";
import type { Role } from "../auth/principal.ts";
import { LEGACY_TOKEN } from "../auth/service.ts";
import type { FinishedStatus } from "../queue/queries.ts";
import { type MappingInput, mappingInputSchema } from "../mappings/model.ts";

/** A row of the old `users` joined with its role's name. */
export interface OldUser {
  id: number;
  uid: string | null;
  username: string;
  password: string | null;
  firstname: string | null;
  lastname: string | null;
  telephone: string | null;
  email: string | null;
  is_active: boolean | null;
  is_admin_user: boolean | null;
  role_name: string | null;
}

export interface OldToken {
  id: number;
  user_id: number;
  token: string | null;
  is_active: boolean | null;
  expires_at: Date | null;
}

/** `select *` of the old `dhis2_mappings`: columns differ by the old version's migrations. */
export type OldMapping = Record<string, unknown> & { id: number };

export interface OldSubmission {
  id: number;
  submitted_at: Date;
  last_attempt_at: Date | null;
  payload_text: string;
  status: string | null;
  task_id: string | null;
  response: string | null;
  errors: string | null;
  dhis2_payload: string | null;
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}$/;
const UID = /^[a-zA-Z][a-zA-Z0-9]{10}$/;

export type UserPlan =
  | {
    ok: true;
    username: string;
    uid: string | null;
    passwordHash: string;
    /** The stored hash is no bcrypt: this user cannot log in until a reset. */
    unusablePassword: boolean;
    role: Role;
    firstName: string;
    lastName: string;
    email: string | null;
    telephone: string;
    isActive: boolean;
  }
  | { ok: false; reason: string };

/**
 * The old service enforced no roles (every signed-in caller could do everything, §6.5), so
 * the old admin flag decides: admins stay admins, everyone else becomes a submitter, the
 * least that lets an old client keep submitting.
 */
export function planUser(u: OldUser): UserPlan {
  const username = (u.username ?? "").trim();
  if (!USERNAME.test(username)) {
    return {
      ok: false,
      reason: "username must be 3-64 letters, digits or . _ @ + -, starting with a letter or digit",
    };
  }
  const hash = u.password ?? "";
  const admin = u.is_admin_user === true || u.role_name === "Administrator";
  return {
    ok: true,
    username,
    uid: u.uid && UID.test(u.uid) ? u.uid : null,
    passwordHash: isLegacyBcrypt(hash) ? hash : "!unreadable-go-service-hash",
    unusablePassword: !isLegacyBcrypt(hash),
    role: admin ? "admin" : "submitter",
    firstName: (u.firstname ?? "").trim(),
    lastName: (u.lastname ?? "").trim(),
    email: u.email?.trim() ? u.email.trim() : null,
    telephone: (u.telephone ?? "").trim(),
    isActive: u.is_active !== false,
  };
}

export type TokenPlan = { ok: true; token: string; expires: Date; note?: string } | {
  ok: false;
  reason: string;
};

/**
 * Active 40-hex tokens keep working under the same string, for auth.token_max_lifetime_days at
 * most: the old service wrote `expires_at` (now + 365 days) but never checked it, so a date
 * already past would break a client that worked the day before; such a token gets the full
 * lifetime from now, and the report says so.
 */
export function planToken(t: OldToken, maxDays: number, now = new Date()): TokenPlan {
  if (t.is_active === false) return { ok: false, reason: "deactivated in the old service" };
  const token = (t.token ?? "").trim();
  if (!LEGACY_TOKEN.test(token)) return { ok: false, reason: "not a 40-hex token" };
  const cap = new Date(now.getTime() + maxDays * 86_400_000);
  if (!t.expires_at) return { ok: true, token, expires: cap };
  if (t.expires_at.getTime() <= now.getTime()) {
    return {
      ok: true,
      token,
      expires: cap,
      note: `its expires_at ${
        t.expires_at.toISOString().slice(0, 10)
      } had passed (the old service never checked it); it now runs auth.token_max_lifetime_days`,
    };
  }
  return { ok: true, token, expires: t.expires_at < cap ? t.expires_at : cap };
}

/**
 * The old export wrote the `*string` combo column with fmt.Sprint (§4.2): `<nil>` for none, a
 * pointer address `0xc…` for a value, which later imports stored as text. Neither is a combo;
 * empty is DHIS2's default, which is what `<nil>` meant and the best a lost pointer allows.
 */
export function cleanGoCombo(value: unknown): { value: string; was?: string } {
  const text = typeof value === "string" ? value.trim() : "";
  if (text === "<nil>" || /^0x[0-9a-f]+$/i.test(text)) return { value: "", was: text };
  return { value: text };
}

export type MappingPlan =
  | { ok: true; input: MappingInput; uid: string | null; cleaned: string[] }
  | { ok: false; reason: string; cleaned: string[] };

const str = (v: unknown) => (typeof v === "string" ? v : v == null ? "" : String(v)).trim();

export function planMapping(m: OldMapping): MappingPlan {
  const cleaned: string[] = [];
  const coc = cleanGoCombo(m.category_option_combo);
  if (coc.was !== undefined) cleaned.push(`category_option_combo "${coc.was}" → empty`);
  for (const col of ["source_name", "instance_name"]) {
    // Such rows were invisible to the old submission path, which looked up "default" (§10.1-12).
    if (str(m[col]) === "") cleaned.push(`${col} '' → default`);
  }
  let what = str(m.what).toLowerCase();
  if (what === "") {
    const orgUnitRow = str(m.dataelement) === "" && str(m.dest_orgunit) !== "";
    what = orgUnitRow ? "ou" : "de";
    cleaned.push(`what '' → ${what}`);
  }
  const parsed = mappingInputSchema.safeParse({
    code: str(m.code),
    what,
    name: str(m.name),
    description: str(m.description),
    dataSet: str(m.dataset),
    dataElement: str(m.dataelement),
    categoryOptionCombo: coc.value,
    attributeOptionCombo: "",
    categoryOption: str(m.category_option),
    categoryCombo: str(m.category_combo),
    instanceName: str(m.instance_name),
    sourceName: str(m.source_name),
    sourceOrgUnit: str(m.source_orgunit),
    destinationOrgUnit: str(m.dest_orgunit),
  });
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ");
    return { ok: false, reason, cleaned };
  }
  const uid = str(m.uid);
  return { ok: true, input: parsed.data, uid: UID.test(uid) ? uid : null, cleaned };
}

/** What became of an old submission_log row. */
export interface SubmissionOutcome {
  status: FinishedStatus;
  /** True when DHIS2 (or the old worker) answered: an attempt row is written. */
  attempted: boolean;
  /** The attempt's outcome (delivery_attempts.outcome). */
  outcome?: "delivered" | "partial" | "rejected" | "dead";
  /** Listed for the admin: never finished, or failed, in the old service. */
  requeueCandidate: "never_finished" | "failed" | null;
}

/**
 * The statuses the old service stored (§5.2): DHIS2's top-level status on a 200 (`OK`,
 * `WARNING`; `SUCCESS`/`ERROR` from pre-2.38 DHIS2), `failed` for any error, `queued` until
 * then. Anything else (the UI's Asynq words, an empty status) never got an answer either.
 */
export function mapOldStatus(status: string | null): SubmissionOutcome {
  switch ((status ?? "").trim()) {
    case "OK":
    case "SUCCESS":
      return { status: "delivered", attempted: true, outcome: "delivered", requeueCandidate: null };
    case "WARNING":
      return { status: "partial", attempted: true, outcome: "partial", requeueCandidate: null };
    case "ERROR":
      return { status: "rejected", attempted: true, outcome: "rejected", requeueCandidate: null };
    case "failed":
      return { status: "dead", attempted: true, outcome: "dead", requeueCandidate: "failed" };
    default:
      return { status: "dead", attempted: false, requeueCandidate: "never_finished" };
  }
}

/** The note on a delivery imported as dead, which the logs and the console show as its error. */
export function deadNote(oldStatus: string | null, why: string | null, requeueable: boolean) {
  const was = oldStatus ? `status "${oldStatus}"` : "no status";
  const then = requeueable
    ? "requeue it (POST /api/v3/logs/{id}/requeue) to send it with today's mappings"
    : `it cannot be requeued as it is (${why}); ask its sender to submit it again`;
  return `imported from the old Go service, where it never finished (${was}; what its Redis ` +
    `queue held could not be read): ${then}`;
}
