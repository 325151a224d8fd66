// The NEW-event fast path's parser: a ctnetlink conntrack message read once into
// flat scratch state (cache/flat_ct.ts) instead of a Conntrack with tuple
// objects and address strings. It reads what decodeConntrack reads, the same
// way (the last of a repeated attribute wins, addresses by the message's
// family), and declines anything a plain flow lacks or anything malformed: the
// caller then decodes the message as before. Counters and use are skipped: the
// internal cache never keeps them.
import * as A from "../../conntrack/attrs.ts";
import { NLA_TYPE_MASK } from "../../netlink/constants.ts";
import * as F from "../cache/flat_ct.ts";
import { type FlatCt, isPlain } from "../cache/flat_ct.ts";

const u32 = (b: Uint8Array, p: number) =>
  ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;

/** A 32-bit attribute into f.n[i]; false when its payload is short. */
function num(f: FlatCt, i: number, buf: Uint8Array, p: number, l: number): boolean {
  if (l < 4) return false;
  f.n[i] = u32(buf, p);
  f.has |= 1 << i;
  return true;
}

/** A counters nest is skipped (never cached) but must be what decodeConntrack reads without fault. */
function countersWellFormed(v: DataView, p: number, end: number): boolean {
  while (p + 4 <= end) {
    const len = v.getUint16(p, true);
    if (len < 4 || p + len > end) return false;
    const type = v.getUint16(p + 2, true) & NLA_TYPE_MASK;
    const need = type === A.CTA_COUNTERS_PACKETS || type === A.CTA_COUNTERS_BYTES ? 8 : 4;
    if (len - 4 < need) return false;
    p += (len + 3) & ~3;
  }
  return true;
}

function tupleIp(f: FlatCt, buf: Uint8Array, v: DataView, p: number, end: number, dir: number): boolean {
  const v4 = f.l3 === 2, size = v4 ? 4 : 16;
  const src = dir === 0 ? F.A_ORIG_SRC : F.A_REPLY_SRC, dst = dir === 0 ? F.A_ORIG_DST : F.A_REPLY_DST;
  const srcType = v4 ? A.CTA_IP_V4_SRC : A.CTA_IP_V6_SRC, dstType = v4 ? A.CTA_IP_V4_DST : A.CTA_IP_V6_DST;
  while (p + 4 <= end) {
    const len = v.getUint16(p, true);
    if (len < 4 || p + len > end) return false;
    const type = v.getUint16(p + 2, true) & NLA_TYPE_MASK;
    // Attributes of the other family are ignored, as decodeTuple does.
    if (type === srcType || type === dstType) {
      if (len - 4 < size) return false;
      const at = type === srcType ? src : dst;
      for (let i = 0; i < size; i++) f.addr[at + i] = buf[p + 4 + i];
      f.hasT[dir] |= type === srcType ? F.HT_SRC : F.HT_DST;
    }
    p += (len + 3) & ~3;
  }
  return true;
}

function tupleProto(f: FlatCt, buf: Uint8Array, v: DataView, p: number, end: number, dir: number): boolean {
  const t = f.t, b = dir * 6;
  while (p + 4 <= end) {
    const len = v.getUint16(p, true);
    if (len < 4 || p + len > end) return false;
    const type = v.getUint16(p + 2, true) & NLA_TYPE_MASK;
    const q = p + 4, l = len - 4;
    let field = -1, wide = false;
    switch (type) {
      case A.CTA_PROTO_NUM:
        field = F.TF_PROTO;
        break;
      case A.CTA_PROTO_SRC_PORT:
        field = F.TF_SPORT, wide = true;
        break;
      case A.CTA_PROTO_DST_PORT:
        field = F.TF_DPORT, wide = true;
        break;
      case A.CTA_PROTO_ICMP_ID:
      case A.CTA_PROTO_ICMPV6_ID:
        field = F.TF_ICMP_ID, wide = true;
        break;
      case A.CTA_PROTO_ICMP_TYPE:
      case A.CTA_PROTO_ICMPV6_TYPE:
        field = F.TF_ICMP_TYPE;
        break;
      case A.CTA_PROTO_ICMP_CODE:
      case A.CTA_PROTO_ICMPV6_CODE:
        field = F.TF_ICMP_CODE;
        break;
    }
    if (field >= 0) {
      if (l < (wide ? 2 : 1)) return false;
      t[b + field] = wide ? (buf[q] << 8) | buf[q + 1] : buf[q];
      f.hasT[dir] |= 1 << field;
    }
    p += (len + 3) & ~3;
  }
  return true;
}

