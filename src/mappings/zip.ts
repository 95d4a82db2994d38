/**
 * The ZIP guard in front of SheetJS. SheetJS's own unzip trusts the sizes a file declares: it
 * allocates whatever the central directory or a ZIP64 field claims, grows its buffer without
 * bound when a local header says 0, and keeps inflating (in pure JS) past a size that lied. So a
 * workbook is unpacked here instead: sizes are read from the central directory and refused before
 * anything is inflated, each entry is then inflated natively with a hard cap at its declared size,
 * and SheetJS gets a re-packed copy whose entries are stored uncompressed, which it only slices.
 */
import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";
import { AppError } from "../http/errors.ts";
import { formatBytes, type ImportLimits } from "./formats.ts";

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

/** A workbook has a dozen parts plus one per sheet or picture; thousands means something else. */
const MAX_ENTRIES = 1000;

const SIG_EOCD = 0x06054b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const ZIP64_EXTRA = 0x0001;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 &&
    bytes[3] === 0x04;
}

function corrupt(detail: string): AppError {
  return new AppError("bad_request", `the workbook is damaged (not a valid ZIP file): ${detail}`);
}

/** Entries listed by the central directory, read without inflating anything. */
export function readCentralDirectory(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The last end-of-central-directory signature, which must really end the file (its comment
  // reaching exactly to the end): bytes after it would be a second archive to guess about.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= 0 && i >= bytes.length - 22 - 0xffff; i--) {
    if (view.getUint32(i, true) === SIG_EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt("no end of central directory record");
  if (eocd + 22 + view.getUint16(eocd + 20, true) !== bytes.length) {
    throw corrupt("data after the end of central directory record");
  }
  const count = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0) throw corrupt("the archive is empty");
  if (count === 0xffff || cdOffset === 0xffffffff) throw corrupt("ZIP64 archives are not accepted");
  if (count > MAX_ENTRIES) throw corrupt(`${count} entries (at most ${MAX_ENTRIES})`);
  if (cdOffset + cdSize > eocd) throw corrupt("central directory outside the file");

  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw corrupt(`central directory entry ${n + 1} is malformed`);
    }
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > eocd) throw corrupt(`central directory entry ${n + 1} runs past its end`);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    if (hasZip64Field(view, p + 46 + nameLength, extraLength)) {
      throw corrupt(`entry ${name} uses ZIP64 sizes, which a workbook this small never needs`);
    }
    entries.push({
      name,
      method: view.getUint16(p + 10, true),
      compressedSize: view.getUint32(p + 20, true),
      uncompressedSize: view.getUint32(p + 24, true),
      localHeaderOffset: view.getUint32(p + 42, true),
    });
    p = end;
  }
  return entries;
}

function hasZip64Field(view: DataView, start: number, length: number): boolean {
  for (let q = start; q + 4 <= start + length; q += 4 + view.getUint16(q + 2, true)) {
    if (view.getUint16(q, true) === ZIP64_EXTRA) return true;
  }
  return false;
}

/** Refuse, from the declared sizes alone, what would inflate to too much. */
export function checkDeclaredSizes(entries: readonly ZipEntry[], limits: ImportLimits): void {
  let declared = 0;
  let compressed = 0;
  for (const e of entries) {
    declared += e.uncompressedSize;
    compressed += e.compressedSize;
  }
  if (declared > limits.maxDecompressedBytes) {
    throw new AppError(
      "payload_too_large",
      `the workbook unpacks to ${formatBytes(declared)}; the limit is ${
        formatBytes(limits.maxDecompressedBytes)
      }`,
    );
  }
  // Unpacking to no more than a plain upload may weigh is harmless however well it compresses;
  // past that, only a bomb compresses better than the limit.
  const ratio = declared / Math.max(compressed, 1);
  if (declared > limits.maxBytes && ratio > limits.maxCompressionRatio) {
    throw new AppError(
      "payload_too_large",
      `the workbook's compression ratio is ${
        Math.round(ratio)
      }:1 (at most ${limits.maxCompressionRatio}:1 is accepted; this looks like a ZIP bomb)`,
    );
  }
}

