// The commit's create request written straight from a cache record: the same
// bytes as decodeRecord → makeCreateRequest → putConntrack, without the
// Conntrack, its tuples and address strings in between (a commit of 100 000
// entries spent more time building requests than the kernel spent creating
// them). Records with something rare in them (a master, helper, labels,
// sequence adjustments, synproxy, a DCCP handshake sequence, an address kept
// as text) are left to the general path: writeCreateFromRecord says so.
import * as A from "../../conntrack/attrs.ts";
import {
  hasPorts,
  IPPROTO_DCCP,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPS_CONFIRMED,
  IPS_EXPECTED,
} from "../../conntrack/model.ts";
import { icmpReplyType } from "../../conntrack/run/tuple.ts";
import type { MessageBuilder } from "../../netlink/builder.ts";
import * as T from "../cache/ct_record.ts";

/** IP_CT_TCP_FLAG_BE_LIBERAL, set on both directions unless TCPWindowTracking is on. */
const BE_LIBERAL = 0x08;
const NONE = -1;

// The entry being read: -1 is "not set" (every value fits in 32 unsigned bits).
let rec = "";
let q = 0;
let l3 = 0, proto = NONE, sport = NONE, dport = NONE;
let icmpType = NONE, icmpCode = NONE, icmpId = NONE, origZone = NONE;
let rIcmpType = NONE, rIcmpCode = NONE, rIcmpId = NONE, replyZone = NONE;
const src = new Uint8Array(16), dst = new Uint8Array(16);
let srcLen = 0, dstLen = 0;
let status = NONE, timeout = NONE, mark = NONE, secmark = NONE, zone = NONE, state = NONE;
let wso = NONE, wsr = NONE, flo = NONE, mko = NONE, flr = NONE, mkr = NONE;
let vto = NONE, vtr = NONE, dccpRole = NONE;
const natAddr = [new Uint8Array(16), new Uint8Array(16)];
const natAddrLen = [0, 0], natPort = [NONE, NONE], natSet = [false, false];

function g8(): number {
  return rec.charCodeAt(q++);
}
function g16(): number {
  const v = T.recordU16(rec, q);
  q += 2;
  return v;
}
function g32(): number {
  const v = T.recordU32(rec, q);
  q += 4;
  return v;
}
/** An address into `into`; its length (4 or 16), or 0 when the record keeps it as text. */
function gaddress(into: Uint8Array): number {
  const n = g8();
  if (n !== 4 && n !== 16) return 0;
  for (let i = 0; i < n; i++) into[i] = rec.charCodeAt(q + i);
  q += n;
  return n;
}

/** The original tuple, in full; false when an address is text. */
function readOrig(): boolean {
  l3 = g8();
  for (;;) {
    switch (g8()) {
      case T.T_END:
        return true;
      case T.TU_SRC:
        if (!(srcLen = gaddress(src))) return false;
        break;
      case T.TU_DST:
        if (!(dstLen = gaddress(dst))) return false;
        break;
      case T.TU_PROTO:
        proto = g8();
        break;
      case T.TU_SPORT:
        sport = g16();
        break;
      case T.TU_DPORT:
        dport = g16();
        break;
      case T.TU_ICMP_TYPE:
        icmpType = g8();
        break;
      case T.TU_ICMP_CODE:
        icmpCode = g8();
        break;
      case T.TU_ICMP_ID:
        icmpId = g16();
        break;
      case T.TU_ZONE:
        origZone = g16();
        break;
      default:
        return false;
    }
  }
}

/** The stored reply tuple: only its ICMP fields and zone survive the rebuild from the original. */
function readReply(): boolean {
  g8();
  for (;;) {
    switch (g8()) {
      case T.T_END:
        return true;
      case T.TU_SRC:
      case T.TU_DST:
        if (!gaddress(SKIPPED)) return false;
        break;
      case T.TU_PROTO:
        q += 1;
        break;
      case T.TU_SPORT:
      case T.TU_DPORT:
        q += 2;
        break;
      case T.TU_ICMP_TYPE:
        rIcmpType = g8();
        break;
      case T.TU_ICMP_CODE:
        rIcmpCode = g8();
        break;
      case T.TU_ICMP_ID:
        rIcmpId = g16();
        break;
      case T.TU_ZONE:
        replyZone = g16();
        break;
      default:
        return false;
    }
  }
}
/** Where the stored reply's addresses go (they are rebuilt from the original's). */
const SKIPPED = new Uint8Array(16);
/** An unset address is sent as zeros, like the C struct's. */
const ZERO = new Uint8Array(16);

