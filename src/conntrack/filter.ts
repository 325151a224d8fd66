// Which entries a command acts on: conntrack's user-space filters (NAT, mark,
// labels, networks) and libnetfilter_conntrack's template comparison (nfct_cmp),
// with the same set/unset semantics as the C objects.
import { addrBytes, pton4Into } from "../common/inet.ts";
import {
  CT_COMPARISON,
  CT_OPT_ANY_NAT,
  CT_OPT_DST_NAT,
  CT_OPT_MARK,
  CT_OPT_MASK_DST,
  CT_OPT_MASK_SRC,
  CT_OPT_ORIG_DST,
  CT_OPT_ORIG_SRC,
  CT_OPT_SRC_NAT,
  type CtCommand,
} from "./command.ts";
import { exitError, PARAMETER_PROBLEM } from "./errors.ts";
import { labelBitSet } from "./labels.ts";
import {
  type Conntrack,
  IPPROTO_DCCP,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
  IPS_DST_NAT_DONE,
  IPS_SRC_NAT_DONE,
  type Tuple,
} from "./model.ts";

// ---- "is NAT'ed" predicates (nfct_getobjopt) -----------------------------

/** The 16 bits of the l4 "source" union: port, GRE key or ICMP id. */
function l4src(t: Tuple): number {
  if (t.proto === IPPROTO_ICMP || t.proto === IPPROTO_ICMPV6) return t.icmpId ?? 0;
  return t.sport ?? 0;
}
/** The 16 bits of the l4 "destination" union: port, GRE key or ICMP type+code. */
function l4dst(t: Tuple): number {
  if (t.proto === IPPROTO_ICMP || t.proto === IPPROTO_ICMPV6) {
    return ((t.icmpType ?? 0) << 8) | (t.icmpCode ?? 0);
  }
  return t.dport ?? 0;
}

export function isSnat(ct: Conntrack): boolean {
  if (ct.status !== undefined && !(ct.status & IPS_SRC_NAT_DONE)) return false;
  return (ct.orig.l3 === 2 || ct.orig.l3 === 10) && ct.reply.dst !== ct.orig.src;
}
export function isDnat(ct: Conntrack): boolean {
  if (ct.status !== undefined && !(ct.status & IPS_DST_NAT_DONE)) return false;
  return (ct.orig.l3 === 2 || ct.orig.l3 === 10) && ct.reply.src !== ct.orig.dst;
}
export function isSpat(ct: Conntrack): boolean {
  const done = ct.status !== undefined ? (ct.status & IPS_SRC_NAT_DONE) !== 0 : true;
  return done && l4dst(ct.reply) !== l4src(ct.orig);
}
export function isDpat(ct: Conntrack): boolean {
  const done = ct.status !== undefined ? (ct.status & IPS_DST_NAT_DONE) !== 0 : true;
  return done && l4src(ct.reply) !== l4dst(ct.orig);
}

function isV4(text: string | undefined): boolean {
  return text !== undefined && !text.includes(":");
}

/** filter_nat(): true when the entry is filtered OUT. */
export function filterNat(cmd: CtCommand, ct: Conntrack): boolean {
  const o = cmd.options;
  const any = (o & CT_OPT_ANY_NAT) !== 0;
  const checkSrc = any || (o & CT_OPT_SRC_NAT) !== 0;
  const checkDst = any || (o & CT_OPT_DST_NAT) !== 0;
  if (!checkSrc && !checkDst) return false;
  const tmpl = cmd.tmpl.ct;
  let hasSrc = false, hasDst = false;
  if (checkSrc) {
    // Only an IPv4 NAT address is compared, as in the reference.
    const checkAddr = isV4(tmpl.snat?.addr);
    const checkPort = tmpl.snat?.port !== undefined;
    if (checkAddr && isSnat(ct) && tmpl.snat!.addr === ct.reply.dst) hasSrc = true;
    if (checkPort) {
      const ok = isSpat(ct) && tmpl.snat!.port === (ct.reply.dport ?? 0);
      if (checkAddr && hasSrc && !ok) hasSrc = false;
      if (!checkAddr && ok) hasSrc = true;
    }
    if (!checkAddr && !checkPort && (isSnat(ct) || isSpat(ct))) hasSrc = true;
  }
  if (checkDst) {
    const checkAddr = isV4(tmpl.dnat?.addr);
    const checkPort = tmpl.dnat?.port !== undefined;
    if (checkAddr && isDnat(ct) && tmpl.dnat!.addr === ct.reply.src) hasDst = true;
    if (checkPort) {
      const ok = isDpat(ct) && tmpl.dnat!.port === (ct.reply.sport ?? 0);
      if (checkAddr && hasDst && !ok) hasDst = false;
      if (!checkAddr && ok) hasDst = true;
    }
    if (!checkAddr && !checkPort && (isDnat(ct) || isDpat(ct))) hasDst = true;
  }
  if (any) return !(hasSrc || hasDst);
  if ((o & CT_OPT_SRC_NAT) && (o & CT_OPT_DST_NAT)) return !(hasSrc && hasDst);
  if (o & CT_OPT_SRC_NAT) return !hasSrc;
  return !hasDst;
}

