import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { AppError } from "../http/errors.ts";
import { mappingsToXlsx, parseMappingsXlsx } from "./excel.ts";
import { resolveLimits } from "./formats.ts";
import { readCentralDirectory, repackZip, unzip, writeZip } from "./zip.ts";

const MiB = 1024 * 1024;

/** N MiB of zeros through deflate, streamed so the test never holds the inflated data. */
async function deflatedZeros(mib: number): Promise<Uint8Array> {
  const stream = new CompressionStream("deflate-raw");
  const writer = stream.writable.getWriter();
  const chunk = new Uint8Array(MiB);
  const writing = (async () => {
    for (let i = 0; i < mib; i++) await writer.write(chunk);
    await writer.close();
  })();
  const out = new Uint8Array(await new Response(stream.readable).arrayBuffer());
  await writing;
  return out;
}

// 300 MiB of zeros deflate to about 300 KB: built once (about 0.2 s), shared by the bomb tests.
const BOMB_MIB = 300;
const bombData = await deflatedZeros(BOMB_MIB);

interface RawEntry {
  name: string;
  method: number;
  data: Uint8Array; // as stored in the archive (compressed for method 8)
  declaredSize: number;
  crc?: number;
  extra?: Uint8Array;
}

/** A ZIP written by hand, so the sizes it declares can lie. */
function rawZip(entries: RawEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const extra = e.extra ?? new Uint8Array();
    const local = new Uint8Array(30 + name.length + extra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(8, e.method, true);
    lv.setUint32(14, e.crc ?? 0, true);
    lv.setUint32(18, e.data.length, true);
    lv.setUint32(22, e.declaredSize, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extra.length, true);
    local.set(name, 30);
    local.set(extra, 30 + name.length);
    const cd = new Uint8Array(46 + name.length + extra.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, e.method, true);
    cv.setUint32(16, e.crc ?? 0, true);
    cv.setUint32(20, e.data.length, true);
    cv.setUint32(24, e.declaredSize, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, extra.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    cd.set(extra, 46 + name.length);
    parts.push(local, e.data);
    central.push(cd);
    offset += local.length + e.data.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
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

/** A real workbook's parts, as raw entries to add a bomb to. */
function workbookEntries(): RawEntry[] {
  const files = unzip(mappingsToXlsx([]), resolveLimits());
  return files.map((f) => ({ name: f.name, method: 0, data: f.data, declaredSize: f.data.length }));
}

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${err}`);
    return err;
  }
  assert.fail("expected the file to be refused");
}

Deno.test("zip bomb: declared sizes over the limit are refused before inflating", () => {
  const bomb = rawZip([
    ...workbookEntries(),
    { name: "xl/media/image1.png", method: 8, data: bombData, declaredSize: BOMB_MIB * MiB },
  ]);
  const err = refusal(() => parseMappingsXlsx(bomb));
  assert.equal(err.status, 413);
  // This message comes only from the directory check, which runs before anything is inflated
  // (inflating the 300 MiB would take about 0.6 s here and give a different message).
  assert.match(err.message, /^the workbook unpacks to 300\.\d MB; the limit is 200\.0 MB$/);
});

Deno.test("zip bomb: an absurd compression ratio is refused even under the size limit", () => {
  const bomb = rawZip([
    ...workbookEntries(),
    { name: "xl/media/image1.png", method: 8, data: bombData, declaredSize: BOMB_MIB * MiB },
  ]);
  const err = refusal(() => parseMappingsXlsx(bomb, { maxDecompressedBytes: 1024 * MiB }));
  assert.equal(err.status, 413);
  assert.match(err.message, /compression ratio is \d+:1 \(at most 100:1/);
});

Deno.test("zip bomb: an entry that lies about its size stops inflating at the declared size", () => {
  const bomb = rawZip([
    ...workbookEntries(),
    { name: "xl/worksheets/sheet2.xml", method: 8, data: bombData, declaredSize: 1000 },
  ]);
  // A generous ratio so the lie gets past the directory check and reaches the inflater.
  const err = refusal(() => parseMappingsXlsx(bomb, { maxCompressionRatio: 1e9 }));
  assert.equal(err.status, 413);
  assert.match(err.message, /sheet2\.xml inflates to more than the 1000 bytes it declares/);
});

Deno.test("zip: an entry that inflates to less than it declares is damaged (400)", async () => {
  const small = await deflatedZeros(1);
  const zip = rawZip([{ name: "a.xml", method: 8, data: small, declaredSize: 2 * MiB }]);
  const err = refusal(() => repackZip(zip, resolveLimits()));
  assert.equal(err.status, 400);
  assert.match(err.message, /inflates to 1048576 bytes but declares 2097152/);
});

Deno.test("zip: damaged archives are 400 with what is wrong", () => {
  const good = mappingsToXlsx([]);
  const lim = resolveLimits();
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated", good.subarray(0, good.length - 30), /no end of central directory/],
    ["trailing bytes", new Uint8Array([...good, 1, 2, 3]), /data after the end of central/],
    ["only a header", new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0]), /no end of central/],
    [
      "ZIP64 sizes",
      rawZip([{
        name: "a",
        method: 0,
        data: new Uint8Array(1),
        declaredSize: 1,
        extra: new Uint8Array([1, 0, 16, 0, ...new Uint8Array(16)]),
      }]),
      /uses ZIP64 sizes/,
    ],
    [
      "unknown method",
      rawZip([{ name: "a", method: 12, data: new Uint8Array(4), declaredSize: 4 }]),
      /compression method 12/,
    ],
    [
      "not deflate data",
      rawZip([{ name: "a", method: 8, data: new Uint8Array([0xff, 0xff, 0xff]), declaredSize: 9 }]),
      /does not inflate/,
    ],
  ];
  for (const [label, bytes, message] of cases) {
    const err = refusal(() => repackZip(bytes, lim));
    assert.equal(err.status, 400, label);
    assert.match(err.message, message, label);
  }
  // A local header whose extra field would run past the end of the file.
  const overrun = rawZip([{ name: "a", method: 0, data: new Uint8Array(4), declaredSize: 4 }]);
  new DataView(overrun.buffer).setUint16(28, 0xffff, true);
  assert.match(refusal(() => repackZip(overrun, lim)).message, /entry a is truncated/);
  // A directory offset pointing past its end.
  const bad = good.slice();
  new DataView(bad.buffer).setUint32(bad.length - 6, bad.length, true);
  assert.match(refusal(() => repackZip(bad, lim)).message, /central directory outside the file/);
});

Deno.test("writeZip: deflated entries with correct CRCs and sizes, read back intact", () => {
  const files = [
    { name: "a.xml", data: new TextEncoder().encode("<a>é ñ</a>".repeat(1000)) },
    { name: "dir/empty.bin", data: new Uint8Array() },
  ];
  const zip = writeZip(files, true);
  const entries = readCentralDirectory(zip);
  assert.deepEqual(entries.map((e) => [e.name, e.method, e.uncompressedSize]), [
    ["a.xml", 8, files[0].data.length],
    ["dir/empty.bin", 8, 0],
  ]);
  assert.ok(entries[0].compressedSize < files[0].data.length / 20);
  const crc = new DataView(zip.buffer).getUint32(14, true);
  assert.equal(crc, crc32(files[0].data));
  assert.deepEqual(unzip(zip, resolveLimits()), files);
});