function readNat(k: number): boolean {
  natSet[k] = true;
  for (;;) {
    const f = g8();
    if (f === T.T_END) return true;
    if (f === T.NA_ADDR) {
      if (!(natAddrLen[k] = gaddress(natAddr[k]))) return false;
    } else if (f === T.NA_PORT) natPort[k] = g16();
    else return false;
  }
}

function reset(): void {
  q = 0;
  l3 = 0;
  proto =
    sport =
    dport =
    icmpType =
    icmpCode =
    icmpId =
    origZone =
      NONE;
  rIcmpType =
    rIcmpCode =
    rIcmpId =
    replyZone =
      NONE;
  srcLen = dstLen = 0;
  status =
    timeout =
    mark =
    secmark =
    zone =
    state =
      NONE;
  wso =
    wsr =
    flo =
    mko =
    flr =
    mkr =
    vto =
    vtr =
    dccpRole =
      NONE;
  natAddrLen[0] = natAddrLen[1] = 0;
  natPort[0] = natPort[1] = NONE;
  natSet[0] = natSet[1] = false;
}

/** Reads the whole record; false when it holds something only the general path writes. */
function read(): boolean {
  reset();
  let origSeen = false, replySeen = false;
  while (q < rec.length) {
    switch (g8()) {
      case T.T_ORIG:
        if (!readOrig()) return false;
        origSeen = true;
        break;
      case T.T_REPLY:
        if (!readReply()) return false;
        replySeen = true;
        break;
      case T.U_STATUS:
        status = g32();
        break;
      case T.U_TIMEOUT:
        timeout = g32();
        break;
      case T.U_MARK:
        mark = g32();
        break;
      case T.U_SECMARK:
        secmark = g32();
        break;
      case T.U_USE:
      case T.U_ID:
        q += 4;
        break;
      case T.U_ZONE:
        zone = g32();
        break;
      case T.U_STATE:
        state = g32();
        break;
      case T.U_WSO:
        wso = g32();
        break;
      case T.U_WSR:
        wsr = g32();
        break;
      case T.U_FLO:
        flo = g32();
        break;
      case T.U_MKO:
        mko = g32();
        break;
      case T.U_FLR:
        flr = g32();
        break;
      case T.U_MKR:
        mkr = g32();
        break;
      case T.U_VTO:
        vto = g32();
        break;
      case T.U_VTR:
        vtr = g32();
        break;
      case T.U_DCCP_ROLE:
        dccpRole = g32();
        break;
      case T.C_ORIG:
      case T.C_REPLY:
        q += 16;
        break;
      case T.B_TS_START:
      case T.B_TS_STOP:
        q += 8;
        break;
      case T.S_SECCTX: {
        const n = g16();
        q += n;
        break;
      }
      case T.N_SNAT:
        if (!readNat(0)) return false;
        break;
      case T.N_DNAT:
        if (!readNat(1)) return false;
        break;
      default:
        // T_MASTER, B_DCCP_SEQ, S_HELPER, labels, sequence adjustments, synproxy.
        return false;
    }
  }
  if (!origSeen || !replySeen || (l3 !== 2 && l3 !== 10)) return false;
  const width = l3 === 2 ? 4 : 16;
  return (srcLen === 0 || srcLen === width) && (dstLen === 0 || dstLen === width);
}

function putAddresses(b: MessageBuilder, from: Uint8Array, fromLen: number, to: Uint8Array, toLen: number) {
  const v4 = l3 === 2;
  const width = v4 ? 4 : 16;
  b.nest(A.CTA_TUPLE_IP);
  b.bytesFrom(v4 ? A.CTA_IP_V4_SRC : A.CTA_IP_V6_SRC, fromLen ? from : ZERO, width);
  b.bytesFrom(v4 ? A.CTA_IP_V4_DST : A.CTA_IP_V6_DST, toLen ? to : ZERO, width);
  b.endNest();
}

