// How conntrackd caches a conntrack: keyed by the original tuple and zone (the
// reference hashes orig addresses, protocols, ports and zone, and compares
// with nfct_cmp(NFCT_CMP_ORIG)), updated attribute by attribute like
// nfct_copy(NFCT_CP_META), and printed as `-i`/`-e` print it.
import { Conntrack, IPPROTO_ICMP, IPPROTO_ICMPV6 } from "../../conntrack/model.ts";
import { formatConntrack } from "../../conntrack/format/text.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { O_XML } from "../../conntrack/command.ts";
import type { CacheObject, CacheOps, ValueCodec } from "./cache.ts";
import { decodeRecord, encodeRecord } from "./ct_record.ts";

/** The cache key of a conntrack: its original tuple and zones. */
export function ctKey(ct: Conntrack): string {
  const o = ct.orig;
  const l4 = o.proto === IPPROTO_ICMP || o.proto === IPPROTO_ICMPV6
    ? `${o.icmpType}/${o.icmpCode}/${o.icmpId}`
    : `${o.sport}/${o.dport}`;
  return `${o.l3} ${o.proto} ${o.src} ${o.dst} ${l4} ${ct.zone ?? 0} ${o.zone ?? 0}`;
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