function tuple(f: FlatCt, buf: Uint8Array, v: DataView, p: number, end: number, dir: number): boolean {
  while (p + 4 <= end) {
    const len = v.getUint16(p, true);
    if (len < 4 || p + len > end) return false;
    const type = v.getUint16(p + 2, true) & NLA_TYPE_MASK;
    const q = p + 4, qend = p + len;
    if (type === A.CTA_TUPLE_IP) {
      if (!tupleIp(f, buf, v, q, qend, dir)) return false;
    } else if (type === A.CTA_TUPLE_PROTO) {
      if (!tupleProto(f, buf, v, q, qend, dir)) return false;
    } else if (type === A.CTA_TUPLE_ZONE) return false;
    p += (len + 3) & ~3;
  }
  return true;
}

function tcpInfo(f: FlatCt, buf: Uint8Array, v: DataView, p: number, end: number): boolean {
  while (p + 4 <= end) {
    const len = v.getUint16(p, true);
    if (len < 4 || p + len > end) return false;
    const type = v.getUint16(p + 2, true) & NLA_TYPE_MASK;
    const q = p + 4, l = len - 4;
    switch (type) {
      case A.CTA_PROTOINFO_TCP_STATE:
      case A.CTA_PROTOINFO_TCP_WSCALE_ORIGINAL:
      case A.CTA_PROTOINFO_TCP_WSCALE_REPLY: {
        if (l < 1) return false;
        const i = type === A.CTA_PROTOINFO_TCP_STATE
          ? F.N_STATE
          : type === A.CTA_PROTOINFO_TCP_WSCALE_ORIGINAL
          ? F.N_WSO
          : F.N_WSR;
        f.n[i] = buf[q], f.has |= 1 << i;
        break;
      }
      case A.CTA_PROTOINFO_TCP_FLAGS_ORIGINAL:
      case A.CTA_PROTOINFO_TCP_FLAGS_REPLY: {
        if (l < 2) return false;
        const orig = type === A.CTA_PROTOINFO_TCP_FLAGS_ORIGINAL;
        const fl = orig ? F.N_FLO : F.N_FLR, mk = orig ? F.N_MKO : F.N_MKR;
        f.n[fl] = buf[q], f.n[mk] = buf[q + 1];
        f.has |= (1 << fl) | (1 << mk);
        break;
      }
    }
    p += (len + 3) & ~3;
  }
  return true;
}

function protoinfo(f: FlatCt, buf: Uint8Array, v: DataView, p: number, end: number): boolean {
  while (p + 4 <= end) {
    const len = v.getUint16(p, true);
    if (len < 4 || p + len > end) return false;
    // SCTP and DCCP state (and anything else) take the general path.
    if ((v.getUint16(p + 2, true) & NLA_TYPE_MASK) !== A.CTA_PROTOINFO_TCP) return false;
    if (!tcpInfo(f, buf, v, p + 4, p + len)) return false;
    p += (len + 3) & ~3;
  }
  return true;
}

function timestamps(f: FlatCt, buf: Uint8Array, v: DataView, p: number, end: number): boolean {
  while (p + 4 <= end) {
    const len = v.getUint16(p, true);
    if (len < 4 || p + len > end) return false;
    const type = v.getUint16(p + 2, true) & NLA_TYPE_MASK;
    if (type === A.CTA_TIMESTAMP_START || type === A.CTA_TIMESTAMP_STOP) {
      if (len - 4 < 8) return false;
      const at = type === A.CTA_TIMESTAMP_START ? 0 : 8;
      for (let i = 0; i < 8; i++) f.ts[at + i] = buf[p + 4 + i];
      f.has |= type === A.CTA_TIMESTAMP_START ? F.H_TS_START : F.H_TS_STOP;
    }
    p += (len + 3) & ~3;
  }
  return true;
}

