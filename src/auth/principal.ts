/** Who is calling, as the auth middleware resolved it. */
export type Role = "admin" | "submitter" | "viewer";
export const ROLES: readonly Role[] = ["admin", "submitter", "viewer"];

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
}