function orZero(v: number): number {
  return v === NONE ? 0 : v;
}

function putProto(b: MessageBuilder, sp: number, dp: number, type: number, code: number, id: number) {
  b.nest(A.CTA_TUPLE_PROTO);
  const p = orZero(proto);
  b.u8(A.CTA_PROTO_NUM, p);
  if (hasPorts(p)) b.be16(A.CTA_PROTO_SRC_PORT, orZero(sp)).be16(A.CTA_PROTO_DST_PORT, orZero(dp));
  else if (p === IPPROTO_ICMP) {
    b.u8(A.CTA_PROTO_ICMP_CODE, orZero(code)).u8(A.CTA_PROTO_ICMP_TYPE, orZero(type))
      .be16(A.CTA_PROTO_ICMP_ID, orZero(id));
  } else if (p === IPPROTO_ICMPV6) {
    b.u8(A.CTA_PROTO_ICMPV6_CODE, orZero(code)).u8(A.CTA_PROTO_ICMPV6_TYPE, orZero(type))
      .be16(A.CTA_PROTO_ICMPV6_ID, orZero(id));
  }
  b.endNest();
}

function putTuples(b: MessageBuilder): void {
  b.nest(A.CTA_TUPLE_ORIG);
  putAddresses(b, src, srcLen, dst, dstLen);
  putProto(b, sport, dport, icmpType, icmpCode, icmpId);
  if (origZone !== NONE) b.be16(A.CTA_TUPLE_ZONE, origZone);
  b.endNest();
  // The reply tuple is the original reversed (kernel_entry.ts makeCreateRequest), keeping the
  // stored reply's ICMP fields and zone.
  let type = rIcmpType, code = rIcmpCode, id = rIcmpId;
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
    if (type === NONE && icmpType !== NONE) type = icmpReplyType(l3, icmpType);
    if (code === NONE) code = icmpCode;
    if (id === NONE) id = icmpId;
  }
  b.nest(A.CTA_TUPLE_REPLY);
  putAddresses(b, dst, dstLen, src, srcLen);
  putProto(b, dport, sport, type, code, id);
  if (replyZone !== NONE) b.be16(A.CTA_TUPLE_ZONE, replyZone);
  b.endNest();
}

function putProtoinfo(b: MessageBuilder, windowTracking: boolean): void {
  if (proto === IPPROTO_TCP) {
    if (!windowTracking) {
      flo = (flo === NONE ? 0 : flo) | BE_LIBERAL;
      mko = (mko === NONE ? 0 : mko) | BE_LIBERAL;
      flr = (flr === NONE ? 0 : flr) | BE_LIBERAL;
      mkr = (mkr === NONE ? 0 : mkr) | BE_LIBERAL;
    }
    const unset = state === NONE && flo === NONE && flr === NONE && mko === NONE && mkr === NONE;
    if (unset && wso === NONE && wsr === NONE) return;
    b.nest(A.CTA_PROTOINFO).nest(A.CTA_PROTOINFO_TCP);
    if (state !== NONE) b.u8(A.CTA_PROTOINFO_TCP_STATE, state);
    if (flo !== NONE && mko !== NONE) b.bytes2(A.CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, flo, mko);
    if (flr !== NONE && mkr !== NONE) b.bytes2(A.CTA_PROTOINFO_TCP_FLAGS_REPLY, flr, mkr);
    if (wso !== NONE) b.u8(A.CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, wso);
    if (wsr !== NONE) b.u8(A.CTA_PROTOINFO_TCP_WSCALE_REPLY, wsr);
    b.endNest().endNest();
  } else if (proto === IPPROTO_SCTP) {
    if (state === NONE && vto === NONE && vtr === NONE) return;
    b.nest(A.CTA_PROTOINFO).nest(A.CTA_PROTOINFO_SCTP);
    if (state !== NONE) b.u8(A.CTA_PROTOINFO_SCTP_STATE, state);
    if (vto !== NONE) b.be32(A.CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, vto);
    if (vtr !== NONE) b.be32(A.CTA_PROTOINFO_SCTP_VTAG_REPLY, vtr);
    b.endNest().endNest();
  } else if (proto === IPPROTO_DCCP) {
    if (state === NONE && dccpRole === NONE) return;
    b.nest(A.CTA_PROTOINFO).nest(A.CTA_PROTOINFO_DCCP);
    if (state !== NONE) b.u8(A.CTA_PROTOINFO_DCCP_STATE, state);
    if (dccpRole !== NONE) b.u8(A.CTA_PROTOINFO_DCCP_ROLE, dccpRole);
    b.endNest().endNest();
  }
}