/** filter_mark(): (mark & mask) == value, only for entries that carry a mark. */
export function filterMark(cmd: CtCommand, ct: Conntrack): boolean {
  if (!(cmd.options & CT_OPT_MARK)) return false;
  const m = cmd.tmpl.mark;
  return !(ct.mark !== undefined && ((ct.mark & m.mask) >>> 0) === m.value >>> 0);
}

/** filter_label(): every label of -l must be set on the entry. */
export function filterLabel(cmd: CtCommand, ct: Conntrack): boolean {
  const want = cmd.tmpl.label;
  if (!want) return false;
  if (!ct.labels) return true;
  for (let bit = 0; bit < want.length * 8; bit++) {
    if (labelBitSet(want, bit) && !labelBitSet(ct.labels, bit)) return true;
  }
  return false;
}

// ---- network (CIDR / --mask-*) filter ------------------------------------

export interface NetworkFilter {
  family: number;
  src?: { net: Uint8Array; mask: Uint8Array };
  dst?: { net: Uint8Array; mask: Uint8Array };
}

/**
 * nfct_filter_init(): turns -s/-d + mask into networks and drops the exact
 * address from the template so it no longer takes part in the comparison.
 */
export function prepareNetworkFilter(cmd: CtCommand): NetworkFilter {
  const f: NetworkFilter = { family: cmd.family };
  const prep = (which: "src" | "dst") => {
    const addr = addrBytes(cmd.tmpl.ct.orig[which] ?? "");
    const mask = addrBytes(cmd.tmpl.mask.orig[which] ?? "");
    const len = cmd.family === 10 ? 16 : 4;
    const m = mask && mask.length === len ? mask : new Uint8Array(len);
    const a = addr && addr.length === len ? addr : new Uint8Array(len);
    const net = a.map((v, i) => v & m[i]);
    cmd.tmpl.ct.orig[which] = undefined;
    return { net, mask: m };
  };
  if (cmd.options & CT_OPT_MASK_SRC) {
    if (!(cmd.options & CT_OPT_ORIG_SRC)) exitError(PARAMETER_PROBLEM, "Can't use --mask-src without --src");
    f.src = prep("src");
  }
  if (cmd.options & CT_OPT_MASK_DST) {
    if (!(cmd.options & CT_OPT_ORIG_DST)) exitError(PARAMETER_PROBLEM, "Can't use --mask-dst without --dst");
    f.dst = prep("dst");
  }
  return f;
}

const scratch4 = new Uint8Array(4);

function netMismatch(
  family: number,
  ct: Conntrack,
  text: string | undefined,
  n: { net: Uint8Array; mask: Uint8Array },
) {
  if (ct.orig.l3 !== family) return true;
  if (family !== 2 && family !== 10) return false;
  // IPv4 without allocating: this runs for every entry of a filtered listing.
  const a = family === 2
    ? (text !== undefined && pton4Into(text, scratch4) ? scratch4 : scratch4.fill(0))
    : addrBytes(text ?? "::");
  if (!a || a.length !== n.mask.length) return true;
  for (let i = 0; i < a.length; i++) if ((a[i] & n.mask[i]) !== n.net[i]) return true;
  return false;
}

