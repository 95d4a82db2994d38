import assert from "node:assert/strict";
import { loadConfig } from "../config/config.ts";
import { formatIp, parseIp, TrustedProxies } from "./trusted_proxies.ts";

const canon = (s: string) => {
  const ip = parseIp(s);
  return ip ? formatIp(ip) : null;
};

Deno.test("addresses parse to one canonical text, whatever the proxy wrote", () => {
  const cases: Array<[string, string | null]> = [
    ["203.0.113.7", "203.0.113.7"],
    [" 203.0.113.7 ", "203.0.113.7"],
    ["203.0.113.7:51234", "203.0.113.7"],
    ["::ffff:203.0.113.7", "203.0.113.7"],
    ["::FFFF:CB00:7107", "203.0.113.7"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8::1", "2001:db8::1"],
    ["[2001:db8::1]:443", "2001:db8::1"],
    ["[::1]", "::1"],
    ["fe80::1%eth0", "fe80::1"],
    ["::", "::"],
    ["1::", "1::"],
    ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"], // the longer zero run is the one shortened
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"], // equal runs: the first
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["1:2:3:4:5:6:192.0.2.1", "1:2:3:4:5:6:c000:201"],
    ["::192.0.2.1", "::c000:201"],
    ["256.0.0.1", null],
    ["010.0.0.1", null],
    ["1.2.3", null],
    ["1.2.3.4.5", null],
    ["1:2:3:4:5:6:7", null],
    ["1:2:3:4:5:6:7:8:9", null],
    ["1::2::3", null],
    [":1::2", null],
    [":::", null],
    ["12345::", null],
    ["unknown", null],
    ["", null],
    ["::ffff:1.2.3.256", null],
  ];
  for (const [input, want] of cases) assert.equal(canon(input), want, input);
});

Deno.test("trusted proxies: CIDRs and single addresses, IPv4 and IPv6", () => {
  const { proxies, errors } = TrustedProxies.parse(
    " 127.0.0.0/8, ::1 ,10.42.0.0/16,192.0.2.9, 2001:db8:ab::/48,172.16.0.0/12",
  );
  assert.deepEqual(errors, []);
  const has = (ip: string) => proxies!.has(parseIp(ip)!);
  const yes = [
    "127.0.0.1",
    "127.0.0.6", // Istio's sidecar
    "127.255.255.255",
    "::ffff:127.0.0.1", // a dual-stack socket's view of IPv4 loopback
    "::1",
    "10.42.0.1",
    "10.42.255.254",
    "192.0.2.9",
    "2001:db8:ab::1",
    "2001:db8:ab:ffff:ffff:ffff:ffff:ffff",
    "172.16.0.1",
    "172.31.255.255",
  ];
  const no = [
    "128.0.0.1",
    "126.255.255.255",
    "::2",
    "10.43.0.1",
    "10.41.255.255",
    "192.0.2.8",
    "192.0.2.10",
    "2001:db8:ac::1",
    "172.32.0.1",
    "172.15.255.255",
    "192.168.1.20",
    "0.0.0.0",
    "::",
  ];
  for (const ip of yes) assert.equal(has(ip), true, ip);
  for (const ip of no) assert.equal(has(ip), false, ip);
});

Deno.test("trusted proxies: odd prefixes, host bits, the whole space and the empty list", () => {
  const odd = TrustedProxies.from("198.51.100.64/27,2001:db8::8000/113");
  assert.equal(odd.has(parseIp("198.51.100.64")!), true);
  assert.equal(odd.has(parseIp("198.51.100.95")!), true);
  assert.equal(odd.has(parseIp("198.51.100.96")!), false);
  assert.equal(odd.has(parseIp("198.51.100.63")!), false);
  assert.equal(odd.has(parseIp("2001:db8::ffff")!), true);
  assert.equal(odd.has(parseIp("2001:db8::7fff")!), false);
  // Host bits under the prefix do not matter, as with Go's ParseCIDR.
  assert.equal(TrustedProxies.from("10.1.2.3/8").has(parseIp("10.200.0.1")!), true);
  const all = TrustedProxies.from("0.0.0.0/0,::/0");
  assert.equal(all.has(parseIp("203.0.113.7")!), true);
  assert.equal(all.has(parseIp("2001:db8::1")!), true);
  // 0.0.0.0/0 is every IPv4 address, not every IPv6 one.
  assert.equal(TrustedProxies.from("0.0.0.0/0").has(parseIp("2001:db8::1")!), false);
  const none = TrustedProxies.from("");
  assert.equal(none.has(parseIp("127.0.0.1")!), false);
});

Deno.test("trusted proxies: every bad entry is reported", () => {
  const { proxies, errors } = TrustedProxies.parse(
    "10.0.0.0/33,localhost,::1/129,10.0.0.1:80,[::1],10.0.0.0/,10.0.0.0/8,10.0.0.0/-1",
  );
  assert.equal(proxies, undefined);
  assert.deepEqual(errors, [
    '"10.0.0.0/33": the prefix length must be 0 to 32',
    '"localhost" is not an IP address or CIDR',
    '"::1/129": the prefix length must be 0 to 128',
    '"10.0.0.1:80" is not an IP address or CIDR',
    '"[::1]" is not an IP address or CIDR',
    '"10.0.0.0/": the prefix length must be 0 to 32',
    '"10.0.0.0/-1": the prefix length must be 0 to 32',
  ]);
  assert.throws(() => TrustedProxies.from("nope"), /server.trusted_proxies: "nope"/);
});

Deno.test("client address: the X-Forwarded-For walk from the right", () => {
  const t = TrustedProxies.from("127.0.0.0/8,::1,10.42.0.0/16");
  const cases: Array<[string | undefined, string | undefined, string, string]> = [
    // [socket peer, X-Forwarded-For, expected, why]
    ["203.0.113.9", "198.51.100.1", "203.0.113.9", "an untrusted peer's header is ignored"],
    ["192.168.1.20", "10.9.9.9", "192.168.1.20", "a private but untrusted peer too"],
    ["127.0.0.1", undefined, "127.0.0.1", "a trusted peer without the header is the client"],
    ["127.0.0.1", "", "127.0.0.1", "an empty header is no header"],
    ["127.0.0.6", "198.51.100.1", "198.51.100.1", "one trusted proxy: its entry"],
    [
      "127.0.0.1",
      "6.6.6.6, 203.0.113.7, 198.51.100.1",
      "198.51.100.1",
      "the client's own entries are never read",
    ],
    [
      "127.0.0.6",
      "6.6.6.6, 203.0.113.7, 10.42.3.4",
      "203.0.113.7",
      "a chain: the ingress pod (trusted) is skipped",
    ],
    [
      "10.42.0.7",
      "203.0.113.7,10.42.1.1 , 127.0.0.1",
      "203.0.113.7",
      "several trusted hops",
    ],
    ["::1", "10.42.0.1, 127.0.0.1", "10.42.0.1", "all trusted: the leftmost"],
    ["::ffff:127.0.0.1", "2001:DB8::0:1", "2001:db8::1", "IPv6 client, canonical text"],
    ["127.0.0.1", "[2001:db8::1]:4711", "2001:db8::1", "port and brackets dropped"],
    ["127.0.0.1", "203.0.113.7:4711", "203.0.113.7", "IPv4 with a port"],
    ["::ffff:203.0.113.9", "198.51.100.1", "203.0.113.9", "a mapped untrusted peer"],
    [
      "127.0.0.1",
      "203.0.113.7, garbage, 10.42.0.9",
      "10.42.0.9",
      "a non-address ends the walk at the hop before it",
    ],
    ["127.0.0.1", "unknown", "127.0.0.1", "nothing usable: the peer"],
    [undefined, "203.0.113.7", "203.0.113.7", "in-process (no socket): the header"],
    [undefined, "1.1.1.1, 203.0.113.7", "203.0.113.7", "in-process: the same walk"],
    [undefined, undefined, "unknown", "in-process, no header"],
    [undefined, "bogus", "unknown", "in-process, nothing usable"],
  ];
  for (const [peer, xff, want, why] of cases) {
    assert.equal(t.clientAddress(peer, xff), want, why);
  }
});

Deno.test("server.trusted_proxies: default, env var, and bad entries named at load", () => {
  const dflt = loadConfig({ env: {} });
  assert.equal(dflt.config!.server.trusted_proxies, "127.0.0.0/8,::1");
  const ok = loadConfig({ env: { DHIS2GW_TRUSTED_PROXIES: "10.42.0.0/16, fd00::/8" } });
  assert.deepEqual(ok.problems, []);
  const bad = loadConfig({ env: { DHIS2GW_TRUSTED_PROXIES: "10.42.0.0/16,10.0.0.0/40,nginx" } });
  assert.deepEqual(bad.problems, [
    'server.trusted_proxies (env DHIS2GW_TRUSTED_PROXIES): "10.0.0.0/40": the prefix length must be 0 to 32',
    'server.trusted_proxies (env DHIS2GW_TRUSTED_PROXIES): "nginx" is not an IP address or CIDR',
  ]);
});

Deno.test("clientAddress: a long or ever-changing header changes nothing it should not", () => {
  const p = TrustedProxies.from("127.0.0.0/8");
  // From an untrusted peer the header is ignored (and is no cache key: memory stays flat).
  for (let i = 0; i < 20_000; i++) {
    assert.equal(p.clientAddress("203.0.113.7", `10.0.${i >> 8}.${i & 255}`), "203.0.113.7");
  }
  // A long chain from a trusted proxy is still walked right to left.
  const chain = Array.from({ length: 2000 }, () => "127.0.0.2").join(", ");
  assert.equal(p.clientAddress("127.0.0.1", `198.51.100.4, ${chain}`), "198.51.100.4");
});

Deno.test("clientAddress: the remembered answers stay bounded, whatever the peers and headers", () => {
  const p = TrustedProxies.from("10.0.0.0/8");
  for (let i = 0; i < 30_000; i++) {
    // Ever-new peers (an IPv6 /64 has plenty), and a trusted proxy forwarding ever-new clients.
    p.clientAddress(`2001:db8::${i.toString(16)}`, undefined);
    p.clientAddress("10.0.0.1", `198.51.${i >> 8}.${i & 255}`);
  }
  assert.ok(p.memoSize <= 20_000, String(p.memoSize));
});
