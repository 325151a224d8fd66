// The daemon's cache: compact conntrack records round-trip every attribute,
// and the cache's bookkeeping (keys, merge, counters, references) is the
// reference's.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { Conntrack, newTuple, type Tuple } from "../src/conntrack/model.ts";
import { decodeRecord, encodeRecord } from "../src/conntrackd/cache/ct_record.ts";
import {
  C_OBJ_ALIVE,
  C_OBJ_DEAD,
  C_OBJ_NEW,
  Cache,
  formatCacheStatsExtended,
} from "../src/conntrackd/cache/cache.ts";
import { ctCacheOps, ctCodec, ctKey } from "../src/conntrackd/cache/ct_object.ts";
import { draws } from "./lib/prng.ts";

const { rnd, int, maybe } = draws(7);
const big = () => BigInt(int(2 ** 32)) * 4294967296n + BigInt(int(2 ** 32));

function addr(l3: number): string {
  if (l3 === 2) return `${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
  const parts = Array.from({ length: 8 }, () => int(65536).toString(16));
  // Canonical text is what the decoder produces; use a form inet_ntop would print.
  return parts.map((x) => x.replace(/^0+(?=.)/, "")).join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

function tuple(l3: number): Tuple {
  const t = newTuple(l3);
  t.src = maybe(() => addr(l3));
  t.dst = maybe(() => addr(l3));
  t.proto = maybe(() => int(256));
  t.sport = maybe(() => int(65536));
  t.dport = maybe(() => int(65536));
  t.icmpType = maybe(() => int(256));
  t.icmpCode = maybe(() => int(256));
  t.icmpId = maybe(() => int(65536));
  t.zone = maybe(() => int(65536));
  return t;
}

function randomCt(): Conntrack {
  const ct = new Conntrack();
  const l3 = rnd() < 0.7 ? 2 : 10;
  ct.orig = tuple(l3);
  ct.reply = tuple(l3);
  ct.master = maybe(() => tuple(l3));
  const u32 = () => int(2 ** 32);
  ct.status = maybe(u32);
  ct.timeout = maybe(u32);
  ct.mark = maybe(u32);
  ct.secmark = maybe(u32);
  ct.use = maybe(u32);
  ct.id = maybe(u32);
  ct.zone = maybe(() => int(65536));
  ct.state = maybe(() => int(16));
  ct.tcpWscaleOrig = maybe(() => int(15));
  ct.tcpWscaleReply = maybe(() => int(15));
  ct.tcpFlagsOrig = maybe(() => int(256));
  ct.tcpMaskOrig = maybe(() => int(256));
  ct.tcpFlagsReply = maybe(() => int(256));
  ct.tcpMaskReply = maybe(() => int(256));
  ct.sctpVtagOrig = maybe(u32);
  ct.sctpVtagReply = maybe(u32);
  ct.dccpRole = maybe(() => int(4));
  ct.dccpHandshakeSeq = maybe(big);
  ct.countersOrig = maybe(() => ({ packets: big(), bytes: big() }));
  ct.countersReply = maybe(() => ({ packets: big(), bytes: big() }));
  ct.tsStart = maybe(big);
  ct.tsStop = maybe(big);
  ct.helper = maybe(() => ["ftp", "sip", "h323", "ünïcode"][int(4)]);
  ct.secctx = maybe(() => "system_u:object_r:unlabeled_t:s0");
  ct.labels = maybe(() => Uint8Array.from({ length: 16 }, () => int(256)));
  ct.labelsMask = maybe(() => Uint8Array.from({ length: 16 }, () => int(256)));
  ct.snat = maybe(() => ({ addr: maybe(() => addr(l3)), port: maybe(() => int(65536)) }));
  ct.dnat = maybe(() => ({ addr: maybe(() => addr(l3)), port: maybe(() => int(65536)) }));
  ct.seqAdjOrig = maybe(() => ({ correctionPos: u32(), offsetBefore: u32(), offsetAfter: u32() }));
  ct.seqAdjReply = maybe(() => ({ correctionPos: u32(), offsetBefore: u32(), offsetAfter: u32() }));
  ct.synproxy = maybe(() => ({ isn: u32(), its: u32(), tsoff: u32() }));
  return ct;
}

/** What the record must preserve: every attribute, undefined ones dropped from NAT ranges. */
function plain(ct: Conntrack): unknown {
  const clean = (v: unknown): unknown =>
    v && typeof v === "object" && !(v instanceof Uint8Array)
      ? Object.fromEntries(
        Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, clean(x)]),
      )
      : v;
  return clean({ ...ct });
}

Deno.test("cache records round-trip every conntrack attribute (20 000 random entries)", () => {
  for (let i = 0; i < 20_000; i++) {
    const ct = randomCt();
    const rec = encodeRecord(ct);
    assert(typeof rec === "string");
    for (let k = 0; k < rec.length; k++) assert(rec.charCodeAt(k) < 256, "one byte per char");
    assertEquals(plain(decodeRecord(rec)), plain(ct));
  }
});

Deno.test("a typical IPv4 flow record is small", () => {
  const ct = new Conntrack();
  ct.orig = { ...newTuple(2), src: "10.1.2.3", dst: "192.168.100.200", proto: 6, sport: 40000, dport: 443 };
  ct.reply = { ...newTuple(2), src: "192.168.100.200", dst: "10.1.2.3", proto: 6, sport: 443, dport: 40000 };
  ct.status = 14, ct.timeout = 431999, ct.mark = 0, ct.id = 12345, ct.state = 3;
  const rec = encodeRecord(ct);
  assert(rec.length <= 80, `record of ${rec.length} bytes`);
});

Deno.test("cache: update merges attributes, update_force recreates dead entries, counters as the reference", () => {
  const cache = new Cache<Conntrack>("internal", 3, ctCacheOps, {}, ctCodec);
  const mk = (i: number) => {
    const ct = new Conntrack();
    ct.orig = { ...newTuple(2), src: `10.0.0.${i}`, dst: "10.0.1.1", proto: 17, sport: 1, dport: 2 };
    ct.reply = { ...newTuple(2), src: "10.0.1.1", dst: `10.0.0.${i}`, proto: 17, sport: 2, dport: 1 };
    ct.status = 8;
    ct.mark = 1;
    return ct;
  };
  const a = cache.updateForce(mk(1))!;
  assertEquals(a.status, C_OBJ_NEW);
  const upd = new Conntrack();
  upd.orig = mk(1).orig;
  upd.mark = 7;
  cache.updateForce(upd);
  assertEquals(a.status, C_OBJ_ALIVE);
  assertEquals(a.value.mark, 7);
  assertEquals(a.value.status, 8, "attributes the update lacks are kept");
  assertEquals(a.value.reply.src, "10.0.1.1", "tuples are kept");
  cache.updateForce(mk(2));
  cache.updateForce(mk(3));
  assertEquals(cache.updateForce(mk(4)), undefined, "HashLimit reached");
  assertEquals(cache.stats.addFailEnospc, 1);
  cache.setDead(a);
  assertEquals(a.status, C_OBJ_DEAD);
  const again = cache.updateForce(mk(1))!;
  assert(again !== a, "a dead entry is replaced, not updated");
  assertEquals(cache.size, 3);
  assertEquals(ctKey(again.value), ctKey(mk(1)));
  assert(
    formatCacheStatsExtended(cache as Cache<unknown>).includes("no space left in cache:\t           1\n"),
  );
});
