// Expectation state messages (types EXP_NEW/EXP_UPD/EXP_DEL): the payload of
// conntrackd 1.4.7's exp2msg (build.c) and msg2exp (parse.c). The zone is not sent.
import {
  Expect,
  IPPROTO_DCCP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  newTuple,
  type Tuple,
} from "../../../conntrack/model.ts";
import { ntop4, ntop6 } from "../../../common/inet.ts";
import {
  align4,
  getCString,
  getU16,
  getU32,
  NTA_HDR,
  putAddrPair,
  putPorts,
  putString,
  putU32,
  putU8,
} from "./attr.ts";
import { HDR_SIZE, writeHeader } from "./header.ts";

// Attribute ids (include/network.h, enum nta_exp_attr).
export const NTA_EXP_MASTER_IPV4 = 0;
export const NTA_EXP_MASTER_IPV6 = 1;
export const NTA_EXP_MASTER_L4PROTO = 2;
export const NTA_EXP_MASTER_PORT = 3;
export const NTA_EXP_EXPECT_IPV4 = 4;
export const NTA_EXP_EXPECT_IPV6 = 5;
export const NTA_EXP_EXPECT_L4PROTO = 6;
export const NTA_EXP_EXPECT_PORT = 7;
export const NTA_EXP_MASK_IPV4 = 8;
export const NTA_EXP_MASK_IPV6 = 9;
export const NTA_EXP_MASK_L4PROTO = 10;
export const NTA_EXP_MASK_PORT = 11;
export const NTA_EXP_TIMEOUT = 12;
export const NTA_EXP_FLAGS = 13;
export const NTA_EXP_CLASS = 14;
export const NTA_EXP_NAT_IPV4 = 15;
export const NTA_EXP_NAT_PORT = 16;
export const NTA_EXP_NAT_L4PROTO = 17;
export const NTA_EXP_NAT_DIR = 18;
export const NTA_EXP_HELPER_NAME = 19;
export const NTA_EXP_FN = 20;
export const NTA_EXP_MAX = 21;

const FIXED_LEN = new Uint16Array(NTA_EXP_MAX);
const MAX_LEN = new Uint16Array(NTA_EXP_MAX);
{
  const f = (len: number, ...ids: number[]) => ids.forEach((id) => FIXED_LEN[id] = NTA_HDR + len);
  f(8, NTA_EXP_MASTER_IPV4, NTA_EXP_EXPECT_IPV4, NTA_EXP_MASK_IPV4, NTA_EXP_NAT_IPV4);
  f(32, NTA_EXP_MASTER_IPV6, NTA_EXP_EXPECT_IPV6, NTA_EXP_MASK_IPV6);
  f(1, NTA_EXP_MASTER_L4PROTO, NTA_EXP_EXPECT_L4PROTO, NTA_EXP_MASK_L4PROTO, NTA_EXP_NAT_L4PROTO);
  f(4, NTA_EXP_MASTER_PORT, NTA_EXP_EXPECT_PORT, NTA_EXP_MASK_PORT, NTA_EXP_NAT_PORT);
  f(4, NTA_EXP_TIMEOUT, NTA_EXP_FLAGS, NTA_EXP_CLASS, NTA_EXP_NAT_DIR);
  MAX_LEN[NTA_EXP_HELPER_NAME] = 16; // NFCT_HELPER_NAME_MAX
  MAX_LEN[NTA_EXP_FN] = 32; // the reference's "artificial limit"
}

export interface ExpEncodeOptions {
  /** Put TIMEOUT on the wire: the reference does when CommitTimeout is 0. */
  withTimeout: boolean;
}

/** Ports travel only when the master's protocol is one of these (exp_l4proto_fcn). */
function portsFor(proto: number | undefined): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_DCCP;
}

/** Writes the message for `exp` at `off` with seq 0 and no flags; returns its length. */
export function encodeExp(
  out: Uint8Array,
  off: number,
  type: number,
  exp: Expect,
  opts: ExpEncodeOptions,
): number {
  const ports = portsFor(exp.master.proto);
  let p = off + HDR_SIZE;
  p = putTuple(out, p, exp.master, NTA_EXP_MASTER_IPV4, ports);
  p = putTuple(out, p, exp.tuple, NTA_EXP_EXPECT_IPV4, ports);
  p = putTuple(out, p, exp.mask, NTA_EXP_MASK_IPV4, ports);
  if (opts.withTimeout && exp.timeout !== undefined) p = putU32(out, p, NTA_EXP_TIMEOUT, exp.timeout);
  p = putU32(out, p, NTA_EXP_FLAGS, exp.flags ?? 0);
  if (exp.class !== undefined) p = putU32(out, p, NTA_EXP_CLASS, exp.class);
  const nat = exp.nat;
  if (nat) {
    const t = nat.tuple;
    // Only an IPv4 NAT address has an attribute.
    if (pairFamily(t) === 2) p = putAddrPair(out, p, NTA_EXP_NAT_IPV4, false, t.src!, t.dst!);
    p = putU8(out, p, NTA_EXP_NAT_L4PROTO, t.proto ?? 0);
    if (ports) p = putPorts(out, p, NTA_EXP_NAT_PORT, t.sport ?? 0, t.dport ?? 0);
    p = putU32(out, p, NTA_EXP_NAT_DIR, nat.dir);
  }
  if (exp.helper !== undefined) p = putString(out, p, NTA_EXP_HELPER_NAME, exp.helper);
  if (exp.fn !== undefined) p = putString(out, p, NTA_EXP_FN, exp.fn);
  if (p > out.length) throw new RangeError(`sync message needs ${p - off} bytes at ${off}: buffer too short`);
  writeHeader(out, off, type, 0, p - off);
  return p - off;
}

