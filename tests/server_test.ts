import assert from "node:assert/strict";
import { startServer } from "../src/http/server.ts";
import { captureLogger } from "../src/logs/logger.ts";

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
