// conntrackd's userspace Filter (ct_filter_conntrack() and friends in
// conntrack-tools' filter.c): a sanity check every entry goes through, then the
// Protocol, Address and State clauses of conntrackd.conf. It runs once per
// event, so the clauses are compiled into numeric tables up front and a check
// allocates nothing.

import { type Conntrack, type Expect, IPPROTO_TCP, type Tuple } from "../../conntrack/model.ts";
import type { FilterConfig, TcpStateName } from "../config/types.ts";
import { ipv4Mask, ipv4Word, ipv6Mask, ipv6Words, NO_ADDRESS } from "./address.ts";

const AF_INET = 2;
const AF_INET6 = 10;

/** TCP state numbers of the State clause (libnetfilter_conntrack's enum; LISTEN is the kernel's SYN_SENT2). */
export const TCP_STATE_NUMBERS: Readonly<Record<TcpStateName, number>> = {
  SYN_SENT: 1,
  SYN_RECV: 2,
  ESTABLISHED: 3,
  FIN_WAIT: 4,
  CLOSE_WAIT: 5,
  LAST_ACK: 6,
  TIME_WAIT: 7,
  CLOSE: 8,
  LISTEN: 9,
};

/** Why the sanity check drops an entry; see SANITY_MESSAGES for what the reference logs. */
export type SanityFailure = "nomaster" | "l3" | "ipv4" | "ipv6";

/** The reference's log lines (LOG_ERR) for each sanity failure. */
export const SANITY_MESSAGES: Readonly<Record<SanityFailure, string>> = {
  nomaster: "no master tuple in expectation",
  l3: "missing layer 3 protocol",
  ipv4: "missing IPv4 address. You forgot to load nf_conntrack_ipv4?",
  ipv6: "missing IPv6 address. You forgot to load nf_conntrack_ipv6?",
};

/** Why an entry is dropped: a sanity failure or the clause that rejected it. */
export type DropReason = SanityFailure | "protocol" | "address" | "state";

/** Exact IPv6 addresses, looked up without building a key string. */
class Ipv6Set {
  private readonly buckets = new Map<number, Int32Array>();
  readonly size: number;

  constructor(list: Int32Array[]) {
    const grouped = new Map<number, Int32Array[]>();
    for (const a of list) {
      const k = Ipv6Set.key(a);
      const g = grouped.get(k);
      if (g) g.push(a);
      else grouped.set(k, [a]);
    }
    for (const [k, g] of grouped) {
      const flat = new Int32Array(4 * g.length);
      g.forEach((a, i) => flat.set(a, 4 * i));
      this.buckets.set(k, flat);
    }
    this.size = list.length;
  }

  private static key(a: Int32Array): number {
    return a[0] ^ a[1] ^ a[2] ^ a[3];
  }

  has(a: Int32Array): boolean {
    const flat = this.buckets.get(Ipv6Set.key(a));
    if (flat === undefined) return false;
    for (let i = 0; i < flat.length; i += 4) {
      if (flat[i] === a[0] && flat[i + 1] === a[1] && flat[i + 2] === a[2] && flat[i + 3] === a[3]) {
        return true;
      }
    }
    return false;
  }
}

// Scratch words for the two addresses a check parses.
const src6 = new Int32Array(4);
const rsrc6 = new Int32Array(4);

export class CtFilter {
  /** True when the configuration has no Filter clause at all: only the sanity check applies. */
  readonly empty: boolean;

  private readonly hasProtocol: boolean;
  private readonly protocolAccept: boolean;
  /** 1 at the index of each listed protocol number. */
  private readonly protocols = new Uint8Array(256);

  private readonly hasAddress: boolean;
  private readonly addressAccept: boolean;
  private readonly exact4: Set<number>;
  /** (network, mask) pairs of the IPv4 entries with a prefix shorter than 32. */
  private readonly nets4: Int32Array;
  private readonly exact6: Ipv6Set;
  /** 4 network words then 4 mask words per IPv6 entry with a prefix shorter than 128. */
  private readonly nets6: Int32Array;

  private readonly hasState: boolean;
  private readonly stateAccept: boolean;
  /** Bit n set for each listed TCP state number n. */
  private readonly states: number;

  constructor(cfg: FilterConfig) {
    this.empty = cfg.protocol === null && cfg.address === null && cfg.state === null;

    this.hasProtocol = cfg.protocol !== null;
    this.protocolAccept = cfg.protocol?.policy === "accept";
    for (const p of cfg.protocol?.protocols ?? []) if (p >= 0 && p < 256) this.protocols[p] = 1;

    this.hasAddress = cfg.address !== null;
    this.addressAccept = cfg.address?.policy === "accept";
    const exact4: number[] = [], nets4: number[] = [], exact6: Int32Array[] = [], nets6: number[] = [];
    for (const e of cfg.address?.entries ?? []) {
      if (e.family === "ipv4") {
        const a = ipv4Word(e.address);
        if (a === NO_ADDRESS) continue;
        if (e.prefix >= 32) exact4.push(a);
        else {
          const m = ipv4Mask(e.prefix);
          nets4.push(a & m, m);
        }
      } else {
        const a = new Int32Array(4);
        if (!ipv6Words(e.address, a)) continue;
        if (e.prefix >= 128) exact6.push(a);
        else {
          const m = ipv6Mask(e.prefix);
          nets6.push(a[0] & m[0], a[1] & m[1], a[2] & m[2], a[3] & m[3], ...m);
        }
      }
    }
    this.exact4 = new Set(exact4);
    this.nets4 = Int32Array.from(nets4);
    this.exact6 = new Ipv6Set(exact6);
    this.nets6 = Int32Array.from(nets6);

    this.hasState = cfg.state !== null;
    this.stateAccept = cfg.state?.policy === "accept";
    let states = 0;
    for (const s of cfg.state?.states ?? []) states |= 1 << TCP_STATE_NUMBERS[s];
    this.states = states;
  }

