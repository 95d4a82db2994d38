import assert from "node:assert/strict";
import { startServer } from "../src/http/server.ts";
import { captureLogger } from "../src/logs/logger.ts";

const encoder = new TextEncoder();

/**
 * A POST over a raw socket whose body the test sends in two parts, so a request can be caught
 * mid-upload: `start` sends the headers and the first `firstBytes` of the body, `finish` the rest.
 */
async function slowUpload(port: number, body: string, firstBytes: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = encoder.encode(body);
  await conn.write(encoder.encode(
    "POST /api/v3/aggregate HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n" +
      `Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`,
  ));
  await conn.write(bytes.subarray(0, firstBytes));
  return {
    finish: () => conn.write(bytes.subarray(firstBytes)),
    /**
     * The status and body of the answer, read by its Content-Length: after a cut-off upload
     * the server answers but keeps the connection open for the rest of the body.
     */
    response: async () => {
      const decoder = new TextDecoder();
      const buf = new Uint8Array(16 * 1024);
      let text = "";
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        text += decoder.decode(buf.subarray(0, n), { stream: true });
        const end = text.indexOf("\r\n\r\n");
        const length = text.match(/\r\ncontent-length: (\d+)\r\n/i);
        if (end >= 0 && length && text.length >= end + 4 + Number(length[1])) break;
      }
      const end = text.indexOf("\r\n\r\n");
      return { status: Number(text.split(" ")[1]), body: text.slice(end + 4) };
    },
    close: () => conn.close(),
  };
}

/** About 30 kB of JSON, as in the report: a slow client's upload takes seconds. */
const BIG_BODY = JSON.stringify({
  dataValues: Array.from({ length: 600 }, (_, i) => ({ code: `ANC${i}`, value: String(i) })),
});

Deno.test("shutdown lets an in-flight request finish, then refuses new connections", async () => {
  const { log } = captureLogger();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const server = await startServer(async () => {
    entered.resolve();
    await release.promise;
    return new Response("done");
  }, { hostname: "127.0.0.1", port: 0, log });
  const inflight = fetch(`http://127.0.0.1:${server.port}/slow`);
  await entered.promise;
  const stopping = server.shutdown(5000);
  release.resolve();
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "done");
  assert.deepEqual(await stopping, { graceful: true });
  await assert.rejects(() => fetch(`http://127.0.0.1:${server.port}/again`));
});

Deno.test("a body still uploading when shutdown starts is read whole and answered", async () => {
  const { log } = captureLogger();
  const entered = Promise.withResolvers<void>();
  const server = await startServer(async (req, info) => {
    entered.resolve();
    const body = await req.json();
    const peer = (info.remoteAddr as Deno.NetAddr).hostname;
    return Response.json({ values: body.dataValues.length, peer }, { status: 201 });
  }, { hostname: "127.0.0.1", port: 0, log });
  const upload = await slowUpload(server.port, BIG_BODY, 10_000);
  try {
    await entered.promise;
    const stopping = server.shutdown(5000);
    await upload.finish();
    const res = await upload.response();
    assert.equal(res.status, 201, res.body);
    assert.deepEqual(JSON.parse(res.body), { values: 600, peer: "127.0.0.1" });
    assert.deepEqual(await stopping, { graceful: true });
    await assert.rejects(() => fetch(`http://127.0.0.1:${server.port}/again`));
  } finally {
    upload.close();
  }
});

Deno.test("while draining, new requests and /ready get 503 in the envelope", async () => {
  const { log } = captureLogger();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  let calls = 0;
  const server = await startServer(async () => {
    calls++;
    entered.resolve();
    await release.promise;
    return new Response("done");
  }, { hostname: "127.0.0.1", port: 0, log });
  const inflight = fetch(`http://127.0.0.1:${server.port}/slow`).then((r) => r.text());
  await entered.promise;
  const stopping = server.shutdown(5000);

  // The load balancer's probe and any new request are told to go elsewhere, soon.
  const probe = await fetch(`http://127.0.0.1:${server.port}/ready`, {
    headers: { "X-Request-Id": "probe-1" },
  });
  assert.equal(probe.status, 503);
  assert.equal(probe.headers.get("retry-after"), "1");
  assert.equal(probe.headers.get("x-request-id"), "probe-1");
  assert.deepEqual(await probe.json(), {
    error: {
      code: "not_ready",
      message: "the server is shutting down; retry the request",
      requestId: "probe-1",
    },
  });
  // fetch hides Connection; a raw request shows it.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(encoder.encode("GET /api/v3/logs HTTP/1.1\r\nHost: gw\r\n\r\n"));
    const buf = new Uint8Array(4096);
    const head = new TextDecoder().decode(buf.subarray(0, (await conn.read(buf)) ?? 0));
    assert.match(head, /^HTTP\/1\.1 503 /);
    assert.match(head, /\r\nconnection: close\r\n/i);
    assert.match(head, /\r\ncontent-type: application\/json/i);
  } finally {
    conn.close();
  }
  assert.equal(calls, 1, "requests arriving while draining never reach the app");

  release.resolve();
  assert.equal(await inflight, "done");
  assert.deepEqual(await stopping, { graceful: true });
});

Deno.test("shutdown gives up after the grace period when a request hangs", async () => {
  const { log, lines } = captureLogger();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const server = await startServer(async () => {
    entered.resolve();
    await release.promise;
    return new Response("late");
  }, { hostname: "127.0.0.1", port: 0, log });
  const inflight = fetch(`http://127.0.0.1:${server.port}/hang`).then((r) => r.text()).catch(() =>
    ""
  );
  await entered.promise;
  assert.deepEqual(await server.shutdown(100), { graceful: false });
  assert.ok(lines.some((l) => l.includes("grace period over")));
  release.resolve();
  await inflight;
  await server.finished;
});

Deno.test("shutdown gives up after the grace period when an upload stalls", async () => {
  const { log, lines } = captureLogger();
  const entered = Promise.withResolvers<void>();
  const server = await startServer(async (req) => {
    entered.resolve();
    try {
      await req.text();
      return new Response("read");
    } catch {
      return new Response("cut off", { status: 500 });
    }
  }, { hostname: "127.0.0.1", port: 0, log });
  const upload = await slowUpload(server.port, BIG_BODY, 10_000);
  try {
    await entered.promise;
    const started = performance.now();
    assert.deepEqual(await server.shutdown(300), { graceful: false });
    const took = performance.now() - started;
    assert.ok(took >= 290 && took < 1500, `shutdown took ${took} ms with a 300 ms grace`);
    assert.ok(lines.some((l) => l.includes("grace period over")));
    // Past the grace the read is aborted: the stalled client gets an answer, not a hang.
    assert.equal((await upload.response()).status, 500);
  } finally {
    upload.close();
  }
  await server.finished;
});
