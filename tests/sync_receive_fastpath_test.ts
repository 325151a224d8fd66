// The receive fast path (sync/wire/ct_flat_parse.ts → cache/flat_record.ts →
// ExternalCache.ctNewRaw/ctUpdRaw) must leave the external cache exactly as the
// Conntrack path (decodeCtPayload → ExternalCache.ctNew/ctUpd) does: same keys
// in the same order, same records, statuses, references and counters, and the
// same `-s network` error counts, for every message it takes; it declines the
// rest. Random messages from the wire encoder (NAT, zones, labels, helper,
// master, IPv6, ICMP, SCTP/DCCP, unknown protocols, timeouts and window
// tracking on or off), some garbled, are fed to both, several per datagram.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { Conntrack, newTuple } from "../src/conntrack/model.ts";
import { ctKey } from "../src/conntrackd/cache/ct_object.ts";
import { encodeRecord } from "../src/conntrackd/cache/ct_record.ts";
import { C_OBJ_DEAD } from "../src/conntrackd/cache/cache.ts";
import { FlatCt } from "../src/conntrackd/cache/flat_ct.ts";
import { flatKey, flatPeerRecord } from "../src/conntrackd/cache/flat_record.ts";
import { ExternalCache } from "../src/conntrackd/sync/external.ts";
import { parseFlatCtPayload } from "../src/conntrackd/sync/wire/ct_flat_parse.ts";
import * as W from "../src/conntrackd/sync/wire/mod.ts";
import { draws } from "./lib/prng.ts";

const { rnd, int, maybe, u32, pick } = draws(11);

const TCP = 6, UDP = 17, ICMP = 1, ICMPV6 = 58;

