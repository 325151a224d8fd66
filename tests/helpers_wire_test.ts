// The helper mode's bytes against the C libraries the reference uses (loaded
// through FFI as oracles): NFQUEUE configuration and verdicts
// (libnetfilter_queue), helper registration (libnetfilter_cthelper), NAT
// rewriting (nfq_tcp_mangle_ipv4 / nfq_udp_mangle_ipv4); expectations read
// back with the ctnetlink decoder; and one queued packet through the
// dispatcher as the kernel would deliver it (NFQA_CT, NFQA_CT_INFO).
import { deepStrictEqual, ok as assert } from "node:assert";
import { libnetfilterQueue } from "../ffi/libnetfilter_queue.ts";
import { libnetfilterCthelper } from "../ffi/libnetfilter_cthelper.ts";
import { MessageBuilder } from "../src/netlink/builder.ts";
import { decodeExpect } from "../src/conntrack/decode.ts";
import * as A from "../src/conntrack/attrs.ts";
import {
  beginQueueMsg,
  NFQA_CT,
  NFQA_CT_INFO,
  NFQA_EXP,
  NFQA_PACKET_HDR,
  NFQA_PAYLOAD,
  NFQA_VERDICT_HDR,
  NFQNL_CFG_CMD_BIND,
  NFQNL_CFG_CMD_PF_UNBIND,
  NFQNL_COPY_PACKET,
  NFQNL_MSG_CONFIG,
  NFQNL_MSG_PACKET,
  NFQNL_MSG_VERDICT,
  parseQueuedPacket,
  putConfigCmd,
  putConfigMaxLen,
  putConfigParams,
  putVerdict,
  QueuedPacket,
} from "../src/conntrackd/helpers/queue_msg.ts";
import { buildHelperNew } from "../src/conntrackd/helpers/cthelper_msg.ts";
import { manglePacket } from "../src/conntrackd/helpers/nat.ts";
import { Packet } from "../src/conntrackd/helpers/context.ts";
import { IP_CT_ESTABLISHED, IPPROTO_TCP, IPPROTO_UDP, NF_DROP } from "../src/conntrackd/helpers/context.ts";
import { buildExpectNew, type HelperExpect } from "../src/conntrackd/helpers/expect.ts";
import { HelperDispatcher, type VerdictSink } from "../src/conntrackd/helpers/dispatch.ts";
import { ftpHelper } from "../src/conntrackd/helpers/ftp.ts";
import { dhcpv6Helper } from "../src/conntrackd/helpers/dhcpv6.ts";
import { addr, enc, Flow, packet, tcp, udp } from "./lib/helper_packets.ts";

function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** The message libnetfilter_queue builds in `buf` (its length is in the header). */
function cMessage(buf: Uint8Array): Uint8Array {
  return buf.slice(0, new DataView(buf.buffer).getUint32(0, true));
}

Deno.test("queue messages: configuration and verdicts are byte-identical to libnetfilter_queue's", () => {
  const q = libnetfilterQueue();
  const cases: [string, (b: Uint8Array) => void, (m: MessageBuilder) => void][] = [
    ["bind", (b) => {
      q.nfq_nlmsg_put(b, NFQNL_MSG_CONFIG, 7);
      q.nfq_nlmsg_cfg_put_cmd(b, 2, NFQNL_CFG_CMD_BIND);
    }, (m) => {
      beginQueueMsg(m, NFQNL_MSG_CONFIG, 7);
      putConfigCmd(m, 2, NFQNL_CFG_CMD_BIND);
    }],
    ["pf unbind", (b) => {
      q.nfq_nlmsg_put(b, NFQNL_MSG_CONFIG, 0);
      q.nfq_nlmsg_cfg_put_cmd(b, 2, NFQNL_CFG_CMD_PF_UNBIND);
    }, (m) => {
      beginQueueMsg(m, NFQNL_MSG_CONFIG, 0);
      putConfigCmd(m, 2, NFQNL_CFG_CMD_PF_UNBIND);
    }],
    ["params + maxlen", (b) => {
      q.nfq_nlmsg_put(b, NFQNL_MSG_CONFIG, 65535);
      q.nfq_nlmsg_cfg_put_params(b, NFQNL_COPY_PACKET, 0xffff);
      q.nfq_nlmsg_cfg_put_qmaxlen(b, 10240);
    }, (m) => {
      beginQueueMsg(m, NFQNL_MSG_CONFIG, 65535);
      putConfigParams(m, NFQNL_COPY_PACKET, 0xffff);
      putConfigMaxLen(m, 10240);
    }],
    ["verdict with packet", (b) => {
      q.nfq_nlmsg_put(b, NFQNL_MSG_VERDICT, 3);
      q.nfq_nlmsg_verdict_put(b, 0x01020304, 1);
      const pkt = enc("0123456789abc");
      q.nfq_nlmsg_verdict_put_pkt(b, pkt, pkt.length);
    }, (m) => {
      beginQueueMsg(m, NFQNL_MSG_VERDICT, 3);
      putVerdict(m, 0x01020304, 1);
      m.bytes(NFQA_PAYLOAD, enc("0123456789abc"));
    }],
  ];
  for (const [name, c, ts] of cases) {
    const buf = new Uint8Array(256);
    c(buf);
    const m = new MessageBuilder(256);
    ts(m);
    assertEquals(hex(m.end().bytesView()), hex(cMessage(buf)), name);
  }
});

