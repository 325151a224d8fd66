// The commit's create request written straight from a cache record must be
// byte for byte what the general path writes (record → Conntrack →
// makeCreateRequest → putConntrack), and records it cannot write must be left
// untouched for the general path.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { Conntrack, newTuple, type Tuple } from "../src/conntrack/model.ts";
import { putConntrack } from "../src/conntrack/encode.ts";
import { MessageBuilder } from "../src/netlink/builder.ts";
import { decodeRecord, encodeRecord } from "../src/conntrackd/cache/ct_record.ts";
import { makeCreateRequest } from "../src/conntrackd/sync/kernel_entry.ts";
import {
  recordFamily,
  recordIsRelated,
  writeCreateFromRecord,
} from "../src/conntrackd/sync/commit_request.ts";
import { draws } from "./lib/prng.ts";

const { rnd, int, maybe, u32 } = draws(11);

function addr(l3: number): string {
  if (l3 === 2) return `${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
  return `2001:db8:${int(65536).toString(16)}::${(int(65535) + 1).toString(16)}`;
}

/** Mostly what firewalls hold (TCP, UDP, ICMP, NAT, zones), sometimes odd, rarely what only the general path writes. */
function tuple(l3: number, proto: number | undefined): Tuple {
  const t = newTuple(l3);
  t.src = maybe(() => addr(l3), 0.95);
  t.dst = maybe(() => addr(l3), 0.95);
  t.proto = proto;
  t.sport = maybe(() => int(65536), 0.9);
  t.dport = maybe(() => int(65536), 0.9);
  t.icmpType = maybe(() => [0, 8, 13, 128, 129, int(256)][int(6)], 0.3);
  t.icmpCode = maybe(() => int(256), 0.3);
  t.icmpId = maybe(() => int(65536), 0.3);
  t.zone = maybe(() => int(65536), 0.1);
  return t;
}

function randomCt(rare: boolean): Conntrack {
  const ct = new Conntrack();
  const l3 = rnd() < 0.7 ? 2 : 10;
  const proto = maybe(() => [6, 6, 6, 17, 17, 1, 58, 132, 33, 47, 136, int(256)][int(12)], 0.97);
  ct.orig = tuple(l3, proto);
  ct.reply = tuple(l3, proto);
  ct.status = maybe(u32, 0.9);
  ct.timeout = maybe(u32, 0.9);
  ct.mark = maybe(u32);
  ct.secmark = maybe(u32, 0.2);
  ct.use = maybe(u32, 0.3);
  ct.id = maybe(u32, 0.5);
  ct.zone = maybe(() => int(65536), 0.2);
  ct.state = maybe(() => int(16), 0.8);
  ct.tcpWscaleOrig = maybe(() => int(15));
  ct.tcpWscaleReply = maybe(() => int(15));
  ct.tcpFlagsOrig = maybe(() => int(256));
  ct.tcpMaskOrig = maybe(() => int(256));
  ct.tcpFlagsReply = maybe(() => int(256));
  ct.tcpMaskReply = maybe(() => int(256));
  ct.sctpVtagOrig = maybe(u32, 0.3);
  ct.sctpVtagReply = maybe(u32, 0.3);
  ct.dccpRole = maybe(() => int(4), 0.3);
  ct.countersOrig = maybe(() => ({ packets: BigInt(u32()), bytes: BigInt(u32()) }), 0.3);
  ct.countersReply = maybe(() => ({ packets: BigInt(u32()), bytes: BigInt(u32()) }), 0.3);
  ct.tsStart = maybe(() => BigInt(u32()), 0.3);
  ct.tsStop = maybe(() => BigInt(u32()), 0.1);
  ct.secctx = maybe(() => "system_u:object_r:unlabeled_t:s0", 0.1);
  ct.snat = maybe(() => ({ addr: maybe(() => addr(l3), 0.9), port: maybe(() => int(65536)) }), 0.3);
  ct.dnat = maybe(() => ({ addr: maybe(() => addr(l3), 0.9), port: maybe(() => int(65536)) }), 0.2);
  if (rare) {
    switch (int(8)) {
      case 0:
        ct.master = tuple(l3, 6);
        break;
      case 1:
        ct.helper = "ftp";
        break;
      case 2:
        ct.labels = Uint8Array.from({ length: 16 }, () => int(256));
        break;
      case 3:
        ct.seqAdjOrig = { correctionPos: u32(), offsetBefore: u32(), offsetAfter: u32() };
        break;
      case 4:
        ct.synproxy = { isn: u32(), its: u32(), tsoff: u32() };
        break;
      case 5:
        ct.dccpHandshakeSeq = BigInt(u32());
        break;
      case 6:
        ct.orig.src = "not-an-address";
        break;
      default:
        ct.orig.l3 = 0;
    }
  }
  return ct;
}

/** What the general path writes for one record, as a whole message. */
function general(rec: string, timeout: number, tracking: boolean): Uint8Array {
  const req = makeCreateRequest(decodeRecord(rec), timeout, tracking);
  const b = new MessageBuilder(512).begin(0x100, 0x601, 1, req.orig.l3);
  putConntrack(b, req);
  return b.end().bytesView().slice();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function show(rec: string): string {
  return JSON.stringify(decodeRecord(rec), (_k, v) => typeof v === "bigint" ? String(v) : v);
}

function direct(rec: string, timeout: number, tracking: boolean): Uint8Array | null {
  const b = new MessageBuilder(512).begin(0x100, 0x601, 1, recordFamily(rec));
  const before = b.len;
  if (!writeCreateFromRecord(b, rec, () => timeout, tracking)) {
    assertEquals(b.len, before, "nothing written when the general path is needed");
    return null;
  }
  return b.end().bytesView().slice();
}

Deno.test("create requests from records equal the general path's, byte for byte (30 000 entries)", () => {
  let written = 0;
  for (let i = 0; i < 30_000; i++) {
    const ct = randomCt(false);
    const rec = encodeRecord(ct);
    const timeout = [0, 0, 60, 3600, u32()][int(5)];
    const tracking = rnd() < 0.3;
    const got = direct(rec, timeout, tracking);
    if (got === null) continue;
    written++;
    const want = general(rec, timeout, tracking);
    if (!sameBytes(got, want)) assertEquals(got, want, `entry ${i}: ${show(rec)}`);
  }
  // Without the rare attributes only a mismatched address width sends an entry down the general path.
  assert(written > 29_000, `${written} of 30 000 written directly`);
});

Deno.test("records with a master, helper, labels, seqadj, synproxy, DCCP sequence or text address go the general way", () => {
  for (let i = 0; i < 2_000; i++) {
    const rec = encodeRecord(randomCt(true));
    const got = direct(rec, 0, false);
    if (got !== null) throw new Error(`entry ${i} written directly: ${show(rec)}`);
  }
});

Deno.test("the commit timeout callback sees the cached timeout and 0 keeps it", () => {
  const ct = new Conntrack();
  ct.orig = { ...newTuple(2), src: "10.0.0.1", dst: "10.0.0.2", proto: 6, sport: 1, dport: 2 };
  ct.reply = { ...newTuple(2), src: "10.0.0.2", dst: "10.0.0.1", proto: 6, sport: 2, dport: 1 };
  ct.timeout = 431;
  const rec = encodeRecord(ct);
  let seen: number | undefined = -1;
  const b = new MessageBuilder(256).begin(0x100, 0x601, 1, 2);
  assert(writeCreateFromRecord(b, rec, (cached) => (seen = cached, 0), false));
  assertEquals(seen, 431);
  assertEquals(b.end().bytesView().slice(), general(rec, 0, false));
});

Deno.test("related entries are told from their records", () => {
  for (let i = 0; i < 5_000; i++) {
    const ct = randomCt(rnd() < 0.5);
    if (rnd() < 0.3) ct.master = tuple(ct.orig.l3 || 2, 6);
    if (rnd() < 0.1) ct.reply.src = "text address";
    const rec = encodeRecord(ct);
    assertEquals(recordIsRelated(rec), ct.master !== undefined, show(rec));
  }
});
