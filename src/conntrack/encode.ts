// Encodes model objects into ctnetlink attributes, with the attribute choices of
// libnetfilter_conntrack's nfct_nlmsg_build() so the kernel sees what it would
// see from the reference tool.
import { addrBytes, pton4Into } from "../common/inet.ts";
import type { MessageBuilder } from "../netlink/builder.ts";
import * as A from "./attrs.ts";
import {
  type Conntrack,
  type Expect,
  hasPorts,
  IPPROTO_DCCP,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPS_CONFIRMED,
  type NatRange,
  type Tuple,
} from "./model.ts";

const ZERO4 = new Uint8Array(4);
const ZERO16 = new Uint8Array(16);
const scratch4 = new Uint8Array(4);

function addr(text: string | undefined, l3: number): Uint8Array {
  const b = text === undefined ? null : addrBytes(text);
  if (b) return b;
  return l3 === 10 ? ZERO16 : ZERO4;
}

/** An IPv4 address attribute straight from its text (no per-call allocation). */
function putV4(b: MessageBuilder, type: number, text: string | undefined) {
  if (text === undefined || !pton4Into(text, scratch4)) scratch4.fill(0);
  b.bytesFrom(type, scratch4, 4);
}

/** True when any field of the tuple is set (libnetfilter_conntrack's TS_ORIG test). */
export function tupleIsSet(t: Tuple): boolean {
  return t.l3 !== 0 || t.src !== undefined || t.dst !== undefined || t.proto !== undefined ||
    t.sport !== undefined || t.dport !== undefined || t.icmpType !== undefined ||
    t.icmpCode !== undefined || t.icmpId !== undefined || t.zone !== undefined;
}

/** CTA_TUPLE_IP + CTA_TUPLE_PROTO of a tuple (unset fields are sent as zero, like the C struct). */
export function putTupleRaw(b: MessageBuilder, t: Tuple): boolean {
  if (t.l3 !== 2 && t.l3 !== 10) return false;
  b.nest(A.CTA_TUPLE_IP);
  if (t.l3 === 2) {
    putV4(b, A.CTA_IP_V4_SRC, t.src);
    putV4(b, A.CTA_IP_V4_DST, t.dst);
  } else {
    b.bytes(A.CTA_IP_V6_SRC, addr(t.src, 10)).bytes(A.CTA_IP_V6_DST, addr(t.dst, 10));
  }
  b.endNest();
  b.nest(A.CTA_TUPLE_PROTO);
  const p = t.proto ?? 0;
  b.u8(A.CTA_PROTO_NUM, p);
  if (hasPorts(p)) {
    b.be16(A.CTA_PROTO_SRC_PORT, t.sport ?? 0).be16(A.CTA_PROTO_DST_PORT, t.dport ?? 0);
  } else if (p === IPPROTO_ICMP) {
    b.u8(A.CTA_PROTO_ICMP_CODE, t.icmpCode ?? 0).u8(A.CTA_PROTO_ICMP_TYPE, t.icmpType ?? 0)
      .be16(A.CTA_PROTO_ICMP_ID, t.icmpId ?? 0);
  } else if (p === IPPROTO_ICMPV6) {
    b.u8(A.CTA_PROTO_ICMPV6_CODE, t.icmpCode ?? 0).u8(A.CTA_PROTO_ICMPV6_TYPE, t.icmpType ?? 0)
      .be16(A.CTA_PROTO_ICMPV6_ID, t.icmpId ?? 0);
  }
  b.endNest();
  return true;
}

/** A whole tuple nest (with its direction zone when set). */
export function putTuple(b: MessageBuilder, type: number, t: Tuple): void {
  b.nest(type);
  putTupleRaw(b, t);
  if (t.zone !== undefined) b.be16(A.CTA_TUPLE_ZONE, t.zone);
  b.endNest();
}