function putNat(b: MessageBuilder, k: number): void {
  if (!natSet[k]) return;
  b.nest(k === 0 ? A.CTA_NAT_SRC : A.CTA_NAT_DST);
  if (natAddrLen[k]) {
    b.bytesFrom(l3 === 10 ? A.CTA_NAT_V6_MINIP : A.CTA_NAT_V4_MINIP, natAddr[k], natAddrLen[k]);
  }
  if (natPort[k] !== NONE) {
    b.nest(A.CTA_NAT_PROTO);
    // The reference only sends NAT ports for TCP and UDP.
    if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
      b.be16(A.CTA_PROTONAT_PORT_MIN, natPort[k]).be16(A.CTA_PROTONAT_PORT_MAX, natPort[k]);
    }
    b.endNest();
  }
  b.endNest();
}

/** Skips one tuple of a record from its fields on; false on a field it does not know. */
function skipTuple(): boolean {
  for (;;) {
    switch (g8()) {
      case T.T_END:
        return true;
      case T.TU_SRC:
      case T.TU_DST: {
        const n = g8();
        const len = n === 0 ? g16() : n; // a text address has a 16-bit length
        q += len;
        break;
      }
      case T.TU_PROTO:
      case T.TU_ICMP_TYPE:
      case T.TU_ICMP_CODE:
        q += 1;
        break;
      case T.TU_SPORT:
      case T.TU_DPORT:
      case T.TU_ICMP_ID:
      case T.TU_ZONE:
        q += 2;
        break;
      default:
        return false;
    }
  }
}

/**
 * Whether the record has a master tuple (ct_is_related): such entries are
 * committed after the others. The master follows the two tuples.
 */
export function recordIsRelated(record: string): boolean {
  rec = record;
  q = 0;
  for (let tuples = 0; tuples < 2; tuples++) {
    const tag = g8();
    if (tag !== T.T_ORIG && tag !== T.T_REPLY) break;
    q += 1;
    if (!skipTuple()) break;
  }
  const related = q < rec.length && rec.charCodeAt(q) === T.T_MASTER;
  rec = "";
  return related;
}

/** The address family of a record (its original tuple's), for the request's nfgenmsg. */
export function recordFamily(record: string): number {
  return record.charCodeAt(0) === T.T_ORIG ? record.charCodeAt(1) : 0;
}

/**
 * Appends the attributes of the create request for `record` to the open
 * message: what putConntrack writes for makeCreateRequest(decodeRecord(record),
 * commitTimeout, windowTracking). `commitTimeout(cached)` gives the timeout the
 * entry is committed with (0: its own). Returns false, having written nothing,
 * when the record needs the general path.
 */
export function writeCreateFromRecord(
  b: MessageBuilder,
  record: string,
  commitTimeout: (cached: number | undefined) => number,
  windowTracking: boolean,
): boolean {
  rec = record;
  const ok = read();
  rec = "";
  if (!ok) return false;
  const t = commitTimeout(timeout === NONE ? undefined : timeout);
  if (t > 0) timeout = t;
  putTuples(b);
  if (status !== NONE) b.be32(A.CTA_STATUS, ((status & ~IPS_EXPECTED) | IPS_CONFIRMED) >>> 0);
  if (timeout !== NONE) b.be32(A.CTA_TIMEOUT, timeout);
  if (mark !== NONE) b.be32(A.CTA_MARK, mark);
  if (secmark !== NONE) b.be32(A.CTA_SECMARK, secmark);
  putProtoinfo(b, windowTracking);
  putNat(b, 0);
  putNat(b, 1);
  if (zone !== NONE) b.be16(A.CTA_ZONE, zone);
  return true;
}