/** Inflate one entry, never producing more than it declared. */
function extract(bytes: Uint8Array, view: DataView, e: ZipEntry): Uint8Array {
  const h = e.localHeaderOffset;
  if (h + 30 > bytes.length || view.getUint32(h, true) !== SIG_LOCAL) {
    throw corrupt(`local header of ${e.name} not found`);
  }
  const localName = view.getUint16(h + 26, true);
  const localExtra = view.getUint16(h + 28, true);
  const start = h + 30 + localName + localExtra;
  if (start + e.compressedSize > bytes.length) throw corrupt(`entry ${e.name} is truncated`);
  if (hasZip64Field(view, h + 30 + localName, localExtra)) {
    throw corrupt(`entry ${e.name} uses ZIP64 sizes`);
  }
  const data = bytes.subarray(start, start + e.compressedSize);
  if (e.method === 0) {
    if (e.compressedSize !== e.uncompressedSize) {
      throw corrupt(`stored entry ${e.name} sizes differ`);
    }
    return data;
  }
  if (e.method !== 8) throw corrupt(`entry ${e.name} uses compression method ${e.method}`);
  let out: Uint8Array;
  try {
    // Node's zlib refuses a zero cap, hence the +1; the length check below catches the extra byte.
    out = inflateRawSync(data, { maxOutputLength: e.uncompressedSize + 1 });
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new AppError(
        "payload_too_large",
        `entry ${e.name} inflates to more than the ${e.uncompressedSize} bytes it declares ` +
          "(a ZIP bomb)",
      );
    }
    throw corrupt(`entry ${e.name} does not inflate (${(err as Error).message})`);
  }
  if (out.length !== e.uncompressedSize) {
    throw new AppError(
      out.length > e.uncompressedSize ? "payload_too_large" : "bad_request",
      `entry ${e.name} inflates to ${out.length} bytes but declares ${e.uncompressedSize}`,
    );
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length); // a plain view, not a Buffer
}

/** Every file of a ZIP, each inflated with a cap at its declared size (see extract). */
export function unzip(bytes: Uint8Array, limits: ImportLimits): ZipFile[] {
  const entries = readCentralDirectory(bytes);
  checkDeclaredSizes(entries, limits);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return entries
    .filter((e) => !e.name.endsWith("/")) // directory entries carry no data
    .map((e) => ({ name: e.name, data: extract(bytes, view, e) }));
}

/**
 * Check a ZIP workbook and return a copy SheetJS can read without inflating anything.
 * Throws 413 for too much data (declared or real) and 400 for a damaged archive.
 */
export function repackZip(bytes: Uint8Array, limits: ImportLimits): Uint8Array {
  return writeZip(unzip(bytes, limits), false);
}

export interface ZipFile {
  name: string;
  data: Uint8Array;
}

/**
 * A plain ZIP (no ZIP64, no data descriptors). SheetJS compresses only with its own pure-JS
 * deflate: a 100,000-row export came out at 13.9 MB, over the 10 MB import limit, so our own
 * export could not be imported back. node:zlib makes the same workbook 4.9 MB in 0.6 s.
 */
export function writeZip(files: readonly ZipFile[], compress: boolean): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = encoder.encode(f.name);
    const body = compress ? deflateRawSync(f.data) : f.data;
    const crc = crc32(f.data);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, SIG_LOCAL, true);
    writeSharedFields(lv, 4, compress, crc, body.length, f.data.length, name.length);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, 20, true); // made by: version 2.0
    writeSharedFields(cv, 6, compress, crc, body.length, f.data.length, name.length);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const part of [...parts, ...central, eocd]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/** The fields local and central headers share, from "version needed" to the name length. */
function writeSharedFields(
  v: DataView,
  at: number,
  compress: boolean,
  crc: number,
  compressedSize: number,
  size: number,
  nameLength: number,
): void {
  v.setUint16(at, 20, true); // version needed: 2.0
  v.setUint16(at + 2, 0x0800, true); // names are UTF-8
  v.setUint16(at + 4, compress ? 8 : 0, true);
  v.setUint16(at + 6, 0, true); // time
  v.setUint16(at + 8, 0x21, true); // date: 1980-01-01
  v.setUint32(at + 10, crc, true);
  v.setUint32(at + 14, compressedSize, true);
  v.setUint32(at + 18, size, true);
  v.setUint16(at + 22, nameLength, true);
}
