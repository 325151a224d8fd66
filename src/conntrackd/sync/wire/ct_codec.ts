// Conntrack state messages (types CT_NEW/CT_UPD/CT_DEL): the TLV payload of
// conntrackd 1.4.7's build.c (ct2msg) and parse.c (msg2ct).
//
// The wire has no reply tuple. The sender derives the NAT attributes from the
// reply tuple as libnetfilter_conntrack's NFCT_GOPT_IS_{SNAT,DNAT,SPAT,DPAT}
// do; the receiver gets them as NAT ranges (Conntrack.snat/dnat), the form
// `conntrack -I --src-nat/--dst-nat` uses, and the commit step rebuilds the rest.
import {
  Conntrack,
  IPPROTO_DCCP,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPS_DST_NAT_DONE,
  IPS_SRC_NAT_DONE,
  type NatRange,
  newTuple,
  type Tuple,
} from "../../../conntrack/model.ts";
import { ntop4, ntop6 } from "../../../common/inet.ts";
import { putIp4, putIp6 } from "./addr.ts";
import {
  align4,
  getCString,
  getU16,
  getU16Swapped,
  getU32,
  NTA_HDR,
  putAddr,
  putAddrPair,
  putHeader,
  putPorts,
  putString,
  putU16BE,
  putU16Swapped,
  putU32,
  putU8,
  setU32,
} from "./attr.ts";
import { HDR_SIZE, writeHeader } from "./header.ts";

// Attribute ids (include/network.h, enum nta_attr).
export const NTA_IPV4 = 0;
export const NTA_IPV6 = 1;
export const NTA_L4PROTO = 2;
export const NTA_PORT = 3;
export const NTA_TCP_STATE = 4;
export const NTA_STATUS = 5;
export const NTA_TIMEOUT = 6;
export const NTA_MARK = 7;
export const NTA_MASTER_IPV4 = 8;
export const NTA_MASTER_IPV6 = 9;
export const NTA_MASTER_L4PROTO = 10;
export const NTA_MASTER_PORT = 11;
export const NTA_SNAT_IPV4 = 12;
export const NTA_DNAT_IPV4 = 13;
export const NTA_SPAT_PORT = 14;
export const NTA_DPAT_PORT = 15;
export const NTA_NAT_SEQ_ADJ = 16;
export const NTA_SCTP_STATE = 17;
export const NTA_SCTP_VTAG_ORIG = 18;
export const NTA_SCTP_VTAG_REPL = 19;
export const NTA_DCCP_STATE = 20;
export const NTA_DCCP_ROLE = 21;
export const NTA_ICMP_TYPE = 22;
export const NTA_ICMP_CODE = 23;
export const NTA_ICMP_ID = 24;
export const NTA_TCP_WSCALE_ORIG = 25;
export const NTA_TCP_WSCALE_REPL = 26;
export const NTA_HELPER_NAME = 27;
export const NTA_LABELS = 28;
export const NTA_SNAT_IPV6 = 29;
export const NTA_DNAT_IPV6 = 30;
export const NTA_SYNPROXY = 31;
export const NTA_ZONE = 32;
export const NTA_MAX = 33;

/** The reference builds every message in a 4096-byte buffer; a buffer this size always suffices. */
export const CT_MSG_MAX = 4096;

/** nta_len each fixed-size attribute must have (0: variable). */
const FIXED_LEN = new Uint16Array(NTA_MAX);
/** Largest nta_len of the variable-size attributes. */
const MAX_LEN = new Uint16Array(NTA_MAX);
{
  const f = (len: number, ...ids: number[]) => ids.forEach((id) => FIXED_LEN[id] = NTA_HDR + len);
  f(1, NTA_L4PROTO, NTA_TCP_STATE, NTA_MASTER_L4PROTO, NTA_SCTP_STATE, NTA_DCCP_STATE, NTA_DCCP_ROLE);
  f(1, NTA_ICMP_TYPE, NTA_ICMP_CODE, NTA_TCP_WSCALE_ORIG, NTA_TCP_WSCALE_REPL);
  f(2, NTA_SPAT_PORT, NTA_DPAT_PORT, NTA_ICMP_ID, NTA_ZONE);
  f(4, NTA_PORT, NTA_STATUS, NTA_TIMEOUT, NTA_MARK, NTA_MASTER_PORT, NTA_SNAT_IPV4, NTA_DNAT_IPV4);
  f(4, NTA_SCTP_VTAG_ORIG, NTA_SCTP_VTAG_REPL);
  f(8, NTA_IPV4, NTA_MASTER_IPV4);
  f(12, NTA_SYNPROXY);
  f(16, NTA_SNAT_IPV6, NTA_DNAT_IPV6);
  f(24, NTA_NAT_SEQ_ADJ);
  f(32, NTA_IPV6, NTA_MASTER_IPV6);
  MAX_LEN[NTA_HELPER_NAME] = 16; // NFCT_HELPER_NAME_MAX, compared with nta_len
  MAX_LEN[NTA_LABELS] = NTA_HDR + 1024; // NTA_SIZE(NTA_LABELS_MAX_SIZE)
}