function addr(l3: number): string {
  if (l3 === 2) {
    return rnd() < 0.3 ? `10.0.${int(4)}.${int(4)}` : `${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
  }
  switch (int(4)) {
    case 0:
      return `2001:db8:${int(4).toString(16)}::${(int(4) + 1).toString(16)}`;
    case 1:
      return `::ffff:${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
    case 2:
      return Array.from({ length: 8 }, () => (rnd() < 0.3 ? 0 : int(65536)).toString(16)).join(":");
    default:
      return pick(["::", "::1", "fe80::1", `fe80::${int(65536).toString(16)}:0:0:1`]);
  }
}

/** Small ranges at times, so that flows repeat and UPD meets live and dead entries. */
function port(): number {
  return rnd() < 0.3 ? 1000 + int(4) : int(65536);
}

interface Drawn {
  ct: Conntrack;
  /** Nothing but a complete TCP/UDP/ICMP tuple and the attributes the fast path takes. */
  plain: boolean;
}

/** A flow as the sender's cache holds it: both tuples, NAT in the reply at times. */
function senderCt(): Drawn {
  const ct = new Conntrack();
  const l3 = rnd() < 0.55 ? 2 : 10;
  const proto = pick([TCP, TCP, UDP, l3 === 2 ? ICMP : ICMPV6, TCP, UDP, 132, 33, 47, int(256)]);
  const o = ct.orig = newTuple(l3), r = ct.reply = newTuple(l3);
  o.src = addr(l3), o.dst = addr(l3), o.proto = r.proto = proto;
  const nat = rnd() < 0.15;
  r.src = nat && rnd() < 0.5 ? addr(l3) : o.dst;
  r.dst = nat && rnd() < 0.5 ? addr(l3) : o.src;
  const icmp = proto === ICMP || proto === ICMPV6;
  if (icmp) {
    o.icmpType = maybe(() => pick([8, 128, int(256)]), 0.97), o.icmpCode = int(3), o.icmpId = port();
    r.icmpType = pick([0, 129, o.icmpType ?? 0]), r.icmpCode = o.icmpCode, r.icmpId = o.icmpId;
  } else {
    o.sport = port(), o.dport = pick([80, 443, port()]);
    r.sport = nat && rnd() < 0.5 ? int(65536) : o.dport;
    r.dport = nat && rnd() < 0.5 ? int(65536) : o.sport;
  }
  ct.status = maybe(() => pick([8, 8 | 0x10, 8 | 0x30, 8 | 0x180, u32()]), 0.97);
  ct.timeout = maybe(() => int(432000), 0.9);
  ct.mark = maybe(u32, 0.4);
  ct.zone = maybe(() => pick([0, 1, int(65536)]), 0.1);
  ct.state = maybe(() => int(16), 0.9);
  ct.tcpWscaleOrig = maybe(() => int(15), 0.8);
  ct.tcpWscaleReply = maybe(() => int(15), 0.8);
  ct.sctpVtagOrig = maybe(u32, 0.8);
  ct.sctpVtagReply = maybe(u32, 0.8);
  ct.dccpRole = maybe(() => int(3), 0.8);
  const sp = rnd();
  if (sp < 0.5) ct.synproxy = { isn: 0, its: 0, tsoff: 0 };
  else if (sp < 0.6) ct.synproxy = { isn: u32(), its: u32(), tsoff: u32() };
  let rare = false;
  switch (int(14)) {
    case 0:
      ct.master = newTuple(l3), ct.master.src = addr(l3), ct.master.dst = addr(l3);
      ct.master.proto = TCP, ct.master.sport = int(65536), ct.master.dport = 21;
      rare = true;
      break;
    case 1:
      ct.helper = pick(["ftp", "sip", "tftp", "h323-h245-extra"]);
      rare = true;
      break;
    case 2:
      ct.labels = Uint8Array.from({ length: 16 }, () => (rnd() < 0.2 ? int(256) : 0));
      rare = ct.labels.some((b) => b !== 0);
      break;
    case 3:
      ct.seqAdjOrig = { correctionPos: u32(), offsetBefore: u32(), offsetAfter: u32() };
      ct.seqAdjReply = { correctionPos: u32(), offsetBefore: u32(), offsetAfter: u32() };
      rare = true;
      break;
  }
  const st = ct.status;
  // encodeCt's NAT test on the l4 unions: ICMP's id against type/code differ almost always.
  const natted = (st === undefined || (st & 0x180) !== 0) &&
    (icmp || (nat && (r.src !== o.dst || r.dst !== o.src || r.sport !== o.dport || r.dport !== o.sport)));
  const complete = icmp ? o.icmpType !== undefined : proto === TCP || proto === UDP;
  return { ct, plain: complete && !rare && !natted };
}

/** A flow as a receiver holds it (no reply tuple): its NAT as ranges, re-sent by a relay. */
function wireCt(): Drawn {
  const { ct } = senderCt();
  ct.reply = newTuple();
  const l3 = ct.orig.l3;
  const rare = rnd() < 0.5;
  if (rare) {
    if (rnd() < 0.5) ct.snat = { addr: maybe(() => addr(l3), 0.8), port: maybe(() => int(65536)) };
    else ct.dnat = { addr: maybe(() => addr(l3), 0.8), port: maybe(() => int(65536)) };
  }
  return { ct, plain: false };
}

/** A few hand-made oddities the decoder accepts: repeated attributes, a tail, reordered attributes. */
function oddPayload(msg: Uint8Array): Uint8Array {
  const hdr = msg.subarray(0, W.HDR_SIZE), body = msg.subarray(W.HDR_SIZE);
  const attrs: Uint8Array[] = [];
  for (let p = 0; p + 4 <= body.length;) {
    const len = (body[p] << 8) | body[p + 1];
    const step = (len + 3) & ~3;
    attrs.push(body.slice(p, p + step));
    p += step;
  }
  switch (int(5)) {
    case 0: // shuffled
      for (let i = attrs.length - 1; i > 0; i--) {
        const j = int(i + 1);
        [attrs[i], attrs[j]] = [attrs[j], attrs[i]];
      }
      break;
    case 1: // one repeated with other bytes: the later one wins
      if (attrs.length) {
        const a = attrs[int(attrs.length)].slice();
        for (let i = 4; i < a.length; i++) a[i] = int(256);
        attrs.push(a);
      }
      break;
    case 2: // a tail of up to 4 bytes, ignored by the reference
      attrs.push(Uint8Array.from({ length: 1 + int(4) }, () => int(256)));
      break;
    case 3: // the other family's address pair as well
      attrs.push(
        rnd() < 0.5 ? Uint8Array.of(0, 12, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8) : Uint8Array.from(
          { length: 36 },
          (_, i) => i === 1 ? 36 : i === 3 ? 1 : i < 4 ? 0 : int(256),
        ),
      );
      break;
    default: // an attribute the reference knows but the fast path does not take
      attrs.push(Uint8Array.of(0, 8, 0, pick([17, 18, 20, 21]), int(256), 0, 0, 0));
  }
  const n = attrs.reduce((s, a) => s + a.length, W.HDR_SIZE);
  const out = new Uint8Array(n);
  out.set(hdr);
  let p = W.HDR_SIZE;
  for (const a of attrs) out.set(a, p), p += a.length;
  out[2] = n >> 8, out[3] = n & 0xff;
  return out;
}

/** Breaks a message: flipped bytes, wrong attribute lengths or ids, a cut. */
function garble(msg: Uint8Array): Uint8Array {
  const m = msg.slice();
  switch (int(5)) {
    case 0:
      for (let k = 0; k < 1 + int(3); k++) m[W.HDR_SIZE + int(m.length - W.HDR_SIZE)] = int(256);
      return m;
    case 1: { // an attribute length off by a little
      const p = W.HDR_SIZE + 4 * int((m.length - W.HDR_SIZE) >> 2);
      if (p + 1 < m.length) m[p + 1] = (m[p + 1] + pick([-3, -1, 1, 2, 4, 200])) & 0xff;
      return m;
    }
    case 2: { // an unknown id
      m[W.HDR_SIZE + 3] = 33 + int(200);
      return m;
    }
    case 3: { // cut, header length following
      const n = W.HDR_SIZE + int(m.length - W.HDR_SIZE);
      const c = m.slice(0, n);
      c[2] = n >> 8, c[3] = n & 0xff;
      return c;
    }
    default: // cut, header length not following (ends the datagram's walk)
      return m.slice(0, m.length - 1 - int(4));
  }
}

const TYPES = [W.CT_NEW, W.CT_NEW, W.CT_UPD, W.CT_UPD, W.CT_DEL];

function encode(type: number, ct: Conntrack): Uint8Array {
  const out = new Uint8Array(W.CT_MSG_MAX);
  const n = W.encodeCt(out, 0, type, ct, { withTimeout: rnd() < 0.5, tcpWindowTracking: rnd() < 0.5 });
  return out.slice(0, n);
}

const dataRecv = (h: W.MessageHeader) => W.isData(h.type, h.flags) ? W.MSG_DATA : W.MSG_CTL;

function slowVisitor(ec: ExternalCache): W.SyncVisitor {
  return {
    recv: dataRecv,
    ct(h, ct) {
      if (h.type === W.CT_NEW) ec.ctNew(ct);
      else if (h.type === W.CT_UPD) ec.ctUpd(ct);
      else ec.ctDel(ct);
    },
    exp() {},
  };
}

/** As sync_mode.ts wires it; counts what it took. */
function fastVisitor(ec: ExternalCache, taken: { n: number; upd: number; at: Set<number> }): W.SyncVisitor {
  return {
    ...slowVisitor(ec),
    ctRaw(h, buf, off, end) {
      const ok = h.type === W.CT_NEW
        ? ec.ctNewRaw(buf, off, end)
        : h.type === W.CT_UPD
        ? ec.ctUpdRaw(buf, off, end)
        : false;
      if (ok) taken.n++, taken.upd += h.type === W.CT_UPD ? 1 : 0, taken.at.add(off - W.HDR_SIZE);
      return ok;
    },
  };
}

function snapshot(ec: ExternalCache) {
  return {
    entries: [...ec.ct.values()].map((o) => [o.key, o.stored, o.status, o.refcnt]),
    stats: { ...ec.ct.stats },
  };
}

Deno.test("receive fast path: parse, key and record equal to the Conntrack path's, plain flows taken", () => {
  const flat = new FlatCt();
  let plain = 0, plainTaken = 0, other = 0, otherTaken = 0;
  for (let i = 0; i < 30000; i++) {
    const d = rnd() < 0.8 ? senderCt() : wireCt();
    const msg = encode(W.CT_NEW, d.ct);
    const ct = W.decodeCtPayload(msg, W.HDR_SIZE, msg.length);
    const ok = parseFlatCtPayload(flat, msg, W.HDR_SIZE, msg.length);
    if (ct === null) { // a helper name too long for the reference
      assert(!ok && !d.plain);
      continue;
    }
    if (d.plain) plain++, plainTaken += ok ? 1 : 0;
    else other++, otherTaken += ok ? 1 : 0;
    if (!ok) continue;
    assertEquals(flatKey(flat), ctKey(ct), `key of ${JSON.stringify(ct)}`);
    assertEquals(flatPeerRecord(flat), encodeRecord(ct), `record of ${JSON.stringify(ct)}`);
  }
  assert(plain > 8000, `${plain} plain flows drawn`);
  // Plain flows are all taken; the rest only when their message is a plain flow's after all.
  assertEquals(plainTaken, plain);
  assert(otherTaken < other * 0.5, `${otherTaken} of ${other} others taken`);
});

Deno.test("receive fast path: the external cache and -s network as via the Conntrack path, 60 000 messages", () => {
  const limit = 15000;
  const fast = new ExternalCache(limit, {}), slow = new ExternalCache(limit, {});
  const fastNet = W.newNetworkStats(), slowNet = W.newNetworkStats();
  const taken = { n: 0, upd: 0, at: new Set<number>() };
  const fv = fastVisitor(fast, taken), sv = slowVisitor(slow);
  const recent: Conntrack[] = [];
  let msgs = 0, plainNew = 0, plainNewTaken = 0, odd = 0, broken = 0;
  while (msgs < 60000) {
    // A datagram of 1-6 messages.
    const parts: Uint8Array[] = [];
    const plainNewAt: number[] = [];
    let size = 0;
    for (let k = 1 + int(6); k > 0; k--, msgs++) {
      let d: Drawn;
      if (recent.length && rnd() < 0.35) {
        // The same flow again with other attributes (an update, or a NEW replacing it).
        const ct = recent[int(recent.length)];
        ct.status = maybe(u32, 0.9), ct.mark = maybe(u32), ct.timeout = maybe(() => int(1000));
        d = { ct, plain: false };
      } else {
        d = rnd() < 0.85 ? senderCt() : wireCt();
        recent.push(d.ct);
        if (recent.length > 500) recent.splice(0, 250);
      }
      const type = pick(TYPES);
      let m = encode(type, d.ct);
      const r = rnd();
      if (r < 0.06) m = oddPayload(m), odd++, d.plain = false;
      else if (r < 0.1) m = garble(m), broken++, d.plain = false;
      if (d.plain && type === W.CT_NEW) plainNewAt.push(size);
      parts.push(m);
      size += m.length;
    }
    const n = parts.reduce((s, p) => s + p.length, 0);
    const buf = new Uint8Array(n);
    let p = 0;
    for (const m of parts) buf.set(m, p), p += m.length;
    taken.at.clear();
    W.decodeMessages(buf, n, fv, fastNet);
    W.decodeMessages(buf, n, sv, slowNet);
    // A broken message that ends the walk leaves the rest of the datagram unread on both sides.
    const walked = parts.every((m) => m.length >= W.HDR_SIZE && ((m[2] << 8) | m[3]) === m.length);
    if (walked) {
      plainNew += plainNewAt.length, plainNewTaken += plainNewAt.filter((a) => taken.at.has(a)).length;
    }
    // Now and then an entry is marked dead on both sides (as a mode may): UPD must replace it.
    if (rnd() < 0.05 && fast.ct.size) {
      const key = [...fast.ct.values()][int(fast.ct.size)].key;
      for (const ec of [fast, slow]) {
        const o = ec.ct.findKey(key)!;
        if (o.status !== C_OBJ_DEAD) ec.ct.setDead(o);
      }
    }
    if (msgs % 997 < 6) assertEquals(snapshot(fast), snapshot(slow), `after ${msgs} messages`);
  }
  assertEquals(snapshot(fast), snapshot(slow));
  assertEquals(fastNet, slowNet);
  assert(slow.ct.stats.addFail > 0, "the cache filled up");
  assert(slowNet.badPayload > 100 && slowNet.badSize > 10, JSON.stringify(slowNet));
  assert(odd > 1000 && broken > 1000);
  assert(plainNewTaken >= plainNew * 0.9, `${plainNewTaken} of ${plainNew} plain NEW messages taken`);
  console.log(
    `${taken.n} of ${msgs} messages taken (${taken.upd} UPD); plain NEW: ${plainNewTaken} of ${plainNew}`,
  );
  assert(taken.upd > 1000, "UPD taken for absent and dead entries");
  assert(taken.n > msgs * 0.2, `${taken.n} of ${msgs} taken`);
});
