// NFCT_SOPT_SETUP_REPLY / SETUP_ORIGINAL: the other direction of a tuple for -I.
import { hasPorts, IPPROTO_ICMP, IPPROTO_ICMPV6, type Tuple } from "../model.ts";

const ICMP_REPLY: Record<number, number> = { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17 };
const ICMPV6_REPLY: Record<number, number> = { 128: 129, 129: 128, 139: 140, 140: 139 };

/** Type of the reply to an ICMP message type (255 when it has none, as the C map gives). */
export function icmpReplyType(l3: number, type: number): number {
  const m = l3 === 10 ? ICMPV6_REPLY : ICMP_REPLY;
  return m[type] ?? 255;
}

/**
 * Builds the tuple of the other direction by swapping addresses and ports;
 * ICMP fields already set on `other` (the setter fills both) are kept.
 */
export function reverseTuple(from: Tuple, other: Tuple): Tuple {
  const t: Tuple = {
    l3: from.l3,
    src: from.dst,
    dst: from.src,
    proto: from.proto,
    sport: undefined,
    dport: undefined,
    icmpType: other.icmpType,
    icmpCode: other.icmpCode,
    icmpId: other.icmpId,
    zone: other.zone,
  };
  if (hasPorts(from.proto)) {
    t.sport = from.dport;
    t.dport = from.sport;
  } else if (from.proto === IPPROTO_ICMP || from.proto === IPPROTO_ICMPV6) {
    if (t.icmpType === undefined && from.icmpType !== undefined) {
      t.icmpType = icmpReplyType(from.l3, from.icmpType);
    }
    if (t.icmpCode === undefined) t.icmpCode = from.icmpCode;
    if (t.icmpId === undefined) t.icmpId = from.icmpId;
  }
  return t;
}

/**
 * libnetfilter_conntrack's ICMP setters fill both directions at once (code and
 * id copied, type mapped to its reply type), so a created entry carries them
 * in the reply tuple even when -r/-q were given.
 */
export function fillIcmpReply(orig: Tuple, reply: Tuple): void {
  if (orig.proto !== IPPROTO_ICMP && orig.proto !== IPPROTO_ICMPV6) return;
  if (reply.icmpType === undefined && orig.icmpType !== undefined) {
    reply.icmpType = icmpReplyType(orig.l3, orig.icmpType);
  }
  if (reply.icmpCode === undefined) reply.icmpCode = orig.icmpCode;
  if (reply.icmpId === undefined) reply.icmpId = orig.icmpId;
}