export interface CtEncodeOptions {
  /** Put TIMEOUT on the wire: the reference does when CommitTimeout is 0. */
  withTimeout: boolean;
  /** Sync { Options { TCPWindowTracking on } }: also send the TCP window scale factors. */
  tcpWindowTracking?: boolean;
}

/**
 * Writes the message for `ct` at `off` with seq 0 and no flags; returns its length.
 * Throws RangeError when `out` is too short (CT_MSG_MAX always fits) or an
 * address is not valid text.
 */
export function encodeCt(
  out: Uint8Array,
  off: number,
  type: number,
  ct: Conntrack,
  opts: CtEncodeOptions,
): number {
  const o = ct.orig;
  const proto = o.proto ?? 0;
  let p = off + HDR_SIZE;
  const fam = pairFamily(o);
  if (fam !== 0) p = putAddrPair(out, p, fam === 10 ? NTA_IPV6 : NTA_IPV4, fam === 10, o.src!, o.dst!);
  p = putU32(out, p, NTA_STATUS, ct.status ?? 0);
  p = putU8(out, p, NTA_L4PROTO, proto);
  switch (proto) {
    case IPPROTO_TCP:
      p = putPorts(out, p, NTA_PORT, o.sport ?? 0, o.dport ?? 0);
      if (ct.state === undefined) break;
      p = putU8(out, p, NTA_TCP_STATE, ct.state);
      if (opts.tcpWindowTracking) {
        p = putU8(out, p, NTA_TCP_WSCALE_ORIG, ct.tcpWscaleOrig ?? 0);
        p = putU8(out, p, NTA_TCP_WSCALE_REPL, ct.tcpWscaleReply ?? 0);
      }
      break;
    case IPPROTO_SCTP:
      p = putPorts(out, p, NTA_PORT, o.sport ?? 0, o.dport ?? 0);
      if (ct.state === undefined) break;
      p = putU8(out, p, NTA_SCTP_STATE, ct.state);
      p = putU32(out, p, NTA_SCTP_VTAG_ORIG, ct.sctpVtagOrig ?? 0);
      p = putU32(out, p, NTA_SCTP_VTAG_REPL, ct.sctpVtagReply ?? 0);
      break;
    case IPPROTO_DCCP:
      p = putPorts(out, p, NTA_PORT, o.sport ?? 0, o.dport ?? 0);
      if (ct.state === undefined) break;
      p = putU8(out, p, NTA_DCCP_STATE, ct.state);
      p = putU8(out, p, NTA_DCCP_ROLE, ct.dccpRole ?? 0);
      break;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      if (o.icmpType === undefined) break;
      p = putU8(out, p, NTA_ICMP_TYPE, o.icmpType);
      p = putU8(out, p, NTA_ICMP_CODE, o.icmpCode ?? 0);
      p = putU16Swapped(out, p, NTA_ICMP_ID, o.icmpId ?? 0);
      break;
    case IPPROTO_UDP:
      p = putPorts(out, p, NTA_PORT, o.sport ?? 0, o.dport ?? 0);
      break;
  }
  if (opts.withTimeout && ct.timeout !== undefined) p = putU32(out, p, NTA_TIMEOUT, ct.timeout);
  if (ct.mark !== undefined) p = putU32(out, p, NTA_MARK, ct.mark);
  const m = ct.master;
  const mfam = m ? pairFamily(m) : 0;
  if (mfam !== 0) {
    p = putAddrPair(out, p, mfam === 10 ? NTA_MASTER_IPV6 : NTA_MASTER_IPV4, mfam === 10, m!.src!, m!.dst!);
    p = putU8(out, p, NTA_MASTER_L4PROTO, m!.proto ?? 0);
    if (m!.sport !== undefined && m!.dport !== undefined) {
      p = putPorts(out, p, NTA_MASTER_PORT, m!.sport, m!.dport);
    }
  }
  p = putNat(out, p, ct);
  const sa = ct.seqAdjOrig, sr = ct.seqAdjReply;
  if (sa && sr) {
    const q = putHeader(out, p, NTA_NAT_SEQ_ADJ, 24);
    setU32(out, q, sa.correctionPos);
    setU32(out, q + 4, sa.offsetBefore);
    setU32(out, q + 8, sa.offsetAfter);
    setU32(out, q + 12, sr.correctionPos);
    setU32(out, q + 16, sr.offsetBefore);
    setU32(out, q + 20, sr.offsetAfter);
    p = q + 24;
  }
  if (ct.helper !== undefined) p = putString(out, p, NTA_HELPER_NAME, ct.helper);
  if (ct.labels !== undefined) p = putLabels(out, p, ct.labels);
  const sp = ct.synproxy;
  if (sp) {
    // struct nta_attr_synproxy: its, isn, tsoff
    const q = putHeader(out, p, NTA_SYNPROXY, 12);
    setU32(out, q, sp.its);
    setU32(out, q + 4, sp.isn);
    setU32(out, q + 8, sp.tsoff);
    p = q + 12;
  }
  if (ct.zone !== undefined) p = putU16BE(out, p, NTA_ZONE, ct.zone);
  if (p > out.length) throw new RangeError(`sync message needs ${p - off} bytes at ${off}: buffer too short`);
  writeHeader(out, off, type, 0, p - off);
  return p - off;
}