/** CTA_SYNPROXY: a fresh triple of zeros, then what the nest sets (decodeConntrack's way). */
function synproxy(f: FlatCt, buf: Uint8Array, v: DataView, p: number, end: number): boolean {
  f.n[F.N_SP_ISN] = f.n[F.N_SP_ITS] = f.n[F.N_SP_TSOFF] = 0;
  f.has |= F.H_SYNPROXY;
  while (p + 4 <= end) {
    const len = v.getUint16(p, true);
    if (len < 4 || p + len > end) return false;
    const type = v.getUint16(p + 2, true) & NLA_TYPE_MASK;
    const i = type === A.CTA_SYNPROXY_ISN
      ? F.N_SP_ISN
      : type === A.CTA_SYNPROXY_ITS
      ? F.N_SP_ITS
      : type === A.CTA_SYNPROXY_TSOFF
      ? F.N_SP_TSOFF
      : -1;
    if (i >= 0) {
      if (len - 4 < 4) return false;
      f.n[i] = u32(buf, p + 4);
    }
    p += (len + 3) & ~3;
  }
  return true;
}

/**
 * Parses the conntrack message at `off` (length `len`, nlmsghdr included) into `f`. False when
 * the message is not a plain flow or not well formed: decode it as a Conntrack instead.
 */
export function parseCtMessage(f: FlatCt, buf: Uint8Array, v: DataView, off: number, len: number): boolean {
  if (len < 20) return false;
  const l3 = buf[off + 16];
  if (l3 !== 2 && l3 !== 10) return false;
  f.reset(l3);
  const end = off + len;
  let a = off + 20;
  while (a + 4 <= end) {
    const alen = v.getUint16(a, true);
    if (alen < 4 || a + alen > end) return false;
    const type = v.getUint16(a + 2, true) & NLA_TYPE_MASK;
    const p = a + 4, l = alen - 4, pend = a + alen;
    a += (alen + 3) & ~3;
    let ok: boolean;
    switch (type) {
      case A.CTA_TUPLE_ORIG:
        ok = tuple(f, buf, v, p, pend, 0);
        break;
      case A.CTA_TUPLE_REPLY:
        ok = tuple(f, buf, v, p, pend, 1);
        break;
      case A.CTA_STATUS:
        ok = num(f, F.N_STATUS, buf, p, l);
        break;
      case A.CTA_TIMEOUT:
        ok = num(f, F.N_TIMEOUT, buf, p, l);
        break;
      case A.CTA_MARK:
        ok = num(f, F.N_MARK, buf, p, l);
        break;
      case A.CTA_SECMARK:
        ok = num(f, F.N_SECMARK, buf, p, l);
        break;
      case A.CTA_ID:
        ok = num(f, F.N_ID, buf, p, l);
        break;
      case A.CTA_ZONE:
        ok = l >= 2;
        f.n[F.N_ZONE] = (buf[p] << 8) | buf[p + 1], f.has |= 1 << F.N_ZONE;
        break;
      case A.CTA_USE:
        ok = num(f, F.N_USE, buf, p, l);
        break;
      case A.CTA_COUNTERS_ORIG:
      case A.CTA_COUNTERS_REPLY:
        ok = countersWellFormed(v, p, pend);
        f.has |= F.H_COUNTERS;
        break;
      case A.CTA_PROTOINFO:
        ok = protoinfo(f, buf, v, p, pend);
        break;
      case A.CTA_TIMESTAMP:
        ok = timestamps(f, buf, v, p, pend);
        break;
      case A.CTA_SYNPROXY:
        ok = synproxy(f, buf, v, p, pend);
        break;
      default:
        // Master, helper, NAT, sequence adjustments, secctx, labels, unknown ones.
        ok = false;
    }
    if (!ok) return false;
  }
  return isPlain(f);
}
