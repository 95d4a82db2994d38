/** Who is calling, as the auth middleware resolved it. */
export const ROLES = ["admin", "submitter", "viewer"] as const;
export type Role = (typeof ROLES)[number];
/** A new user's role when none is given: the least a machine client needs. */
export const DEFAULT_ROLE: Role = "submitter";

export interface Principal {
  userId: number;
  uid: string;
  username: string;
  role: Role;
  /** Which mappings apply to this caller's submissions (set by an admin on the user or token). */
  sourceName: string;
  via: "bearer" | "token" | "basic";
  /** The API token used, when `via` is "token". */
  tokenId?: number;
  /**
   * With `via` "bearer": when the login behind the access token checked the password, in
   * seconds (the JWT's `auth_time`); absent when unknown. Basic checks it on every request.
   */
  authTime?: number;
  /**
   * The user's `token_generation` when this credential was checked. A password change, reset or
   * deactivation moves it on, so a long-lived credential minted on the strength of this one is
   * refused when the two differ (see lockUserCredentials).
   */
  generation: number;
}
