// The sync sender's transmit shortcuts (src/conntrackd/sync/internal.ts,
// idle_timer.ts): a NEW event's message is built from the conntrack the event
// carried instead of from the cache's record, and must be byte for byte the
// message the record gives; a change of the cached value before the transmit
// round drops the shortcut. The ALIVE timer fires only after a quiet period.
import { deepStrictEqual as assertEquals, ok as assert, strictEqual } from "node:assert";
import {
  Conntrack,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPS_SRC_NAT,
  newTuple,
} from "../src/conntrack/model.ts";
import type { MultiChannel } from "../src/conntrackd/channel/mod.ts";
import type { CtFilter } from "../src/conntrackd/filter/mod.ts";
import type { KernelTable } from "../src/conntrackd/ctnl/kernel.ts";
import { ORIGIN_NOT_ME } from "../src/conntrackd/modes/mode.ts";
import { InternalCache, transmitObject } from "../src/conntrackd/sync/internal.ts";
import { sendObject, type SyncObject } from "../src/conntrackd/sync/protocol.ts";
import type { QueueNode } from "../src/conntrackd/sync/queue.ts";
import { IdleTimer } from "../src/conntrackd/sync/idle_timer.ts";
import { Transmitter } from "../src/conntrackd/sync/tx.ts";
import * as W from "../src/conntrackd/sync/wire/mod.ts";

/** A channel that keeps every message handed to it. */
function capture(): { channel: MultiChannel; sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  const channel = {
    send: (m: Uint8Array) => (sent.push(m.slice()), false),
    flush: () => false,
    pending: 0,
  };
  return { channel: channel as unknown as MultiChannel, sent };
}

/** The message without its sequence number (bytes 4-7), which differs per send. */
function withoutSeq(m: Uint8Array): number[] {
  return [...m.subarray(0, 4), ...m.subarray(8)];
}

/** The conntrack a receiver gets from one message. */
function decodeOne(m: Uint8Array): Conntrack {
  const got: Conntrack[] = [];
  const visitor = {
    recv: () => W.MSG_DATA,
    ct: (_h: W.MessageHeader, ct: Conntrack) => got.push(ct),
    exp: () => {},
  };
  W.decodeMessages(m, m.length, visitor, W.newNetworkStats());
  strictEqual(got.length, 1);
  return got[0];
}

function setUp(withTimeout: boolean) {
  const { channel, sent } = capture();
  const tx = new Transmitter(channel, withTimeout, true);
  const queued: QueueNode<SyncObject>[] = [];
  const filter = { rejects: () => false } as unknown as CtFilter;
  const cache = new InternalCache(1000, (n) => queued.push(n), null as unknown as KernelTable, filter, {});
  return { tx, sent, queued, cache };
}

function tcp(i: number): Conntrack {
  const ct = new Conntrack();
  Object.assign(ct.orig, { l3: 2, src: `10.0.${i >> 8}.${i & 255}`, dst: "192.0.2.1", proto: IPPROTO_TCP });
  Object.assign(ct.orig, { sport: 1024 + i, dport: 80 });
  Object.assign(ct.reply, { l3: 2, src: "192.0.2.1", dst: `10.0.${i >> 8}.${i & 255}`, proto: IPPROTO_TCP });
  Object.assign(ct.reply, { sport: 80, dport: 1024 + i });
  ct.status = 0x18e, ct.timeout = 3600, ct.mark = i % 5, ct.id = 77 + i, ct.use = 1, ct.state = 3;
  ct.tcpWscaleOrig = 7, ct.tcpWscaleReply = 6, ct.tcpFlagsOrig = 0x23, ct.tcpMaskOrig = 0x23;
  ct.countersOrig = { packets: 5n, bytes: 500n };
  return ct;
}

/** Conntracks with most of what the wire carries: NAT, IPv6, ICMP, master, helper, labels, zone. */
function variety(): Conntrack[] {
  const out: Conntrack[] = [tcp(1)];
  const nat = tcp(2);
  nat.status = 0x18e | IPS_SRC_NAT | 0x80;
  nat.reply.dst = "198.51.100.7", nat.reply.dport = 40000;
  out.push(nat);
  const v6 = new Conntrack();
  Object.assign(v6.orig, { l3: 10, src: "2001:db8::1", dst: "2001:db8:0:1::abcd", proto: IPPROTO_UDP });
  Object.assign(v6.orig, { sport: 5353, dport: 53, zone: 3 });
  Object.assign(v6.reply, { l3: 10, src: "2001:db8:0:1::abcd", dst: "2001:db8::1", proto: IPPROTO_UDP });
  Object.assign(v6.reply, { sport: 53, dport: 5353 });
  v6.status = 0x8, v6.timeout = 30, v6.zone = 3, v6.labels = new Uint8Array([1, 0, 0, 0x80, 0, 0, 0, 2]);
  out.push(v6);
  const icmp = new Conntrack();
  Object.assign(icmp.orig, { l3: 2, src: "10.9.9.9", dst: "10.8.8.8", proto: IPPROTO_ICMP });
  Object.assign(icmp.orig, { icmpType: 8, icmpCode: 0, icmpId: 4242 });
  Object.assign(icmp.reply, { l3: 2, src: "10.8.8.8", dst: "10.9.9.9", proto: IPPROTO_ICMP });
  Object.assign(icmp.reply, { icmpType: 0, icmpCode: 0, icmpId: 4242 });
  icmp.status = 0x8, icmp.timeout = 29;
  out.push(icmp);
  const ftpData = tcp(3);
  ftpData.master = {
    ...newTuple(2),
    src: "10.0.0.1",
    dst: "10.0.0.2",
    proto: IPPROTO_TCP,
    sport: 40021,
    dport: 21,
  };
  ftpData.helper = "ftp";
  ftpData.seqAdjOrig = { correctionPos: 1, offsetBefore: 2, offsetAfter: 3 };
  ftpData.seqAdjReply = { correctionPos: 4, offsetBefore: 5, offsetAfter: 6 };
  out.push(ftpData);
  return out;
}

