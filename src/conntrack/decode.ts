// Decodes ctnetlink messages (conntrack and expectation) into model objects.
// Works on the receive buffer directly: no FFI crossing per attribute.
import { MSG_DESTROY, MSG_NEW, MSG_UNKNOWN, MSG_UPDATE, type MsgType } from "./format/common.ts";
import { ntop4, ntop6 } from "../common/inet.ts";
import { NLA_TYPE_MASK, NLM_F_CREATE } from "../netlink/constants.ts";
import { Conntrack, type Counters, Expect, newTuple, type SeqAdj, type Tuple } from "./model.ts";
import * as A from "./attrs.ts";

const utf8 = new TextDecoder();

function cstr(buf: Uint8Array, off: number, len: number): string {
  let end = off;
  const lim = off + len;
  while (end < lim && buf[end] !== 0) end++;
  return utf8.decode(buf.subarray(off, end));
}

/** Iterates the attributes in [off, end): calls fn(type, payloadOff, payloadLen). */
function eachAttr(v: DataView, off: number, end: number, fn: (t: number, p: number, l: number) => void) {
  while (off + 4 <= end) {
    const len = v.getUint16(off, true);
    if (len < 4 || off + len > end) break;
    fn(v.getUint16(off + 2, true) & NLA_TYPE_MASK, off + 4, len - 4);
    off += (len + 3) & ~3;
  }
}

/** Decodes a tuple nest into `t` (a fresh tuple unless one is given to fill). */
export function decodeTuple(
  buf: Uint8Array,
  v: DataView,
  off: number,
  end: number,
  l3: number,
  t: Tuple = newTuple(l3),
): Tuple {
  t.l3 = l3;
  // Hand-written loops: this runs twice per entry on every listing.
  while (off + 4 <= end) {
    const len = v.getUint16(off, true);
    if (len < 4 || off + len > end) break;
    const type = v.getUint16(off + 2, true) & NLA_TYPE_MASK;
    const p = off + 4, pend = off + len;
    if (type === A.CTA_TUPLE_IP) {
      let q = p;
      while (q + 4 <= pend) {
        const ql = v.getUint16(q, true);
        if (ql < 4 || q + ql > pend) break;
        const it = v.getUint16(q + 2, true) & NLA_TYPE_MASK;
        // Addresses are read by the message's family, as the C library prints them.
        if (l3 === 2) {
          if (it === A.CTA_IP_V4_SRC) t.src = ntop4(buf, q + 4);
          else if (it === A.CTA_IP_V4_DST) t.dst = ntop4(buf, q + 4);
        } else if (l3 === 10) {
          if (it === A.CTA_IP_V6_SRC) t.src = ntop6(buf, q + 4);
          else if (it === A.CTA_IP_V6_DST) t.dst = ntop6(buf, q + 4);
        }
        q += (ql + 3) & ~3;
      }
    } else if (type === A.CTA_TUPLE_PROTO) {
      let q = p;
      while (q + 4 <= pend) {
        const ql = v.getUint16(q, true);
        if (ql < 4 || q + ql > pend) break;
        const pt = v.getUint16(q + 2, true) & NLA_TYPE_MASK;
        const pp = q + 4;
        switch (pt) {
          case A.CTA_PROTO_NUM:
            t.proto = buf[pp];
            break;
          case A.CTA_PROTO_SRC_PORT:
            t.sport = (buf[pp] << 8) | buf[pp + 1];
            break;
          case A.CTA_PROTO_DST_PORT:
            t.dport = (buf[pp] << 8) | buf[pp + 1];
            break;
          case A.CTA_PROTO_ICMP_ID:
          case A.CTA_PROTO_ICMPV6_ID:
            t.icmpId = (buf[pp] << 8) | buf[pp + 1];
            break;
          case A.CTA_PROTO_ICMP_TYPE:
          case A.CTA_PROTO_ICMPV6_TYPE:
            t.icmpType = buf[pp];
            break;
          case A.CTA_PROTO_ICMP_CODE:
          case A.CTA_PROTO_ICMPV6_CODE:
            t.icmpCode = buf[pp];
            break;
        }
        q += (ql + 3) & ~3;
      }
    } else if (type === A.CTA_TUPLE_ZONE) {
      t.zone = (buf[p] << 8) | buf[p + 1];
    }
    off += (len + 3) & ~3;
  }
  return t;
}

/** Counters exist only when both packets and bytes came; 64-bit values win over 32-bit ones. */
function counters(v: DataView, p: number, l: number): Counters | undefined {
  let p64: bigint | undefined, b64: bigint | undefined, p32: bigint | undefined, b32: bigint | undefined;
  eachAttr(v, p, p + l, (t, q) => {
    if (t === A.CTA_COUNTERS_PACKETS) p64 = v.getBigUint64(q, false);
    else if (t === A.CTA_COUNTERS_BYTES) b64 = v.getBigUint64(q, false);
    else if (t === A.CTA_COUNTERS32_PACKETS) p32 = BigInt(v.getUint32(q, false));
    else if (t === A.CTA_COUNTERS32_BYTES) b32 = BigInt(v.getUint32(q, false));
  });
  const packets = p64 ?? p32, bytes = b64 ?? b32;
  return packets !== undefined && bytes !== undefined ? { packets, bytes } : undefined;
}