const NFCTH_ATTR_NAME = 0, NFCTH_ATTR_QUEUE_NUM = 1, NFCTH_ATTR_PROTO_L3NUM = 2, NFCTH_ATTR_PROTO_L4NUM = 3;
const NFCTH_ATTR_PRIV_DATA_LEN = 4, NFCTH_ATTR_POLICY = 5, NFCTH_ATTR_STATUS = 9;
const NFCTH_ATTR_POLICY_NAME = 0, NFCTH_ATTR_POLICY_TIMEOUT = 1, NFCTH_ATTR_POLICY_MAX = 2;

Deno.test("cthelper registration: byte-identical to what the reference builds with libnetfilter_cthelper", () => {
  const h = libnetfilterCthelper();
  const cstr = (s: string) => enc(s + "\0");
  for (const setup of [false, true]) {
    const t = h.nfct_helper_alloc()!;
    h.nfct_helper_attr_set_str(t, NFCTH_ATTR_NAME, cstr("ftp"));
    h.nfct_helper_attr_set_u32(t, NFCTH_ATTR_QUEUE_NUM, 5);
    h.nfct_helper_attr_set_u16(t, NFCTH_ATTR_PROTO_L3NUM, 2);
    h.nfct_helper_attr_set_u8(t, NFCTH_ATTR_PROTO_L4NUM, IPPROTO_TCP);
    if (setup) h.nfct_helper_attr_set_u32(t, NFCTH_ATTR_PRIV_DATA_LEN, 24);
    h.nfct_helper_attr_set_u32(t, NFCTH_ATTR_STATUS, 1);
    const p = h.nfct_helper_policy_alloc()!;
    h.nfct_helper_policy_attr_set_str(p, NFCTH_ATTR_POLICY_NAME, cstr("ftp"));
    h.nfct_helper_policy_attr_set_u32(p, NFCTH_ATTR_POLICY_TIMEOUT, 60);
    h.nfct_helper_policy_attr_set_u32(p, NFCTH_ATTR_POLICY_MAX, 4);
    h.nfct_helper_attr_set(t, NFCTH_ATTR_POLICY, p);
    const buf = new Uint8Array(512);
    const nlh = h.nfct_helper_nlmsg_build_hdr(buf, 0, 0x400 | 0x4, 1234567);
    h.nfct_helper_nlmsg_build_payload(nlh, t);
    h.nfct_helper_free(t);
    const ours = buildHelperNew({
      name: "ftp",
      queueNum: 5,
      l3proto: 2,
      l4proto: IPPROTO_TCP,
      privDataLen: setup ? 24 : undefined,
      policies: [{ name: "ftp", expectMax: 4, expectTimeout: 60 }],
    }, 1234567);
    assertEquals(hex(ours), hex(cMessage(buf)), `Setup ${setup}`);
  }
});