for (const withTimeout of [false, true]) {
  Deno.test(`transmit: a NEW event's message equals the cached record's (timeouts ${withTimeout})`, () => {
    const { tx, sent, queued, cache } = setUp(withTimeout);
    const cts = variety();
    for (const ct of cts) cache.ctHandler.onNew(ct, ORIGIN_NOT_ME);
    strictEqual(queued.length, cts.length);
    for (const n of queued) {
      transmitObject(tx, n.data);
      sendObject(tx, n.data);
    }
    strictEqual(sent.length, 2 * cts.length);
    for (let i = 0; i < cts.length; i++) {
      const fromEvent = sent[2 * i], fromRecord = sent[2 * i + 1];
      strictEqual(W.getType(fromEvent, 0), W.CT_NEW);
      assertEquals(withoutSeq(fromEvent), withoutSeq(fromRecord), `conntrack ${i}`);
    }
  });
}

Deno.test("transmit: the event's conntrack serves one send only; later sends use the record", () => {
  const { tx, sent, queued, cache } = setUp(true);
  cache.ctHandler.onNew(tcp(9), ORIGIN_NOT_ME);
  const o = queued[0].data;
  transmitObject(tx, o);
  // As if the peer NACKed it and it went out again, after the cache learnt a new mark.
  const upd = tcp(9);
  upd.mark = 4242;
  cache.ctHandler.onUpdate(upd, ORIGIN_NOT_ME);
  transmitObject(tx, o);
  strictEqual(W.getType(sent[1], 0), W.CT_UPD);
  strictEqual(decodeOne(sent[0]).mark, 9 % 5);
  strictEqual(decodeOne(sent[1]).mark, 4242);
});

Deno.test("transmit: an update before the round sends the merged value, not the NEW event's", () => {
  const { tx, sent, queued, cache } = setUp(false);
  cache.ctHandler.onNew(tcp(5), ORIGIN_NOT_ME);
  const upd = tcp(5);
  upd.mark = 99;
  upd.state = 4;
  cache.ctHandler.onUpdate(upd, ORIGIN_NOT_ME);
  // Both events queue the same node; the round sends it once.
  strictEqual(queued[0], queued[1]);
  transmitObject(tx, queued[0].data);
  sendObject(tx, queued[0].data);
  strictEqual(W.getType(sent[0], 0), W.CT_UPD);
  assertEquals(withoutSeq(sent[0]), withoutSeq(sent[1]));
  const got: Conntrack[] = [];
  const visitor = {
    recv: () => W.MSG_DATA,
    ct: (_h: W.MessageHeader, ct: Conntrack) => got.push(ct),
    exp: () => {},
  };
  W.decodeMessages(sent[0], sent[0].length, visitor, W.newNetworkStats());
  strictEqual(got[0].mark, 99);
  strictEqual(got[0].state, 4);
});

Deno.test("transmit: a flow destroyed before the round goes out as CT_DEL with its cached value", () => {
  const { tx, sent, queued, cache } = setUp(false);
  cache.ctHandler.onNew(tcp(6), ORIGIN_NOT_ME);
  cache.ctHandler.onDestroy(tcp(6), ORIGIN_NOT_ME);
  transmitObject(tx, queued[0].data);
  sendObject(tx, queued[0].data);
  strictEqual(W.getType(sent[0], 0), W.CT_DEL);
  assertEquals(withoutSeq(sent[0]), withoutSeq(sent[1]));
});

Deno.test("idle timer: fires once a quiet period has passed, touches defer it", async () => {
  const fired: number[] = [];
  const t0 = performance.now();
  const timer = new IdleTimer(60, () => fired.push(performance.now() - t0));
  timer.touch();
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 30));
    timer.touch();
  }
  strictEqual(fired.length, 0, "touched every 30 ms: never quiet for 60 ms");
  await new Promise((r) => setTimeout(r, 150));
  strictEqual(fired.length, 1);
  assert(fired[0] >= 120 + 60 - 5, `fired ${fired[0].toFixed(1)} ms after start`);
  timer.touch();
  timer.stop();
  await new Promise((r) => setTimeout(r, 100));
  strictEqual(fired.length, 1, "stopped");
});