/** 2 or 10 when both addresses of the tuple are known (an address group is set), else 0. */
function pairFamily(t: Tuple): number {
  if (t.src === undefined || t.dst === undefined) return 0;
  if (t.l3 === 2 || t.l3 === 10) return t.l3;
  return t.src.includes(":") ? 10 : 2;
}

function natFamily(o: Tuple): number {
  return o.l3 === 2 || o.l3 === 10 ? o.l3 : pairFamily(o);
}

/** The NAT attributes: SNAT/DNAT address by family, then SPAT, DPAT. */
function putNat(out: Uint8Array, p: number, ct: Conntrack): number {
  const o = ct.orig, r = ct.reply;
  const l3 = natFamily(o);
  const v6 = l3 === 10;
  if (r.src === undefined && r.dst === undefined) {
    // No reply tuple (an object received from a peer or built by hand): the NAT it names.
    const s = ct.snat, d = ct.dnat;
    if (l3 !== 0) {
      if (s?.addr !== undefined) p = putAddr(out, p, v6 ? NTA_SNAT_IPV6 : NTA_SNAT_IPV4, v6, s.addr);
      if (d?.addr !== undefined) p = putAddr(out, p, v6 ? NTA_DNAT_IPV6 : NTA_DNAT_IPV4, v6, d.addr);
    }
    if (s?.port !== undefined) p = putU16Swapped(out, p, NTA_SPAT_PORT, s.port);
    if (d?.port !== undefined) p = putU16Swapped(out, p, NTA_DPAT_PORT, d.port);
    return p;
  }
  // With a status, only *_NAT_DONE entries count as NATed; without one, any difference does.
  const st = ct.status;
  const srcDone = st === undefined || (st & IPS_SRC_NAT_DONE) !== 0;
  const dstDone = st === undefined || (st & IPS_DST_NAT_DONE) !== 0;
  if (l3 !== 0) {
    const zero = v6 ? "::" : "0.0.0.0";
    const rdst = r.dst ?? zero, rsrc = r.src ?? zero;
    if (srcDone && !sameAddr(rdst, o.src ?? zero, v6)) {
      p = putAddr(out, p, v6 ? NTA_SNAT_IPV6 : NTA_SNAT_IPV4, v6, rdst);
    }
    if (dstDone && !sameAddr(rsrc, o.dst ?? zero, v6)) {
      p = putAddr(out, p, v6 ? NTA_DNAT_IPV6 : NTA_DNAT_IPV4, v6, rsrc);
    }
  }
  // Decided on the raw l4 unions; the value sent is the reply's port attribute,
  // 0 when its tuple has none (ICMP).
  const proto = o.proto;
  if (srcDone && l4dst(r, proto) !== l4src(o, proto)) p = putU16Swapped(out, p, NTA_SPAT_PORT, r.dport ?? 0);
  if (dstDone && l4src(r, proto) !== l4dst(o, proto)) p = putU16Swapped(out, p, NTA_DPAT_PORT, r.sport ?? 0);
  return p;
}

