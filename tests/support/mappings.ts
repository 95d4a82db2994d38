/** Helpers for the mappings tests: uploads, JSON calls and a stored-rows fingerprint. */
import type { Role } from "../../src/auth/principal.ts";
import type { TestApp } from "./app.ts";
import type { TestDb } from "./pg.ts";

export const DE1 = "f7n9E0hX8qk";
export const DE2 = "deMalCases1";
export const COC_M = "cocMale0001";
export const COC_F = "cocFemale01";
export const DS = "pBOMPrpg1QX";
export const OU = "DiszpKrYNg8";

export async function upload(
  t: TestApp,
  kind: "csv" | "excel",
  file: Uint8Array | string,
  opts: { query?: Record<string, string>; as?: Role; filename?: string } = {},
): Promise<Response> {
  const form = new FormData();
  const bytes = typeof file === "string" ? new TextEncoder().encode(file) : file;
  const name = opts.filename ?? (kind === "csv" ? "mappings.csv" : "mappings.xlsx");
  form.set("file", new File([bytes as BlobPart], name));
  const q = new URLSearchParams(opts.query ?? {});
  return await t.app.request(`/api/v3/mappings/import/${kind}?${q}`, {
    method: "POST",
    headers: t.users[opts.as ?? "admin"].headers.token,
    body: form,
  });
}

export async function call(
  t: TestApp,
  method: string,
  path: string,
  opts: { body?: unknown; as?: Role } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...t.users[opts.as ?? "admin"].headers.token };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  return await t.app.request(`/api/v3${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
}

export async function download(t: TestApp, path: string, as: Role = "admin") {
  const res = await t.app.request(`/api/v3${path}`, { headers: t.users[as].headers.token });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** Every stored row with its timestamps, to prove that nothing changed. */
export async function storedState(db: TestDb): Promise<string> {
  const rows = await db.sql`select * from dhis2_mappings order by uid`;
  const [v] = await db.sql`select version from dhis2_mapping_version`;
  return JSON.stringify({ rows, version: v.version });
}

export function csv(lines: string[]): string {
  return lines.join("\r\n") + "\r\n";
}

/**
 * A real zip bomb named like a workbook: one entry of `mib` MiB of zeros, honestly declared,
 * with its true CRC, deflated to a few hundred KB. Built by streaming, never held inflated.
 */
export async function zipBomb(mib: number): Promise<Uint8Array> {
  const { crc32 } = await import("node:zlib");
  const MiB = 1024 * 1024;
  const zeros = new Uint8Array(MiB);
  let crc = 0;
  for (let i = 0; i < mib; i++) crc = crc32(zeros, crc);
  const stream = new CompressionStream("deflate-raw");
  const writer = stream.writable.getWriter();
  const writing = (async () => {
    for (let i = 0; i < mib; i++) await writer.write(zeros);
    await writer.close();
  })();
  const data = new Uint8Array(await new Response(stream.readable).arrayBuffer());
  await writing;

  const name = new TextEncoder().encode("xl/worksheets/sheet1.xml");
  const local = new Uint8Array(30 + name.length);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true);
  lv.setUint16(4, 20, true);
  lv.setUint16(8, 8, true);
  lv.setUint32(14, crc, true);
  lv.setUint32(18, data.length, true);
  lv.setUint32(22, mib * MiB, true);
  lv.setUint16(26, name.length, true);
  local.set(name, 30);
  const cd = new Uint8Array(46 + name.length);
  const cv = new DataView(cd.buffer);
  cv.setUint32(0, 0x02014b50, true);
  cv.setUint16(6, 20, true);
  cv.setUint16(10, 8, true);
  cv.setUint32(16, crc, true);
  cv.setUint32(20, data.length, true);
  cv.setUint32(24, mib * MiB, true);
  cv.setUint16(28, name.length, true);
  cd.set(name, 46);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, 1, true);
  ev.setUint16(10, 1, true);
  ev.setUint32(12, cd.length, true);
  ev.setUint32(16, local.length + data.length, true);
  const out = new Uint8Array(local.length + data.length + cd.length + eocd.length);
  let p = 0;
  for (const part of [local, data, cd, eocd]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}
