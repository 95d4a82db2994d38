/**
 * The settings the warnings read. Not the whole Config: loadConfig warns from what it parsed
 * even when other keys are problems (so `config check` prints both at once), and a key that
 * failed to parse is absent here, already named by its problem.
 */
export interface WarnedSettings {
  api?: {
    dhis2_base_url?: string;
    dhis2_auth_method?: string;
    dhis2_pat?: string;
    dhis2_user?: string;
    dhis2_password?: string;
  };
}

/**
 * Settings that parse but leave the gateway unable to deliver: reported by `config check` and
 * logged at warn by `serve`, not fatal (a gateway may take submissions while DHIS2 is being
 * set up). A missing URL or credential otherwise shows up only at the first delivery.
 */
export function configWarnings(cfg: WarnedSettings): string[] {
  const out: string[] = [];
  const a = cfg.api;
  if (!a) return out;
  if (a.dhis2_base_url === "") {
    out.push(
      "api.dhis2_base_url (env DHIS2GW_DHIS2_BASE_URL) is not set: submissions are accepted but none can be delivered",
    );
  }
  if (a.dhis2_auth_method === undefined) return out;
  if (a.dhis2_auth_method === "pat") {
    if (a.dhis2_pat === "") {
      out.push(
        "api.dhis2_auth_method is pat but api.dhis2_pat (env DHIS2GW_DHIS2_PAT) is not set: DHIS2 will refuse every delivery",
      );
    }
  } else {
    const missing = [
      a.dhis2_user === "" && "api.dhis2_user (env DHIS2GW_DHIS2_USER)",
      a.dhis2_password === "" && "api.dhis2_password (env DHIS2GW_DHIS2_PASSWORD)",
    ].filter(Boolean);
    if (missing.length) {
      out.push(
        `api.dhis2_auth_method is basic but ${missing.join(" and ")} ${
          missing.length > 1 ? "are" : "is"
        } not set: DHIS2 will refuse every delivery`,
      );
    }
  }
  return out;
}

/**
 * The DHIS2 instances deliveries can go to, by the name mappings use (`instance_name`). Today
 * the one `api.dhis2_*` destination, named "default"; the list grows with `destinations:`.
 */
export function destinationNames(cfg: { api: { dhis2_base_url: string } }): string[] {
  return cfg.api.dhis2_base_url ? ["default"] : [];
}