Deno.test("NAT rewrites: identical bytes and checksums to nfq_tcp_mangle_ipv4 and nfq_udp_mangle_ipv4", () => {
  const q = libnetfilterQueue();
  const cases: [Uint8Array, number, number, number, string][] = [
    [
      packet("10.0.0.5", "198.51.100.20", tcp(40000, 21, "PORT 10,0,0,5,7,138\r\n")),
      IPPROTO_TCP,
      5,
      14,
      "203,0,113,1,7,138",
    ],
    [
      packet("10.0.0.5", "198.51.100.20", tcp(40000, 21, "EPRT |1|10.0.0.5|1930|\r\n")),
      IPPROTO_TCP,
      5,
      18,
      "|1|203.0.113.100|1930|",
    ],
    [
      packet("198.51.100.20", "10.0.0.5", udp(10080, 850, "CONNECT DATA 050000 MESG 7\n")),
      IPPROTO_UDP,
      13,
      6,
      "50000",
    ],
  ];
  for (const [pkt, proto, at, len, text] of cases) {
    const p = q.pktb_alloc(2, pkt, BigInt(pkt.length), 256n)!;
    const rep = enc(text);
    const ok = proto === IPPROTO_TCP
      ? q.nfq_tcp_mangle_ipv4(p, at, len, rep, rep.length)
      : q.nfq_udp_mangle_ipv4(p, at, len, rep, rep.length);
    assertEquals(ok, 1);
    const n = q.pktb_len(p);
    const c = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(q.pktb_data(p)!, n).slice(0));
    q.pktb_free(p);
    const buf = new Uint8Array(pkt.length + 256);
    buf.set(pkt);
    const ours = new Packet(buf).set(buf, pkt.length, 20);
    assert(manglePacket(ours, 2, proto, { at, len, text }));
    assertEquals(hex(buf.subarray(0, ours.len)), hex(c), text);
  }
});

Deno.test("expectations on the wire: the ctnetlink decoder reads back what the helpers built", () => {
  const flow = new Flow(ftpHelper, {
    src: "10.0.0.5",
    dst: "198.51.100.20",
    proto: IPPROTO_TCP,
    sport: 40000,
    dport: 21,
    status: 0x10,
    reply: { src: "198.51.100.20", dst: "203.0.113.1", sport: 21, dport: 61000 },
  });
  flow.run(packet("198.51.100.20", "203.0.113.1", tcp(21, 61000, "220 hi\r\n", 5000)), 3);
  flow.run(
    packet("198.51.100.20", "203.0.113.1", tcp(21, 61000, "227 ok (198,51,100,20,19,137)\r\n", 5008)),
    3,
  );
  const e = flow.call.create[0] as HelperExpect;
  const b = new MessageBuilder(512);
  buildExpectNew(b, e, 42);
  const bytes = b.bytesView();
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  assertEquals(v.getUint16(6, true), 0x1 | 0x400 | 0x4); // REQUEST | CREATE | ACK
  assertEquals(v.getUint16(4, true), (2 << 8) | A.IPCTNL_MSG_EXP_NEW);
  const d = decodeExpect(bytes, v, 0, bytes.length);
  assertEquals(
    [d.tuple.src, d.tuple.dst, d.tuple.sport, d.tuple.dport, d.tuple.proto],
    ["10.0.0.5", "198.51.100.20", 0, 5001, IPPROTO_TCP],
  );
  assertEquals([d.mask.src, d.mask.dst, d.mask.sport, d.mask.dport], [
    "255.255.255.255",
    "255.255.255.255",
    0,
    65535,
  ]);
  assertEquals([d.master.src, d.master.dst, d.master.sport, d.master.dport], [
    "10.0.0.5",
    "198.51.100.20",
    40000,
    21,
  ]);
  assertEquals([d.flags, d.fn, d.nat?.dir, d.nat?.tuple.sport, d.helper], [
    0,
    "nat-follow-master",
    0,
    5001,
    undefined,
  ]);
});

/** A queued-packet message as nfnetlink_queue sends it (with the conntrack glue). */
function kernelMessage(o: {
  queue: number;
  id: number;
  family: number;
  pkt: Uint8Array;
  ctinfo?: number;
  ct?: {
    src: string;
    dst: string;
    sport: number;
    dport: number;
    proto: number;
    helper: string;
    info?: Uint8Array;
  };
}): Uint8Array {
  const b = new MessageBuilder(4096);
  b.begin((3 << 8) | NFQNL_MSG_PACKET, 0, 0, o.family, o.queue);
  const hdr = new Uint8Array(7);
  new DataView(hdr.buffer).setUint32(0, o.id);
  new DataView(hdr.buffer).setUint16(4, o.family === 10 ? 0x86dd : 0x0800);
  b.bytes(NFQA_PACKET_HDR, hdr);
  if (o.ct) {
    const c = o.ct;
    const v6 = o.family === 10;
    const tuple = (type: number, s: string, d: string, sp: number, dp: number) => {
      b.nest(type).nest(A.CTA_TUPLE_IP);
      b.bytes(v6 ? A.CTA_IP_V6_SRC : A.CTA_IP_V4_SRC, addr(s)).bytes(
        v6 ? A.CTA_IP_V6_DST : A.CTA_IP_V4_DST,
        addr(d),
      );
      b.endNest().nest(A.CTA_TUPLE_PROTO).u8(A.CTA_PROTO_NUM, c.proto).be16(A.CTA_PROTO_SRC_PORT, sp)
        .be16(A.CTA_PROTO_DST_PORT, dp).endNest().endNest();
    };
    b.nest(NFQA_CT);
    tuple(A.CTA_TUPLE_ORIG, c.src, c.dst, c.sport, c.dport);
    tuple(A.CTA_TUPLE_REPLY, c.dst, c.src, c.dport, c.sport);
    b.be32(A.CTA_STATUS, 0x18a).be32(A.CTA_TIMEOUT, 431999).be32(A.CTA_USE, 1).be32(A.CTA_ID, 0xdeadbeef);
    b.nest(A.CTA_HELP).str(A.CTA_HELP_NAME, c.helper);
    if (c.info) b.bytes(2, c.info);
    b.endNest().endNest();
    b.be32(NFQA_CT_INFO, o.ctinfo ?? 0);
  }
  b.bytes(NFQA_PAYLOAD, o.pkt);
  return b.end().bytesView().slice();
}