function putNat(b: MessageBuilder, type: number, nat: NatRange, l3: number, proto: number | undefined) {
  b.nest(type);
  if (nat.addr !== undefined) {
    if (l3 === 10) b.bytes(A.CTA_NAT_V6_MINIP, addr(nat.addr, 10));
    else b.bytes(A.CTA_NAT_V4_MINIP, addr(nat.addr, 2));
  }
  if (nat.port !== undefined) {
    b.nest(A.CTA_NAT_PROTO);
    // The reference only sends NAT ports for TCP and UDP.
    if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
      b.be16(A.CTA_PROTONAT_PORT_MIN, nat.port).be16(A.CTA_PROTONAT_PORT_MAX, nat.port);
    }
    b.endNest();
  }
  b.endNest();
}

function putProtoinfo(b: MessageBuilder, ct: Conntrack): void {
  const p = ct.orig.proto;
  if (p === IPPROTO_TCP) {
    const flagsO = ct.tcpFlagsOrig !== undefined && ct.tcpMaskOrig !== undefined;
    const flagsR = ct.tcpFlagsReply !== undefined && ct.tcpMaskReply !== undefined;
    if (
      ct.state === undefined && ct.tcpFlagsOrig === undefined && ct.tcpFlagsReply === undefined &&
      ct.tcpMaskOrig === undefined && ct.tcpMaskReply === undefined &&
      ct.tcpWscaleOrig === undefined && ct.tcpWscaleReply === undefined
    ) return;
    b.nest(A.CTA_PROTOINFO).nest(A.CTA_PROTOINFO_TCP);
    if (ct.state !== undefined) b.u8(A.CTA_PROTOINFO_TCP_STATE, ct.state);
    if (flagsO) {
      b.bytes2(A.CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, ct.tcpFlagsOrig!, ct.tcpMaskOrig!);
    }
    if (flagsR) {
      b.bytes2(A.CTA_PROTOINFO_TCP_FLAGS_REPLY, ct.tcpFlagsReply!, ct.tcpMaskReply!);
    }
    if (ct.tcpWscaleOrig !== undefined) b.u8(A.CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, ct.tcpWscaleOrig);
    if (ct.tcpWscaleReply !== undefined) b.u8(A.CTA_PROTOINFO_TCP_WSCALE_REPLY, ct.tcpWscaleReply);
    b.endNest().endNest();
  } else if (p === IPPROTO_SCTP) {
    if (ct.state === undefined && ct.sctpVtagOrig === undefined && ct.sctpVtagReply === undefined) return;
    b.nest(A.CTA_PROTOINFO).nest(A.CTA_PROTOINFO_SCTP);
    if (ct.state !== undefined) b.u8(A.CTA_PROTOINFO_SCTP_STATE, ct.state);
    if (ct.sctpVtagOrig !== undefined) b.be32(A.CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, ct.sctpVtagOrig);
    if (ct.sctpVtagReply !== undefined) b.be32(A.CTA_PROTOINFO_SCTP_VTAG_REPLY, ct.sctpVtagReply);
    b.endNest().endNest();
  } else if (p === IPPROTO_DCCP) {
    if (ct.state === undefined && ct.dccpRole === undefined && ct.dccpHandshakeSeq === undefined) return;
    b.nest(A.CTA_PROTOINFO).nest(A.CTA_PROTOINFO_DCCP);
    if (ct.state !== undefined) b.u8(A.CTA_PROTOINFO_DCCP_STATE, ct.state);
    if (ct.dccpRole !== undefined) b.u8(A.CTA_PROTOINFO_DCCP_ROLE, ct.dccpRole);
    if (ct.dccpHandshakeSeq !== undefined) b.be64(A.CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ, ct.dccpHandshakeSeq);
    b.endNest().endNest();
  }
}

function putSeqAdj(
  b: MessageBuilder,
  type: number,
  s: { correctionPos: number; offsetBefore: number; offsetAfter: number },
) {
  b.nest(type)
    .be32(A.CTA_SEQADJ_CORRECTION_POS, s.correctionPos)
    .be32(A.CTA_SEQADJ_OFFSET_BEFORE, s.offsetBefore)
    .be32(A.CTA_SEQADJ_OFFSET_AFTER, s.offsetAfter)
    .endNest();
}

/**
 * Appends the attributes of `ct` to the open message (nfct_nlmsg_build).
 * Returns false when the object has no layer-3 protocol (the C returns EINVAL).
 */