/**
 * One tuple: address pair (IPv4 id = base, IPv6 id = base + 1), L4PROTO
 * (base + 2, always), PORT (base + 3) when the master's protocol has ports.
 */
function putTuple(out: Uint8Array, p: number, t: Tuple, base: number, ports: boolean): number {
  const fam = pairFamily(t);
  if (fam !== 0) p = putAddrPair(out, p, fam === 10 ? base + 1 : base, fam === 10, t.src!, t.dst!);
  p = putU8(out, p, base + 2, t.proto ?? 0);
  if (ports) p = putPorts(out, p, base + 3, t.sport ?? 0, t.dport ?? 0);
  return p;
}

function pairFamily(t: Tuple): number {
  if (t.src === undefined || t.dst === undefined) return 0;
  if (t.l3 === 2 || t.l3 === 10) return t.l3;
  return t.src.includes(":") ? 10 : 2;
}

/**
 * Decodes the payload in [off, end) as msg2exp does; null when the reference
 * rejects the message (same checks as for conntracks, over NTA_EXP_MAX ids).
 * A NAT_DIR without any NAT tuple attribute is dropped: the model keeps the
 * direction inside `nat`.
 */
export function decodeExpPayload(
  buf: Uint8Array,
  off: number,
  end: number,
  limit = buf.length,
): Expect | null {
  const exp = new Expect();
  let nat: Tuple | undefined, natDir: number | undefined;
  let p = off, rem = end - off;
  while (rem > NTA_HDR) {
    const len = getU16(buf, p), id = getU16(buf, p + 2);
    if (len > rem || id >= NTA_EXP_MAX || len < NTA_HDR) return null;
    if (FIXED_LEN[id] !== 0 && len !== FIXED_LEN[id]) return null;
    if (MAX_LEN[id] !== 0 && len > MAX_LEN[id]) return null;
    const q = p + NTA_HDR;
    switch (id) {
      case NTA_EXP_MASTER_IPV4:
      case NTA_EXP_MASTER_IPV6:
      case NTA_EXP_MASTER_L4PROTO:
      case NTA_EXP_MASTER_PORT:
        setTupleAttr(exp.master, id - NTA_EXP_MASTER_IPV4, buf, q);
        break;
      case NTA_EXP_EXPECT_IPV4:
      case NTA_EXP_EXPECT_IPV6:
      case NTA_EXP_EXPECT_L4PROTO:
      case NTA_EXP_EXPECT_PORT:
        setTupleAttr(exp.tuple, id - NTA_EXP_EXPECT_IPV4, buf, q);
        break;
      case NTA_EXP_MASK_IPV4:
      case NTA_EXP_MASK_IPV6:
      case NTA_EXP_MASK_L4PROTO:
      case NTA_EXP_MASK_PORT:
        setTupleAttr(exp.mask, id - NTA_EXP_MASK_IPV4, buf, q);
        break;
      case NTA_EXP_NAT_IPV4:
        setTupleAttr(nat ??= newTuple(), 0, buf, q);
        break;
      case NTA_EXP_NAT_L4PROTO:
        setTupleAttr(nat ??= newTuple(), 2, buf, q);
        break;
      case NTA_EXP_NAT_PORT:
        setTupleAttr(nat ??= newTuple(), 3, buf, q);
        break;
      case NTA_EXP_NAT_DIR:
        natDir = getU32(buf, q);
        break;
      case NTA_EXP_TIMEOUT:
        exp.timeout = getU32(buf, q);
        break;
      case NTA_EXP_FLAGS:
        exp.flags = getU32(buf, q);
        break;
      case NTA_EXP_CLASS:
        exp.class = getU32(buf, q);
        break;
      case NTA_EXP_HELPER_NAME:
        exp.helper = getCString(buf, q, 15, limit);
        break;
      case NTA_EXP_FN:
        exp.fn = getCString(buf, q, 23, limit); // expectfn[24]
        break;
    }
    const step = align4(len);
    p += step, rem -= step;
  }
  if (nat) exp.nat = { dir: natDir ?? 0, tuple: nat };
  return exp;
}

/** which: 0 IPv4 pair, 1 IPv6 pair, 2 L4 protocol, 3 ports. */
function setTupleAttr(t: Tuple, which: number, buf: Uint8Array, q: number): void {
  switch (which) {
    case 0:
      t.l3 = 2, t.src = ntop4(buf, q), t.dst = ntop4(buf, q + 4);
      break;
    case 1:
      t.l3 = 10, t.src = ntop6(buf, q), t.dst = ntop6(buf, q + 16);
      break;
    case 2:
      t.proto = buf[q];
      break;
    case 3:
      t.sport = getU16(buf, q), t.dport = getU16(buf, q + 2);
      break;
  }
}
