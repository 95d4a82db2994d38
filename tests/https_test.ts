/**
 * HTTPS served by the gateway itself (server.tls_cert / server.tls_key) with throwaway
 * certificates made by openssl, and the certificate reloaded on SIGHUP (Linux).
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { startServer } from "../src/http/server.ts";
import { captureLogger } from "../src/logs/logger.ts";

const hasOpenssl = await new Deno.Command("openssl", { args: ["version"], stdout: "null" })
  .output().then((o) => o.success, () => false);

async function throwawayCert(dir: string, name: string) {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      // A server certificate, not a CA (rustls refuses a CA certificate as the server's).
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      `${dir}/${name}.key`,
      "-out",
      `${dir}/${name}.pem`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return {
    cert: await Deno.readTextFile(`${dir}/${name}.pem`),
    key: await Deno.readTextFile(`${dir}/${name}.key`),
  };
}

/** A GET over a new connection that trusts only `ca`: the status, or the error's text. */
async function getWith(ca: string, url: string): Promise<number | string> {
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const res = await fetch(url, { client });
    await res.body?.cancel();
    return res.status;
  } catch (err) {
    return String((err as Error).cause ?? err);
  } finally {
    client.close();
  }
}

Deno.test({
  name: "HTTPS with a throwaway certificate; SIGHUP's reload serves the new one to new clients",
  ignore: !hasOpenssl,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const first = await throwawayCert(dir, "first");
    const second = await throwawayCert(dir, "second");
    const { log, lines } = captureLogger("info");
    const server = await startServer(() => new Response("ok"), {
      hostname: "127.0.0.1",
      port: 0,
      log,
      tls: first,
    });
    const url = `https://127.0.0.1:${server.port}/`;
    assert.ok(lines.some((l) => l.includes(`"url":"https://127.0.0.1:${server.port}"`)));
    assert.equal(await getWith(first.cert, url), 200);
    assert.match(String(await getWith(second.cert, url)), /certificate|UnknownIssuer/i);
    // Plain HTTP on the HTTPS port gets no answer.
    assert.notEqual(
      await fetch(`http://127.0.0.1:${server.port}/`).then((r) => r.status, () => "refused"),
      200,
    );

    assert.equal(await server.reloadTls(second), true);
    assert.equal(await getWith(second.cert, url), 200);
    assert.match(String(await getWith(first.cert, url)), /certificate|UnknownIssuer/i);
    // A key that does not belong to the certificate: refused, the current one stays.
    assert.equal(await server.reloadTls({ cert: first.cert, key: second.key }), false);
    assert.equal(await getWith(second.cert, url), 200);
    assert.ok(lines.some((l) => l.includes("keeping the current one")));
    assert.deepEqual(await server.shutdown(2000), { graceful: true });
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("server.tls_cert and server.tls_key: both or neither", () => {
  const one = loadConfig({ env: { DHIS2GW_TLS_CERT: "/etc/dhis2gw/cert.pem" } });
  assert.deepEqual(one.problems, [
    "server.tls_cert (env DHIS2GW_TLS_CERT) and server.tls_key (env DHIS2GW_TLS_KEY): set both or neither",
  ]);
  const both = loadConfig({
    env: { DHIS2GW_TLS_CERT: "/etc/dhis2gw/cert.pem", DHIS2GW_TLS_KEY: "/etc/dhis2gw/key.pem" },
  });
  assert.deepEqual(both.problems, []);
  assert.equal(both.config!.server.tls_key, "/etc/dhis2gw/key.pem");
});