export function putConntrack(b: MessageBuilder, ct: Conntrack): boolean {
  if (ct.orig.l3 === 0) return false;
  if (tupleIsSet(ct.orig)) putTuple(b, A.CTA_TUPLE_ORIG, ct.orig);
  if (tupleIsSet(ct.reply) && (ct.reply.l3 === 2 || ct.reply.l3 === 10)) {
    putTuple(b, A.CTA_TUPLE_REPLY, ct.reply);
  }
  if (ct.master && tupleIsSet(ct.master)) {
    b.nest(A.CTA_TUPLE_MASTER);
    putTupleRaw(b, ct.master);
    b.endNest();
  }
  if (ct.status !== undefined) b.be32(A.CTA_STATUS, (ct.status | IPS_CONFIRMED) >>> 0);
  if (ct.timeout !== undefined) b.be32(A.CTA_TIMEOUT, ct.timeout);
  if (ct.mark !== undefined) b.be32(A.CTA_MARK, ct.mark);
  if (ct.secmark !== undefined) b.be32(A.CTA_SECMARK, ct.secmark);
  putProtoinfo(b, ct);
  if (ct.snat) putNat(b, A.CTA_NAT_SRC, ct.snat, ct.orig.l3, ct.orig.proto);
  if (ct.dnat) putNat(b, A.CTA_NAT_DST, ct.dnat, ct.orig.l3, ct.orig.proto);
  if (ct.seqAdjOrig) putSeqAdj(b, A.CTA_SEQ_ADJ_ORIG, ct.seqAdjOrig);
  if (ct.seqAdjReply) putSeqAdj(b, A.CTA_SEQ_ADJ_REPLY, ct.seqAdjReply);
  if (ct.helper !== undefined) b.nest(A.CTA_HELP).str(A.CTA_HELP_NAME, ct.helper).endNest();
  if (ct.zone !== undefined) b.be16(A.CTA_ZONE, ct.zone);
  if (ct.labels !== undefined) {
    b.bytes(A.CTA_LABELS, ct.labels);
    if (ct.labelsMask !== undefined && ct.labelsMask.length === ct.labels.length) {
      b.bytes(A.CTA_LABELS_MASK, ct.labelsMask);
    }
  }
  if (ct.synproxy) {
    b.nest(A.CTA_SYNPROXY)
      .be32(A.CTA_SYNPROXY_ISN, ct.synproxy.isn)
      .be32(A.CTA_SYNPROXY_ITS, ct.synproxy.its)
      .be32(A.CTA_SYNPROXY_TSOFF, ct.synproxy.tsoff)
      .endNest();
  }
  return true;
}

/** Only what identifies an entry: original tuple, zone and id (for batched deletes). */
export function putConntrackKey(b: MessageBuilder, ct: Conntrack): void {
  putTuple(b, A.CTA_TUPLE_ORIG, ct.orig);
  if (ct.zone !== undefined) b.be16(A.CTA_ZONE, ct.zone);
  if (ct.id !== undefined) b.be32(A.CTA_ID, ct.id);
}

/** The tuples of an expectation request; each is sent only when given. */
export interface ExpectTuples {
  expected?: Tuple;
  master?: Tuple;
  mask?: Tuple;
}

/** Expectation attributes, in nfexp_nlmsg_build()'s order. */
export function putExpect(b: MessageBuilder, exp: Expect, t: ExpectTuples): void {
  const nestTuple = (type: number, tuple: Tuple) => {
    b.nest(type);
    putTupleRaw(b, tuple);
    b.endNest();
  };
  if (t.expected) nestTuple(A.CTA_EXPECT_TUPLE, t.expected);
  if (t.master) nestTuple(A.CTA_EXPECT_MASTER, t.master);
  if (t.mask) nestTuple(A.CTA_EXPECT_MASK, t.mask);
  if (exp.timeout !== undefined) b.be32(A.CTA_EXPECT_TIMEOUT, exp.timeout);
  if (exp.flags !== undefined) b.be32(A.CTA_EXPECT_FLAGS, exp.flags);
  if (exp.zone !== undefined) b.be16(A.CTA_EXPECT_ZONE, exp.zone);
  if (exp.helper !== undefined) b.str(A.CTA_EXPECT_HELP_NAME, exp.helper);
}