function seqAdj(v: DataView, p: number, l: number): SeqAdj {
  const s: SeqAdj = { correctionPos: 0, offsetBefore: 0, offsetAfter: 0 };
  eachAttr(v, p, p + l, (t, q) => {
    if (t === A.CTA_SEQADJ_CORRECTION_POS) s.correctionPos = v.getUint32(q, false);
    else if (t === A.CTA_SEQADJ_OFFSET_BEFORE) s.offsetBefore = v.getUint32(q, false);
    else if (t === A.CTA_SEQADJ_OFFSET_AFTER) s.offsetAfter = v.getUint32(q, false);
  });
  return s;
}

/**
 * Decodes the conntrack in the netlink message at `off` (length `len`,
 * nlmsghdr included).
 */
export function decodeConntrack(buf: Uint8Array, v: DataView, off: number, len: number): Conntrack {
  const ct = new Conntrack();
  const l3 = buf[off + 16];
  ct.orig.l3 = l3;
  ct.reply.l3 = l3;
  const end = off + len;
  let a = off + 20;
  while (a + 4 <= end) {
    const alen = v.getUint16(a, true);
    if (alen < 4 || a + alen > end) break;
    const type = v.getUint16(a + 2, true) & NLA_TYPE_MASK;
    const p = a + 4, l = alen - 4;
    a += (alen + 3) & ~3;
    switch (type) {
      case A.CTA_TUPLE_ORIG:
        decodeTuple(buf, v, p, p + l, l3, ct.orig);
        break;
      case A.CTA_TUPLE_REPLY:
        decodeTuple(buf, v, p, p + l, l3, ct.reply);
        break;
      case A.CTA_TUPLE_MASTER:
        ct.master = decodeTuple(buf, v, p, p + l, l3);
        break;
      case A.CTA_STATUS:
        ct.status = v.getUint32(p, false);
        break;
      case A.CTA_TIMEOUT:
        ct.timeout = v.getUint32(p, false);
        break;
      case A.CTA_MARK:
        ct.mark = v.getUint32(p, false);
        break;
      case A.CTA_SECMARK:
        ct.secmark = v.getUint32(p, false);
        break;
      case A.CTA_USE:
        ct.use = v.getUint32(p, false);
        break;
      case A.CTA_ID:
        ct.id = v.getUint32(p, false);
        break;
      case A.CTA_ZONE:
        ct.zone = v.getUint16(p, false);
        break;
      case A.CTA_PROTOINFO:
        eachAttr(v, p, p + l, (pt, pp, pl) => decodeProtoinfo(ct, buf, v, pt, pp, pl));
        break;
      case A.CTA_COUNTERS_ORIG:
        ct.countersOrig = counters(v, p, l);
        break;
      case A.CTA_COUNTERS_REPLY:
        ct.countersReply = counters(v, p, l);
        break;
      case A.CTA_TIMESTAMP:
        eachAttr(v, p, p + l, (t, q) => {
          if (t === A.CTA_TIMESTAMP_START) ct.tsStart = v.getBigUint64(q, false);
          else if (t === A.CTA_TIMESTAMP_STOP) ct.tsStop = v.getBigUint64(q, false);
        });
        break;
      case A.CTA_HELP:
        eachAttr(v, p, p + l, (t, q, ql) => {
          // The C object keeps at most 15 bytes of the name.
          if (t === A.CTA_HELP_NAME) ct.helper = cstr(buf, q, Math.min(ql, 15));
        });
        break;
      case A.CTA_SECCTX:
        eachAttr(v, p, p + l, (t, q, ql) => {
          if (t === A.CTA_SECCTX_NAME) ct.secctx = cstr(buf, q, ql);
        });
        break;
      case A.CTA_LABELS:
        // An empty bitmap counts as no labels, as in the C object.
        if (l > 0) ct.labels = buf.slice(p, p + l);
        break;
      case A.CTA_LABELS_MASK:
        ct.labelsMask = buf.slice(p, p + l);
        break;
      case A.CTA_SEQ_ADJ_ORIG:
        ct.seqAdjOrig = seqAdj(v, p, l);
        break;
      case A.CTA_SEQ_ADJ_REPLY:
        ct.seqAdjReply = seqAdj(v, p, l);
        break;
      case A.CTA_SYNPROXY: {
        const s = { isn: 0, its: 0, tsoff: 0 };
        eachAttr(v, p, p + l, (t, q) => {
          if (t === A.CTA_SYNPROXY_ISN) s.isn = v.getUint32(q, false);
          else if (t === A.CTA_SYNPROXY_ITS) s.its = v.getUint32(q, false);
          else if (t === A.CTA_SYNPROXY_TSOFF) s.tsoff = v.getUint32(q, false);
        });
        ct.synproxy = s;
        break;
      }
    }
  }
  return ct;
}

