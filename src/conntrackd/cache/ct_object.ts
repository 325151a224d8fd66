// How conntrackd caches a conntrack: keyed by the original tuple and zone (the
// reference hashes orig addresses, protocols, ports and zone, and compares
// with nfct_cmp(NFCT_CMP_ORIG)), updated attribute by attribute like
// nfct_copy(NFCT_CP_META), and printed as `-i`/`-e` print it.
import { Conntrack, IPPROTO_ICMP, IPPROTO_ICMPV6 } from "../../conntrack/model.ts";
import { formatConntrack } from "../../conntrack/format/text.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { O_XML } from "../../conntrack/command.ts";
import type { CacheObject, CacheOps, ValueCodec } from "./cache.ts";
import { decodeRecord, encodeRecord, ipv4Value } from "./ct_record.ts";

/**
 * The cache key of a conntrack: its original tuple and zones. An IPv4 flow gets 12 chars (its
 * fields as 16-bit char codes, built by one call; the key is hashed and kept for every cached
 * flow), anything else the text form below. Two conntracks get the same key exactly when they
 * get the same text key: dotted quads that parse are canonical, so their bytes stand for the
 * text, and the fast form starts with a char no text key starts with.
 */
export function ctKey(ct: Conntrack): string {
  return ipv4Key(ct) ?? ctTextKey(ct);
}

/** The key as text: family, protocol, addresses, ports or ICMP type/code/id, zones. */
export function ctTextKey(ct: Conntrack): string {
  const o = ct.orig;
  const l4 = o.proto === IPPROTO_ICMP || o.proto === IPPROTO_ICMPV6
    ? `${o.icmpType}/${o.icmpCode}/${o.icmpId}`
    : `${o.sport}/${o.dport}`;
  return `${o.l3} ${o.proto} ${o.src} ${o.dst} ${l4} ${ct.zone ?? 0} ${o.zone ?? 0}`;
}

const AF_INET = 2;
const isU16 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffff;

/** The 12-char key of an IPv4 tuple whose fields all fit 16 bits; null otherwise. */
function ipv4Key(ct: Conntrack): string | null {
  const o = ct.orig;
  if (o.l3 !== AF_INET || o.src === undefined || o.dst === undefined) return null;
  const icmp = o.proto === IPPROTO_ICMP || o.proto === IPPROTO_ICMPV6;
  const f1 = icmp ? o.icmpType : o.sport, f2 = icmp ? o.icmpCode : o.dport, f3 = icmp ? o.icmpId : 0;
  const zone = ct.zone ?? 0, dirZone = o.zone ?? 0;
  // Which of protocol and L4 fields are unset (the text key tells "undefined" from 0 too).
  const unset = (o.proto === undefined ? 1 : 0) | (f1 === undefined ? 2 : 0) | (f2 === undefined ? 4 : 0) |
    (f3 === undefined ? 8 : 0);
  const proto = o.proto ?? 0, l4a = f1 ?? 0, l4b = f2 ?? 0, l4c = f3 ?? 0;
  if (
    !isU16(proto) || !isU16(l4a) || !isU16(l4b) || !isU16(l4c) || !isU16(zone) || !isU16(dirZone)
  ) return null;
  const src = ipv4Value(o.src), dst = ipv4Value(o.dst);
  if (src < 0 || dst < 0) return null;
  return String.fromCharCode(
    AF_INET,
    unset,
    proto,
    src >>> 16,
    src & 0xffff,
    dst >>> 16,
    dst & 0xffff,
    l4a,
    l4b,
    l4c,
    zone,
    dirZone,
  );
}

// Every attribute nfct_copy(NFCT_CP_META) carries over: all but the tuples.
const META_FIELDS = [
  "master",
  "status",
  "timeout",
  "mark",
  "secmark",
  "use",
  "id",
  "zone",
  "state",
  "tcpWscaleOrig",
  "tcpWscaleReply",
  "tcpFlagsOrig",
  "tcpMaskOrig",
  "tcpFlagsReply",
  "tcpMaskReply",
  "sctpVtagOrig",
  "sctpVtagReply",
  "dccpRole",
  "dccpHandshakeSeq",
  "countersOrig",
  "countersReply",
  "tsStart",
  "tsStop",
  "helper",
  "secctx",
  "labels",
  "labelsMask",
  "snat",
  "dnat",
  "seqAdjOrig",
  "seqAdjReply",
  "synproxy",
] as const satisfies readonly (keyof Conntrack)[];

/** Copies every attribute `update` carries (other than the tuples) onto `stored`. */
export function mergeConntrack(stored: Conntrack, update: Conntrack): void {
  const s = stored as unknown as Record<string, unknown>, u = update as unknown as Record<string, unknown>;
  for (const f of META_FIELDS) {
    const v = u[f];
    if (v !== undefined) s[f] = v;
  }
  if (update.reply.zone !== undefined) stored.reply.zone = update.reply.zone;
}

export const ctCacheOps: CacheOps<Conntrack> = { keyOf: ctKey, merge: mergeConntrack };

/** Conntracks are cached as compact records (ct_record.ts). */
export const ctCodec: ValueCodec<Conntrack> = {
  encode: encodeRecord,
  decode: (data) => decodeRecord(data as string),
};

/** Attributes conntrackd never caches (cache_object_new on a stripped copy). */
export function stripVolatile(ct: Conntrack, keepTimeout: boolean): void {
  ct.countersOrig = undefined;
  ct.countersReply = undefined;
  ct.use = undefined;
  if (!keepTimeout) ct.timeout = undefined;
}

/**
 * One `-i`/`-e` line: the default conntrack line without timeout, then the
 * features' suffix (ALARM's `[expires in Ns]`) and the age; XML lines have
 * neither suffix nor age.
 */
export function dumpConntrackLine(
  obj: CacheObject<Conntrack>,
  xml: boolean,
  nowSecs: number,
  suffix = "",
): string {
  // The cached timeout is not shown, but stays cached (commit estimates from it).
  const ct = obj.value, timeout = ct.timeout;
  ct.timeout = undefined;
  // The reference prints into a 1024-byte buffer before appending the suffixes.
  const line = formatConntrack(ct, MSG_UNKNOWN, xml ? O_XML : 0, null, 1024);
  ct.timeout = timeout;
  return xml ? line + "\n" : `${line}${suffix} [active since ${nowSecs - obj.lifetime}s]\n`;
}