// The library compares the 16-bit l4 unions whatever the protocol: for ICMP
// the source half is the id and the destination half holds type and code.
function l4src(t: Tuple, proto: number | undefined): number {
  return proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6 ? t.icmpId ?? 0 : t.sport ?? 0;
}

function l4dst(t: Tuple, proto: number | undefined): number {
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) return ((t.icmpType ?? 0) << 8) | (t.icmpCode ?? 0);
  return t.dport ?? 0;
}

const cmpA = new Uint8Array(16), cmpB = new Uint8Array(16);

function sameAddr(a: string, b: string, v6: boolean): boolean {
  if (a === b) return true;
  if (v6) {
    putIp6(cmpA, 0, a), putIp6(cmpB, 0, b);
    for (let i = 0; i < 16; i++) if (cmpA[i] !== cmpB[i]) return false;
    return true;
  }
  putIp4(cmpA, 0, a), putIp4(cmpB, 0, b);
  return cmpA[0] === cmpB[0] && cmpA[1] === cmpB[1] && cmpA[2] === cmpB[2] && cmpA[3] === cmpB[3];
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Word i bit b = label 32*i+b, BE words up to the bitmap's highest bit; nothing if no bit is set. */
function putLabels(out: Uint8Array, p: number, labels: Uint8Array): number {
  const n = labels.length;
  let any = false;
  for (let i = 0; i < n && !any; i++) any = labels[i] !== 0;
  if (!any) return p;
  const words = (((n * 8 - 1) / 32) | 0) + 1;
  const q = putHeader(out, p, NTA_LABELS, words * 4);
  for (let i = 0; i < words; i++) {
    // model words are native-endian; bytes past the bitmap are zero bits
    const b0 = labels[4 * i] ?? 0, b1 = labels[4 * i + 1] ?? 0;
    const b2 = labels[4 * i + 2] ?? 0, b3 = labels[4 * i + 3] ?? 0;
    const w = HOST_LE ? (b3 << 24) | (b2 << 16) | (b1 << 8) | b0 : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
    setU32(out, q + 4 * i, w >>> 0);
  }
  return q + words * 4;
}

/**
 * Decodes the payload in [off, end) (after the header) as msg2ct does; null when
 * the reference rejects the message: an attribute longer than what is left,
 * shorter than its header, with an unknown id, a wrong fixed size or an oversize
 * string/label array. `limit` is where the received data ends (strings that
 * lack their NUL are read on as in C, up to their field size).
 */
export function decodeCtPayload(
  buf: Uint8Array,
  off: number,
  end: number,
  limit = buf.length,
): Conntrack | null {
  const ct = new Conntrack();
  let p = off, rem = end - off;
  while (rem > NTA_HDR) {
    const len = getU16(buf, p), id = getU16(buf, p + 2);
    if (len > rem || len < NTA_HDR || id >= NTA_MAX) return null;
    if (FIXED_LEN[id] !== 0 && len !== FIXED_LEN[id]) return null;
    if (MAX_LEN[id] !== 0 && len > MAX_LEN[id]) return null;
    applyCtAttr(ct, id, buf, p + NTA_HDR, len - NTA_HDR, limit);
    const step = align4(len);
    p += step, rem -= step;
  }
  return ct;
}

function applyCtAttr(
  ct: Conntrack,
  id: number,
  buf: Uint8Array,
  q: number,
  size: number,
  limit: number,
): void {
  const o = ct.orig;
  switch (id) {
    case NTA_IPV4:
      o.l3 = 2, o.src = ntop4(buf, q), o.dst = ntop4(buf, q + 4);
      break;
    case NTA_IPV6:
      o.l3 = 10, o.src = ntop6(buf, q), o.dst = ntop6(buf, q + 16);
      break;
    case NTA_L4PROTO:
      o.proto = buf[q];
      break;
    case NTA_PORT:
      o.sport = getU16(buf, q), o.dport = getU16(buf, q + 2);
      break;
    case NTA_TCP_STATE:
    case NTA_SCTP_STATE:
    case NTA_DCCP_STATE:
      ct.state = buf[q];
      break;
    case NTA_STATUS:
      ct.status = getU32(buf, q);
      break;
    case NTA_TIMEOUT:
      ct.timeout = getU32(buf, q);
      break;
    case NTA_MARK:
      ct.mark = getU32(buf, q);
      break;
    case NTA_MASTER_IPV4: {
      const m = ct.master ??= newTuple();
      m.l3 = 2, m.src = ntop4(buf, q), m.dst = ntop4(buf, q + 4);
      break;
    }
    case NTA_MASTER_IPV6: {
      const m = ct.master ??= newTuple();
      m.l3 = 10, m.src = ntop6(buf, q), m.dst = ntop6(buf, q + 16);
      break;
    }
    case NTA_MASTER_L4PROTO:
      (ct.master ??= newTuple()).proto = buf[q];
      break;
    case NTA_MASTER_PORT: {
      const m = ct.master ??= newTuple();
      m.sport = getU16(buf, q), m.dport = getU16(buf, q + 2);
      break;
    }
    case NTA_SNAT_IPV4:
      natRange(ct, "snat").addr = ntop4(buf, q);
      break;
    case NTA_DNAT_IPV4:
      natRange(ct, "dnat").addr = ntop4(buf, q);
      break;
    case NTA_SNAT_IPV6:
      natRange(ct, "snat").addr = ntop6(buf, q);
      break;
    case NTA_DNAT_IPV6:
      natRange(ct, "dnat").addr = ntop6(buf, q);
      break;
    case NTA_SPAT_PORT:
      natRange(ct, "snat").port = getU16Swapped(buf, q);
      break;
    case NTA_DPAT_PORT:
      natRange(ct, "dnat").port = getU16Swapped(buf, q);
      break;
    case NTA_NAT_SEQ_ADJ:
      ct.seqAdjOrig = {
        correctionPos: getU32(buf, q),
        offsetBefore: getU32(buf, q + 4),
        offsetAfter: getU32(buf, q + 8),
      };
      ct.seqAdjReply = {
        correctionPos: getU32(buf, q + 12),
        offsetBefore: getU32(buf, q + 16),
        offsetAfter: getU32(buf, q + 20),
      };
      break;
    case NTA_SCTP_VTAG_ORIG:
      ct.sctpVtagOrig = getU32(buf, q);
      break;
    case NTA_SCTP_VTAG_REPL:
      ct.sctpVtagReply = getU32(buf, q);
      break;
    case NTA_DCCP_ROLE:
      ct.dccpRole = buf[q];
      break;
    case NTA_ICMP_TYPE:
      o.icmpType = buf[q];
      break;
    case NTA_ICMP_CODE:
      o.icmpCode = buf[q];
      break;
    case NTA_ICMP_ID:
      o.icmpId = getU16Swapped(buf, q);
      break;
    case NTA_TCP_WSCALE_ORIG:
      ct.tcpWscaleOrig = buf[q];
      break;
    case NTA_TCP_WSCALE_REPL:
      ct.tcpWscaleReply = buf[q];
      break;
    case NTA_HELPER_NAME:
      ct.helper = getCString(buf, q, 15, limit);
      break;
    case NTA_LABELS:
      // A length that is no whole number of words leaves the labels as they were.
      if (size === 0 || (size & 3) !== 0) break;
      ct.labels = getLabels(buf, q, size);
      break;
    case NTA_SYNPROXY:
      ct.synproxy = { its: getU32(buf, q), isn: getU32(buf, q + 4), tsoff: getU32(buf, q + 8) };
      break;
    case NTA_ZONE:
      ct.zone = getU16(buf, q);
      break;
  }
}

function natRange(ct: Conntrack, which: "snat" | "dnat"): NatRange {
  return ct[which] ??= { addr: undefined, port: undefined };
}

/** BE wire words back to the model's native-endian bitmap. */
function getLabels(buf: Uint8Array, q: number, size: number): Uint8Array {
  const labels = new Uint8Array(size);
  for (let i = 0; i < size; i += 4) {
    if (HOST_LE) {
      labels[i] = buf[q + i + 3], labels[i + 1] = buf[q + i + 2];
      labels[i + 2] = buf[q + i + 1], labels[i + 3] = buf[q + i];
    } else labels.set(buf.subarray(q + i, q + i + 4), i);
  }
  return labels;
}
