// A conntrack as flat scratch state: numbers in typed arrays and presence bits
// instead of a Conntrack with its tuples and address strings. The NEW-event
// fast path (ctnl/ct_event_fast.ts) parses a netlink message into it, the
// cache's key and record are written from it (flat_record.ts), and a cached
// record read back into it gives the sync message (sync/wire/ct_flat_codec.ts).
// Only "plain" flows fit: IPv4/IPv6, TCP/UDP/ICMP/ICMPv6, complete tuples, no
// master, helper, labels, NAT ranges, sequence adjustments or tuple zones;
// everything else takes the Conntrack path.
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from "../../conntrack/model.ts";

// Indices of FlatCt.n; a field is set when bit (1 << index) of FlatCt.has is.
export const N_STATUS = 0, N_TIMEOUT = 1, N_MARK = 2, N_SECMARK = 3, N_ID = 4, N_ZONE = 5;
export const N_STATE = 6, N_WSO = 7, N_WSR = 8, N_FLO = 9, N_MKO = 10, N_FLR = 11, N_MKR = 12;
/** The synproxy values (set together: the kernel sends them on every event, zeros unless SYNPROXY). */
export const N_SP_ISN = 13, N_SP_ITS = 14, N_SP_TSOFF = 15;
/** CTA_USE: only Stats mode's records keep it (the sync caches strip it). */
export const N_USE = 16;
/** Presence bits of the two timestamps (their bytes are in FlatCt.ts) and of the synproxy values. */
export const H_TS_START = 1 << 20, H_TS_STOP = 1 << 21, H_SYNPROXY = 1 << 22;
/** The message had counters (parsed for sanity, not kept: a record that needs them takes the Conntrack path). */
export const H_COUNTERS = 1 << 23;

// Tuple fields: FlatCt.t[dir * 6 + index], set when bit (1 << index) of hasT[dir] is.
export const TF_PROTO = 0, TF_SPORT = 1, TF_DPORT = 2, TF_ICMP_TYPE = 3, TF_ICMP_CODE = 4, TF_ICMP_ID = 5;
export const HT_SRC = 1 << 6, HT_DST = 1 << 7;
export const DIR_ORIG = 0, DIR_REPLY = 1;

const PORTS = (1 << TF_SPORT) | (1 << TF_DPORT);
const ICMP = (1 << TF_ICMP_TYPE) | (1 << TF_ICMP_CODE) | (1 << TF_ICMP_ID);
/** A plain tuple of a protocol with ports, or of ICMP: these bits exactly. */
const PORT_TUPLE = HT_SRC | HT_DST | (1 << TF_PROTO) | PORTS;
const ICMP_TUPLE = HT_SRC | HT_DST | (1 << TF_PROTO) | ICMP;

export class FlatCt {
  /** Address family of the message and both tuples: 2 or 10. */
  l3 = 0;
  /** Presence bits of `n` (1 << N_*, up to N_MKR) and H_*. */
  has = 0;
  readonly n = new Uint32Array(17);
  /** Start then stop timestamp, 8 big-endian bytes each (as netlink and the record carry them). */
  readonly ts = new Uint8Array(16);
  /** Presence bits of each tuple's fields: original, reply. */
  readonly hasT = new Uint32Array(2);
  readonly t = new Uint32Array(12);
  /** Original source and destination, reply source and destination: 16 bytes each (IPv4 uses 4). */
  readonly addr = new Uint8Array(64);

  reset(l3: number): void {
    this.l3 = l3;
    this.has = 0;
    this.hasT[0] = this.hasT[1] = 0;
  }

  /** Address bytes per address: 4 or 16. */
  get addrLen(): number {
    return this.l3 === 2 ? 4 : 16;
  }

  proto(): number {
    return this.t[TF_PROTO];
  }

  isIcmp(): boolean {
    const p = this.t[TF_PROTO];
    return p === IPPROTO_ICMP || p === IPPROTO_ICMPV6;
  }
}

/** Offsets into FlatCt.addr. */
export const A_ORIG_SRC = 0, A_ORIG_DST = 16, A_REPLY_SRC = 32, A_REPLY_DST = 48;

/**
 * True when what was parsed is a flow the flat forms cover: both tuples complete and of the
 * same protocol (TCP or UDP with ports, ICMP/ICMPv6 with type, code and id).
 */
export function isPlain(f: FlatCt): boolean {
  if (f.l3 !== 2 && f.l3 !== 10) return false;
  const o = f.hasT[0], r = f.hasT[1];
  if (o !== r || f.t[TF_PROTO] !== f.t[6 + TF_PROTO]) return false;
  const p = f.t[TF_PROTO];
  if (p === IPPROTO_TCP || p === IPPROTO_UDP) return o === PORT_TUPLE;
  if (p === IPPROTO_ICMP || p === IPPROTO_ICMPV6) return o === ICMP_TUPLE;
  return false;
}
