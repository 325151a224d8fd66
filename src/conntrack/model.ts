// The conntrack and expectation objects every part of ctkit shares. A field that
// is undefined is "not set", as an attribute absent from libnetfilter_conntrack's
// nf_conntrack object: filters, printers and encoders all rely on that.

export interface Tuple {
  /** Address family: 2 (AF_INET) or 10 (AF_INET6); 0 when unknown. */
  l3: number;
  /** Addresses in canonical text (inet_ntoa / inet_ntop form). */
  src?: string;
  dst?: string;
  /** L4 protocol number. */
  proto?: number;
  /** Ports, or GRE keys (the kernel carries both in the port attributes). */
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** CTA_TUPLE_ZONE: the direction zone. */
  zone?: number;
}

/** A tuple with every field present (unset), so all tuples share one object shape. */
export function newTuple(l3 = 0): Tuple {
  return {
    l3,
    src: undefined,
    dst: undefined,
    proto: undefined,
    sport: undefined,
    dport: undefined,
    icmpType: undefined,
    icmpCode: undefined,
    icmpId: undefined,
    zone: undefined,
  };
}

export interface Counters {
  packets: bigint;
  bytes: bigint;
}

export interface NatRange {
  /** Address the NAT maps to (min of the range; max is the same for conntrack -I). */
  addr?: string;
  port?: number;
}

export class Conntrack {
  orig: Tuple = newTuple();
  reply: Tuple = newTuple();
  master: Tuple | undefined = undefined;
  status: number | undefined = undefined;
  timeout: number | undefined = undefined;
  mark: number | undefined = undefined;
  secmark: number | undefined = undefined;
  use: number | undefined = undefined;
  id: number | undefined = undefined;
  zone: number | undefined = undefined;
  /** TCP/SCTP/DCCP protocol state number. */
  state: number | undefined = undefined;
  tcpWscaleOrig: number | undefined = undefined;
  tcpWscaleReply: number | undefined = undefined;
  tcpFlagsOrig: number | undefined = undefined;
  tcpMaskOrig: number | undefined = undefined;
  tcpFlagsReply: number | undefined = undefined;
  tcpMaskReply: number | undefined = undefined;
  sctpVtagOrig: number | undefined = undefined;
  sctpVtagReply: number | undefined = undefined;
  dccpRole: number | undefined = undefined;
  dccpHandshakeSeq: bigint | undefined = undefined;
  countersOrig: Counters | undefined = undefined;
  countersReply: Counters | undefined = undefined;
  /** CTA_TIMESTAMP start/stop in nanoseconds since the epoch. */
  tsStart: bigint | undefined = undefined;
  tsStop: bigint | undefined = undefined;
  helper: string | undefined = undefined;
  secctx: string | undefined = undefined;
  /** Connection label bitmap as the kernel sends it (native-endian 32-bit words). */
  labels: Uint8Array | undefined = undefined;
  labelsMask: Uint8Array | undefined = undefined;
  snat: NatRange | undefined = undefined;
  dnat: NatRange | undefined = undefined;
  seqAdjOrig: SeqAdj | undefined = undefined;
  seqAdjReply: SeqAdj | undefined = undefined;
  synproxy: { isn: number; its: number; tsoff: number } | undefined = undefined;
}

export interface SeqAdj {
  correctionPos: number;
  offsetBefore: number;
  offsetAfter: number;
}

export class Expect {
  master: Tuple = newTuple();
  tuple: Tuple = newTuple();
  mask: Tuple = newTuple();
  timeout: number | undefined = undefined;
  id: number | undefined = undefined;
  helper: string | undefined = undefined;
  zone: number | undefined = undefined;
  flags: number | undefined = undefined;
  class: number | undefined = undefined;
  nat: { dir: number; tuple: Tuple } | undefined = undefined;
  fn: string | undefined = undefined;
}

// Status bits (linux/netfilter/nf_conntrack_common.h).
export const IPS_EXPECTED = 1 << 0;
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;
export const IPS_SEQ_ADJUST = 1 << 6;
export const IPS_SRC_NAT_DONE = 1 << 7;
export const IPS_DST_NAT_DONE = 1 << 8;
export const IPS_DYING = 1 << 9;
export const IPS_FIXED_TIMEOUT = 1 << 10;
export const IPS_TEMPLATE = 1 << 11;
export const IPS_UNTRACKED = 1 << 12;
export const IPS_HELPER = 1 << 13;
export const IPS_OFFLOAD = 1 << 14;
export const IPS_HW_OFFLOAD = 1 << 15;

// Expectation flags.
export const NF_CT_EXPECT_PERMANENT = 0x1;
export const NF_CT_EXPECT_INACTIVE = 0x2;
export const NF_CT_EXPECT_USERSPACE = 0x4;

// L4 protocol numbers with their own handling.
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_DCCP = 33;
export const IPPROTO_GRE = 47;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;
export const IPPROTO_UDPLITE = 136;

/** True for protocols whose tuple carries ports (or GRE keys in the port slots). */
export function hasPorts(proto: number | undefined): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE ||
    proto === IPPROTO_SCTP || proto === IPPROTO_DCCP || proto === IPPROTO_GRE;
}

export function isIcmp(proto: number | undefined): boolean {
  return proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6;
}