  /** ct_filter_conntrack(ct, userspace): true = drop the entry. */
  rejects(ct: Conntrack, userspace: boolean): boolean {
    return this.dropReason(ct, userspace) !== null;
  }

  /**
   * Why ct_filter_conntrack() would drop the entry, or null to keep it. A
   * sanity failure is what the reference logs (SANITY_MESSAGES) besides dropping.
   */
  dropReason(ct: Conntrack, userspace: boolean): DropReason | null {
    const insane = conntrackSanity(ct);
    if (insane !== null || !userspace || this.empty) return insane;
    return this.clauseDropping(ct);
  }

  /** ct_filter_check(): which clause drops a sane entry, or null when all pass. */
  clauseDropping(ct: Conntrack): "protocol" | "address" | "state" | null {
    const proto = ct.orig.proto ?? 0;
    if (this.hasProtocol && (this.protocols[proto] === 1) !== this.protocolAccept) return "protocol";
    if (this.hasAddress && this.addressDrops(ct)) return "address";
    if (this.hasState && proto === IPPROTO_TCP && ct.state !== undefined) {
      const listed = ct.state < 16 && ((this.states >>> ct.state) & 1) === 1;
      if (listed !== this.stateAccept) return "state";
    }
    return null;
  }

  /**
   * Tests the original source and the reply source: a netmask hit decides at
   * once (kept under Accept, dropped under Ignore); otherwise an exact hit
   * XOR Accept drops. Families without entries still follow that rule, so
   * under Accept an IPv6 entry is dropped when only IPv4 addresses are listed.
   */
  private addressDrops(ct: Conntrack): boolean {
    const l3 = ct.orig.l3;
    if (l3 === AF_INET) {
      const s = ipv4Word(ct.orig.src!), r = ipv4Word(ct.reply.src!);
      // Text that is no IPv4 address cannot come from the kernel; never let it through.
      if (s === NO_ADDRESS || r === NO_ADDRESS) return true;
      const nets = this.nets4;
      for (let i = 0; i < nets.length; i += 2) {
        const net = nets[i], m = nets[i + 1];
        if ((s & m) === net || (r & m) === net) return !this.addressAccept;
      }
      return (this.exact4.has(s) || this.exact4.has(r)) !== this.addressAccept;
    }
    if (l3 === AF_INET6) {
      if (!ipv6Words(ct.orig.src!, src6) || !ipv6Words(ct.reply.src!, rsrc6)) return true;
      const nets = this.nets6;
      for (let i = 0; i < nets.length; i += 8) {
        if (inNet6(src6, nets, i) || inNet6(rsrc6, nets, i)) return !this.addressAccept;
      }
      return (this.exact6.has(src6) || this.exact6.has(rsrc6)) !== this.addressAccept;
    }
    return false;
  }
}

function inNet6(a: Int32Array, nets: Int32Array, i: number): boolean {
  return (a[0] & nets[i + 4]) === nets[i] && (a[1] & nets[i + 5]) === nets[i + 1] &&
    (a[2] & nets[i + 6]) === nets[i + 2] && (a[3] & nets[i + 7]) === nets[i + 3];
}

/**
 * ct_filter_sanity_check(): the layer 3 protocol must be known and, for IPv4
 * and IPv6, the original and the reply source address present (the reference
 * only looks at those two; destinations are not checked).
 */
export function conntrackSanity(ct: Conntrack): SanityFailure | null {
  const l3 = ct.orig.l3;
  if (l3 === 0) return "l3";
  if (l3 === AF_INET) return ct.orig.src === undefined || ct.reply.src === undefined ? "ipv4" : null;
  if (l3 === AF_INET6) return ct.orig.src === undefined || ct.reply.src === undefined ? "ipv6" : null;
  return null;
}

/**
 * ct_filter_master()'s sanity part for an expectation's master tuple: it must
 * exist, have a layer 3 protocol and both its addresses. (The reference then
 * keeps the expectation only if the master is in the internal cache.)
 */
export function masterSanity(master: Tuple | undefined): SanityFailure | null {
  if (master === undefined) return "nomaster";
  if (master.l3 === 0) return "l3";
  const missing = master.src === undefined || master.dst === undefined;
  if (master.l3 === AF_INET) return missing ? "ipv4" : null;
  if (master.l3 === AF_INET6) return missing ? "ipv6" : null;
  return null;
}

/** Longest helper name the reference keeps for an ExpectationSync item (NFCT_HELPER_NAME_MAX). */
const HELPER_NAME_MAX = 16;

/**
 * exp_filter_find(): with ExpectationSync On (`true`) every expectation passes;
 * with a helper list, only those whose helper name starts with a listed name,
 * ignoring ASCII case (so `sip` also takes `sip-5060`). Expectations without a
 * helper name never pass a list.
 */
export function expectHelperAccepted(exp: Expect, list: true | readonly string[]): boolean {
  if (list === true) return true;
  const name = exp.helper;
  if (name === undefined) return false;
  for (const item of list) if (startsWithIgnoringCase(name, item)) return true;
  return false;
}

function startsWithIgnoringCase(name: string, item: string): boolean {
  const n = Math.min(item.length, HELPER_NAME_MAX);
  if (name.length < n) return false;
  for (let i = 0; i < n; i++) {
    if (asciiLower(name.charCodeAt(i)) !== asciiLower(item.charCodeAt(i))) return false;
  }
  return true;
}

function asciiLower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}