function decodeProtoinfo(ct: Conntrack, buf: Uint8Array, v: DataView, pt: number, pp: number, pl: number) {
  if (pt === A.CTA_PROTOINFO_TCP) {
    eachAttr(v, pp, pp + pl, (t, q) => {
      switch (t) {
        case A.CTA_PROTOINFO_TCP_STATE:
          ct.state = buf[q];
          break;
        case A.CTA_PROTOINFO_TCP_WSCALE_ORIGINAL:
          ct.tcpWscaleOrig = buf[q];
          break;
        case A.CTA_PROTOINFO_TCP_WSCALE_REPLY:
          ct.tcpWscaleReply = buf[q];
          break;
        case A.CTA_PROTOINFO_TCP_FLAGS_ORIGINAL:
          ct.tcpFlagsOrig = buf[q], ct.tcpMaskOrig = buf[q + 1];
          break;
        case A.CTA_PROTOINFO_TCP_FLAGS_REPLY:
          ct.tcpFlagsReply = buf[q], ct.tcpMaskReply = buf[q + 1];
          break;
      }
    });
  } else if (pt === A.CTA_PROTOINFO_SCTP) {
    eachAttr(v, pp, pp + pl, (t, q) => {
      if (t === A.CTA_PROTOINFO_SCTP_STATE) ct.state = buf[q];
      else if (t === A.CTA_PROTOINFO_SCTP_VTAG_ORIGINAL) ct.sctpVtagOrig = v.getUint32(q, false);
      else if (t === A.CTA_PROTOINFO_SCTP_VTAG_REPLY) ct.sctpVtagReply = v.getUint32(q, false);
    });
  } else if (pt === A.CTA_PROTOINFO_DCCP) {
    eachAttr(v, pp, pp + pl, (t, q) => {
      if (t === A.CTA_PROTOINFO_DCCP_STATE) ct.state = buf[q];
      else if (t === A.CTA_PROTOINFO_DCCP_ROLE) ct.dccpRole = buf[q];
      else if (t === A.CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ) ct.dccpHandshakeSeq = v.getBigUint64(q, false);
    });
  }
}

/** Decodes the expectation in the netlink message at `off`. */
export function decodeExpect(buf: Uint8Array, v: DataView, off: number, len: number): Expect {
  const exp = new Expect();
  const l3 = buf[off + 16];
  exp.master.l3 = exp.tuple.l3 = exp.mask.l3 = l3;
  eachAttr(v, off + 20, off + len, (type, p, l) => {
    switch (type) {
      case A.CTA_EXPECT_MASTER:
        exp.master = decodeTuple(buf, v, p, p + l, l3);
        break;
      case A.CTA_EXPECT_TUPLE:
        exp.tuple = decodeTuple(buf, v, p, p + l, l3);
        break;
      case A.CTA_EXPECT_MASK:
        exp.mask = decodeTuple(buf, v, p, p + l, l3);
        break;
      case A.CTA_EXPECT_TIMEOUT:
        exp.timeout = v.getUint32(p, false);
        break;
      case A.CTA_EXPECT_ID:
        exp.id = v.getUint32(p, false);
        break;
      case A.CTA_EXPECT_HELP_NAME:
        exp.helper = cstr(buf, p, Math.min(l, 15));
        break;
      case A.CTA_EXPECT_ZONE:
        exp.zone = v.getUint16(p, false);
        break;
      case A.CTA_EXPECT_FLAGS:
        exp.flags = v.getUint32(p, false);
        break;
      case A.CTA_EXPECT_CLASS:
        exp.class = v.getUint32(p, false);
        break;
      case A.CTA_EXPECT_FN:
        exp.fn = cstr(buf, p, Math.min(l, 23));
        break;
      case A.CTA_EXPECT_NAT: {
        const nat = { dir: 0, tuple: newTuple(l3) };
        eachAttr(v, p, p + l, (t, q, ql) => {
          if (t === A.CTA_EXPECT_NAT_DIR) nat.dir = v.getUint32(q, false);
          else if (t === A.CTA_EXPECT_NAT_TUPLE) nat.tuple = decodeTuple(buf, v, q, q + ql, l3);
        });
        exp.nat = nat;
        break;
      }
    }
  });
  return exp;
}

/**
 * The event kind of a ctnetlink message (NFCT_T_*): a NEW message is a new
 * entry when the kernel set NLM_F_CREATE and an update otherwise; DELETE is a
 * destroy. Expectation messages use the same numbers.
 */
export function eventMsgType(type: number, flags: number): MsgType {
  const msg = type & 0xff;
  if (msg === A.IPCTNL_MSG_CT_NEW) return flags & NLM_F_CREATE ? MSG_NEW : MSG_UPDATE;
  if (msg === A.IPCTNL_MSG_CT_DELETE) return MSG_DESTROY;
  return MSG_UNKNOWN;
}