export function filterNetwork(f: NetworkFilter, ct: Conntrack): boolean {
  if (f.src && netMismatch(f.family, ct, ct.orig.src, f.src)) return true;
  if (f.dst && netMismatch(f.family, ct, ct.orig.dst, f.dst)) return true;
  return false;
}

// ---- template comparison (nfct_cmp with NFCT_CMP_MASK) -------------------

/**
 * __cmp() with NFCT_CMP_MASK: an attribute set in the template must match; one
 * the entry lacks fails when strict, or compares as 0 when not.
 */
function cmpAttr<T>(t: T | undefined, c: T | undefined, strict: boolean, eq: (a: T, b: T | 0) => boolean) {
  if (t === undefined) return true;
  if (c === undefined) return strict ? false : eq(t, 0);
  return eq(t, c);
}
const same = <T>(a: T, b: T | 0) => a === b;

const PORT_PROTOS = new Set([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IPPROTO_DCCP, IPPROTO_SCTP]);

function cmpL4(t: Tuple, c: Tuple, tOrig: Tuple, cOrig: Tuple): boolean {
  if (t.proto === undefined || c.proto === undefined) return true;
  if (t.proto !== c.proto) return false;
  if (t.proto === IPPROTO_ICMP || t.proto === IPPROTO_ICMPV6) {
    // ICMP fields are original-direction attributes even in the reply comparison.
    return cmpAttr(tOrig.icmpId, cOrig.icmpId, true, same) &&
      cmpAttr(tOrig.icmpCode, cOrig.icmpCode, true, same) &&
      cmpAttr(tOrig.icmpType, cOrig.icmpType, true, same);
  }
  if (PORT_PROTOS.has(t.proto)) {
    return cmpAttr(t.sport, c.sport, true, same) && cmpAttr(t.dport, c.dport, true, same);
  }
  return true;
}

function cmpTuple(t: Tuple, c: Tuple, tOrig: Tuple, cOrig: Tuple): boolean {
  if (t.l3 !== 0 && c.l3 !== 0 && t.l3 !== c.l3) return false;
  return cmpL4(t, c, tOrig, cOrig) &&
    cmpAttr(t.src, c.src, true, same) &&
    cmpAttr(t.dst, c.dst, true, same) &&
    cmpAttr(t.zone, c.zone, false, same);
}

function labelsEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return false;
  return true;
}

function cmpMeta(t: Conntrack, c: Conntrack): boolean {
  return cmpAttr(t.id, c.id, true, same) &&
    cmpAttr(t.mark, c.mark, false, same) &&
    cmpAttr(t.timeout, c.timeout, true, same) &&
    cmpAttr(t.status, c.status, true, (a, b) => ((a & (b as number)) >>> 0) === a >>> 0) &&
    cmpAttr(t.state, c.state, true, same) &&
    cmpAttr(t.zone, c.zone, false, same) &&
    cmpAttr(t.secctx, c.secctx, true, same) &&
    cmpAttr(t.labels, c.labels, true, (a, b) => labelsEqual(a, b === 0 ? undefined : b)) &&
    cmpAttr(t.labelsMask, c.labelsMask, true, (a, b) => labelsEqual(a, b === 0 ? undefined : b));
}

export function cmpOrig(t: Conntrack, c: Conntrack): boolean {
  return cmpTuple(t.orig, c.orig, t.orig, c.orig);
}
export function cmpReply(t: Conntrack, c: Conntrack): boolean {
  return cmpTuple(t.reply, c.reply, t.orig, c.orig);
}
/** nfct_cmp(t, c, NFCT_CMP_ALL | NFCT_CMP_MASK). */
export function cmpAll(t: Conntrack, c: Conntrack): boolean {
  return cmpMeta(t, c) && cmpOrig(t, c) && cmpReply(t, c);
}

/** nfct_filter(): true when the entry is filtered OUT. */
export function filterEntry(cmd: CtCommand, net: NetworkFilter, ct: Conntrack): boolean {
  if (filterNat(cmd, ct) || filterMark(cmd, ct) || filterLabel(cmd, ct) || filterNetwork(net, ct)) {
    return true;
  }
  return (cmd.options & CT_COMPARISON) !== 0 && !cmpAll(cmd.tmpl.ct, ct);
}