/** Collects verdict messages as NfQueue would send them. */
class Recorder implements VerdictSink {
  readonly b = new MessageBuilder(8192);
  verdict(queue: number, id: number, verdict: number, extra?: (b: MessageBuilder) => void): void {
    beginQueueMsg(this.b, NFQNL_MSG_VERDICT, queue);
    putVerdict(this.b, id, verdict);
    extra?.(this.b);
    this.b.end();
  }
  /** Top-level attributes of the first verdict: type -> [offset, length]. */
  attrs(): { bytes: Uint8Array; v: DataView; at: Map<number, [number, number]> } {
    const bytes = this.b.bytesView();
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    const at = new Map<number, [number, number]>();
    let o = 20;
    while (o < v.getUint32(0, true)) {
      const len = v.getUint16(o, true);
      at.set(v.getUint16(o + 2, true) & 0x3fff, [o + 4, len - 4]);
      o += (len + 3) & ~3;
    }
    return { bytes, v, at };
  }
}

function dispatch(msg: Uint8Array, helper = ftpHelper, createResult = 0) {
  const rec = new Recorder();
  const created: HelperExpect[] = [];
  const logs: string[] = [];
  const d = new HelperDispatcher(
    new Map([[4, { helper, policies: helper.policies }]]),
    rec,
    { create: (e) => (created.push(e), createResult), remove: () => {} },
    (level, m) => logs.push(`${level}: ${m}`),
  );
  const p = new QueuedPacket();
  const v = new DataView(msg.buffer);
  parseQueuedPacket(msg, v, 0, msg.length, p);
  d.handle(msg, v, 0, msg.length, p);
  return { rec, created, logs, stats: d.stats };
}

Deno.test("dispatcher: an FTP PORT with the kernel's conntrack creates the expectation and writes the private data back", () => {
  // Private data as the kernel keeps it: after the previous line, client direction.
  const info = new Uint8Array(24);
  new DataView(info.buffer).setUint32(0, 1000, true);
  new DataView(info.buffer).setInt32(16, 1, true);
  const text = "PORT 192,0,2,10,7,138\r\n";
  const msg = kernelMessage({
    queue: 4,
    id: 77,
    family: 2,
    pkt: packet("192.0.2.10", "198.51.100.20", tcp(40000, 21, text, 1000)),
    ctinfo: IP_CT_ESTABLISHED,
    ct: {
      src: "192.0.2.10",
      dst: "198.51.100.20",
      sport: 40000,
      dport: 21,
      proto: IPPROTO_TCP,
      helper: "ftp",
      info,
    },
  });
  const { rec, created, stats } = dispatch(msg);
  assertEquals(created.length, 1);
  assertEquals([created[0].tuple.dport, stats.expectsCreated, stats.accepted], [1930, 1, 1]);
  const { bytes, v, at } = rec.attrs();
  const [vh] = at.get(NFQA_VERDICT_HDR)!;
  assertEquals([v.getUint32(vh), v.getUint32(vh + 4)], [1, 77]);
  assert(!at.has(NFQA_PAYLOAD) && !at.has(NFQA_EXP));
  // The CT nest carries the new private data: the end of this line is remembered.
  const [ct, ctLen] = at.get(NFQA_CT)!;
  const nest = bytes.subarray(ct, ct + ctLen);
  const want = new Uint8Array(24);
  const wv = new DataView(want.buffer);
  wv.setUint32(0, 1000, true);
  wv.setUint32(4, 1000 + text.length, true);
  wv.setInt32(16, 2, true);
  assert(hex(nest).includes(hex(want)), "CTA_HELP_INFO with the updated sequence numbers");
  assert(hex(nest).includes(hex(enc("ftp\0"))));
});

