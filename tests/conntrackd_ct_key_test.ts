// The cache key of a conntrack: the compact IPv4 form must tell two conntracks
// apart exactly when the text form does (same original tuple and zones), or
// the caches would merge or split flows.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { Conntrack, newTuple } from "../src/conntrack/model.ts";
import { ctKey, ctTextKey } from "../src/conntrackd/cache/ct_object.ts";

let seed = 4242;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];

/** Conntracks drawn from small domains, so that many share their key fields. */
function randomConntrack(): Conntrack {
  const ct = new Conntrack();
  const o = ct.orig = newTuple(pick([2, 2, 2, 10, 0]));
  o.src = pick([
    "10.0.0.1",
    "10.0.0.2",
    "10.0.1.1",
    "255.255.255.255",
    "010.0.0.1",
    "fe80::1",
    "x",
    undefined,
  ]);
  o.dst = pick(["10.0.0.1", "192.168.0.1", "0.0.0.0", "1.2.3.4.5", undefined]);
  o.proto = pick([6, 17, 1, 58, 0, 300, undefined]);
  o.sport = pick([0, 1, 80, 65535, 65536, 1.5, undefined]);
  o.dport = pick([0, 80, 443, undefined]);
  o.icmpType = pick([0, 8, undefined]);
  o.icmpCode = pick([0, 1, undefined]);
  o.icmpId = pick([0, 65535, 70000, undefined]);
  o.zone = pick([0, 1, 65535, undefined]);
  ct.zone = pick([0, 7, 65536, undefined]);
  // Never part of the key.
  ct.reply = newTuple(2);
  ct.reply.src = pick(["10.0.0.9", undefined]);
  ct.mark = pick([1, 2, undefined]);
  return ct;
}

Deno.test("ctKey: the same equality as the text key, compact for IPv4 flows", () => {
  const byText = new Map<string, string>(), byKey = new Map<string, string>();
  let compact = 0;
  for (let i = 0; i < 200_000; i++) {
    const ct = randomConntrack();
    const key = ctKey(ct), text = ctTextKey(ct);
    if (key !== text) compact++;
    const k = byText.get(text);
    if (k === undefined) byText.set(text, key);
    else assertEquals(k, key, `one text key, two keys: ${text}`);
    const t = byKey.get(key);
    if (t === undefined) byKey.set(key, text);
    else assertEquals(t, text, `one key for two text keys: ${t} and ${text}`);
  }
  assert(byText.size > 10_000, `${byText.size} distinct keys`);
  assert(compact > 10_000, `${compact} compact keys`);
});

Deno.test("ctKey: an IPv4 TCP flow's key is 12 chars; IPv6 keeps the text key", () => {
  const ct = new Conntrack();
  Object.assign(ct.orig, { l3: 2, src: "10.1.2.3", dst: "192.168.0.1", proto: 6, sport: 1024, dport: 80 });
  assertEquals(ctKey(ct).length, 12);
  const other = new Conntrack();
  Object.assign(other.orig, { ...ct.orig, sport: 1025 });
  assert(ctKey(other) !== ctKey(ct));
  const v6 = new Conntrack();
  Object.assign(v6.orig, { l3: 10, src: "fe80::1", dst: "fe80::2", proto: 6, sport: 1, dport: 2 });
  assertEquals(ctKey(v6), ctTextKey(v6));
});
