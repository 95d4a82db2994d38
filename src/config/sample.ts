import { FIELDS } from "./fields.ts";

/** The sample dhis2gw.yml: every key, its default, its env var and what it does. */
export function sampleConfigYaml(): string {
  const lines = [
    "# dhis2gw configuration. Every key shows its default; every key can also be set by the",
    "# env var named beside it. Precedence: command-line flags, env vars, this file, defaults.",
    "# Secrets (marked) are better passed as env vars than written here.",
  ];
  let section = "";
  for (const f of FIELDS) {
    const [sec, key] = f.key.split(".");
    if (sec !== section) {
      lines.push("", `${sec}:`);
      section = sec;
    }
    const aliases = f.env.length > 1 ? ` (also ${f.env.slice(1).join(", ")})` : "";
    lines.push(`  # ${f.doc}${f.secret ? " Secret." : ""}`);
    lines.push(`  # env: ${f.env[0]}${aliases}`);
    const v = f.default;
    const shown = typeof v === "string" ? JSON.stringify(v) : String(v);
    lines.push(`  ${key}: ${shown}`);
  }
  return lines.join("\n") + "\n";
}
