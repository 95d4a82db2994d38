/**
 * Whether another process holds a data folder's `dhis2gw.lock` (the embedded database's lock,
 * src/db/embedded.ts), found without creating or changing anything in the folder: a tool about
 * to wipe a folder asks this first.
 */
export async function dataDirHolder(dataDir: string): Promise<{ pid?: string } | undefined> {
  const lockPath = `${dataDir}/dhis2gw.lock`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(lockPath, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  try {
    if (await file.tryLock(true)) {
      await file.unlock();
      return undefined;
    }
  } finally {
    file.close();
  }
  const pid = (await Deno.readTextFile(lockPath).catch(() => "")).trim();
  return { pid: pid || undefined };
}
