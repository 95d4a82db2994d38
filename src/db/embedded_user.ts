/**
 * PostgreSQL refuses to run as root. When dhis2gw runs as root (a service manager, a container
 * without a USER), the embedded server runs as `database.embedded_os_user` (default `dhis2gw`,
 * the user the .deb creates). On Linux, a missing user is created as a system user with no
 * login shell and no home (useradd --system), since a root gateway may create one; on macOS
 * the start stops with a one-line message instead.
 */
import type { Logger } from "../logs/logger.ts";

/** undefined: the server runs as dhis2gw's own (non-root) user. */
export type ServerUser = { uid: number; gid: number; name: string } | undefined;

export async function serverUser(name: string, log: Logger): Promise<ServerUser> {
  if (Deno.uid() !== 0) return undefined;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) {
    throw new Error(
      `database.embedded_os_user (env DHIS2GW_EMBEDDED_OS_USER): "${name}" is not a user name`,
    );
  }
  let ids = await lookup(name);
  if (!ids && Deno.build.os === "linux") {
    const out = await new Deno.Command("useradd", {
      args: [
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        name,
      ],
      stdout: "null",
      stderr: "piped",
    }).output().catch((err) => ({ success: false, stderr: new TextEncoder().encode(String(err)) }));
    if (!out.success) {
      throw new Error(
        `running as root, the embedded PostgreSQL needs the OS user "${name}", which does not exist and could not be created (${
          new TextDecoder().decode(out.stderr).trim()
        }); create it or set DHIS2GW_EMBEDDED_OS_USER`,
      );
    }
    log.info("created the system user the embedded PostgreSQL runs as", { user: name });
    ids = await lookup(name);
  }
  if (!ids) {
    throw new Error(
      `running as root, the embedded PostgreSQL needs the OS user "${name}", which does not exist; create it, set DHIS2GW_EMBEDDED_OS_USER to another user, or run dhis2gw as a normal user`,
    );
  }
  if (ids.uid === 0) {
    throw new Error(
      `DHIS2GW_EMBEDDED_OS_USER names root ("${name}"); PostgreSQL does not run as root`,
    );
  }
  return { ...ids, name };
}

async function lookup(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const id = async (flag: string) => {
    const out = await new Deno.Command("id", {
      args: [flag, name],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return out.success && Number.isInteger(n) ? n : undefined;
  };
  const uid = await id("-u");
  const gid = await id("-g");
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/**
 * The server's user must be able to walk to the data folder: a 0700 folder above it (a home
 * folder, a `mktemp -d`) stops initdb with a bare "Permission denied".
 */
export async function checkReachable(dir: string, user: ServerUser): Promise<void> {
  if (!user) return;
  const out = await new Deno.Command("test", {
    args: ["-x", dir],
    uid: user.uid,
    gid: user.gid,
    stdout: "null",
    stderr: "null",
  }).output();
  if (!out.success) {
    throw new Error(
      `the embedded PostgreSQL runs as the OS user "${user.name}", who cannot enter ${dir}: let it through the folders above (chmod o+x), or choose another DHIS2GW_DATA_DIR`,
    );
  }
}