Deno.test("dispatcher: an attached expectation travels in NFQA_EXP; a failed creation drops", () => {
  const msg = kernelMessage({
    queue: 4,
    id: 9,
    family: 10,
    pkt: packet("fe80::1", "ff02::1:2", udp(546, 547, new Uint8Array([3, 1, 2, 3]))),
    ctinfo: 2,
    ct: { src: "fe80::1", dst: "ff02::1:2", sport: 546, dport: 547, proto: IPPROTO_UDP, helper: "dhcpv6" },
  });
  const { rec } = dispatch(msg, dhcpv6Helper);
  const { bytes, v, at } = rec.attrs();
  const [e, eLen] = at.get(NFQA_EXP)!;
  // Wrap the nest as a message for the ctnetlink decoder.
  const wrapped = new Uint8Array(20 + eLen);
  wrapped.set(bytes.subarray(e, e + eLen), 20);
  new DataView(wrapped.buffer).setUint32(0, wrapped.length, true);
  wrapped[16] = 10;
  const d = decodeExpect(wrapped, new DataView(wrapped.buffer), 0, wrapped.length);
  assertEquals([d.tuple.src, d.tuple.dst, d.tuple.dport, d.mask.src, d.flags], [
    "::",
    "fe80::1",
    546,
    "::",
    1,
  ]);
  // Request (type 3): the master's timeout becomes 30 s in the CT nest.
  const [ct, ctLen] = at.get(NFQA_CT)!;
  let timeout = -1;
  for (let o = ct; o < ct + ctLen;) {
    const len = v.getUint16(o, true);
    if ((v.getUint16(o + 2, true) & 0x3fff) === A.CTA_TIMEOUT) timeout = v.getUint32(o + 4);
    o += (len + 3) & ~3;
  }
  assertEquals(timeout, 30);
  // ftp whose expectation the kernel refuses: DROP.
  const info = new Uint8Array(24);
  new DataView(info.buffer).setUint32(0, 1000, true);
  new DataView(info.buffer).setInt32(16, 1, true);
  const ftp = kernelMessage({
    queue: 4,
    id: 10,
    family: 2,
    pkt: packet("192.0.2.10", "198.51.100.20", tcp(40000, 21, "PORT 192,0,2,10,7,138\r\n", 1000)),
    ct: {
      src: "192.0.2.10",
      dst: "198.51.100.20",
      sport: 40000,
      dport: 21,
      proto: IPPROTO_TCP,
      helper: "ftp",
      info,
    },
  });
  const r = dispatch(ftp, ftpHelper, 16);
  const [vh] = r.rec.attrs().at.get(NFQA_VERDICT_HDR)!;
  assertEquals(r.rec.attrs().v.getUint32(vh), NF_DROP);
  assertEquals(r.stats.expectFailures, 1);
});

Deno.test("dispatcher: no conntrack attached (this kernel) or bad headers: plain ACCEPT, logged as the reference", () => {
  const noCt = kernelMessage({
    queue: 4,
    id: 5,
    family: 2,
    pkt: packet("192.0.2.1", "192.0.2.2", udp(1, 9999, "x")),
  });
  const r = dispatch(noCt);
  assertEquals(r.logs, ["error: no CT attached to this packet"]);
  const { at } = r.rec.attrs();
  assertEquals([...at.keys()], [NFQA_VERDICT_HDR]);
  const short = kernelMessage({
    queue: 4,
    id: 6,
    family: 2,
    pkt: new Uint8Array(12),
    ct: { src: "192.0.2.1", dst: "192.0.2.2", sport: 1, dport: 2, proto: IPPROTO_TCP, helper: "ftp" },
  });
  assertEquals(dispatch(short).logs, ["error: no room for IPv4 header"]);
  const wrongQueue = kernelMessage({
    queue: 9,
    id: 7,
    family: 2,
    pkt: packet("192.0.2.1", "192.0.2.2", tcp(1, 21, "PORT 1\r\n")),
    ct: { src: "192.0.2.1", dst: "192.0.2.2", sport: 1, dport: 21, proto: IPPROTO_TCP, helper: "ftp" },
  });
  assertEquals(dispatch(wrongQueue).stats.passed, 1);
});
