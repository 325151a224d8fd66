// Expectations as the user-space helpers build them (cthelper_expect_init):
// the expected tuple and its mask, the master, flags, class, and the NAT
// parts; stamped with the policy of their class (ExpectTimeout, ExpectMax)
// that the kernel applies, and encoded as ctnetlink expectation attributes
// for the verdict's NFQA_EXP nest or an IPCTNL_MSG_EXP_NEW request.
import { ntop4, ntop6 } from "../../common/inet.ts";
import * as A from "../../conntrack/attrs.ts";
import type { MessageBuilder } from "../../netlink/builder.ts";
import {
  NFNL_SUBSYS_CTNETLINK_EXP,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_REQUEST,
} from "../../netlink/constants.ts";
import { AF_INET6, CtTuple, type HelperCall, IPPROTO_TCP, IPPROTO_UDP } from "./context.ts";

export const NF_CT_EXPECT_PERMANENT = 0x1;

/** The kernel's NF_CT_EXPECT_MAX_CNT: nfnetlink_cthelper refuses a larger ExpectMax. */
export const EXPECT_MAX_LIMIT = 255;

const ONES = new Uint8Array(16).fill(0xff);

export class HelperExpect {
  l3 = 2;
  /** The master's original tuple (CTA_EXPECT_MASTER). */
  readonly master = new CtTuple();
  /** The expected connection's original tuple and the mask saying which parts must match. */
  readonly tuple = new CtTuple();
  readonly mask = new CtTuple();
  cls = 0;
  flags = 0;
  /** Helper of the master; the kernel derives it, the wire carries it only when `sendHelperName`. */
  helper = "";
  sendHelperName = false;
  /** "nat-follow-master" on the NAT paths. */
  expectfn: string | null = null;
  /** The NAT part is present when natDir is set; natTuple then holds its tuple. */
  natDir: number | null = null;
  readonly natTuple = new CtTuple();
  natL3 = 2;
  /** From the policy of `cls`: seconds the expectation lives, and how many one master may hold. */
  timeout = 0;
  expectMax = 0;

  /** Back to a fresh expectation (objects are pooled per queue: typed arrays are costly to allocate). */
  reset(): this {
    this.l3 = 2;
    this.master.clear();
    this.tuple.clear();
    this.mask.clear();
    this.cls = this.flags = 0;
    this.helper = "";
    this.sendHelperName = false;
    this.expectfn = null;
    this.natDir = null;
    this.natTuple.clear();
    this.natL3 = 2;
    this.timeout = this.expectMax = 0;
    return this;
  }
}

/**
 * cthelper_expect_init(): `saddr` null means any source address, `sport` null
 * any source port; the destination address and port always match exactly.
 */
export function expectInit(
  call: HelperCall,
  cls: number,
  saddr: Uint8Array | null,
  daddr: Uint8Array,
  l4proto: number,
  sport: number | null,
  dport: number,
  flags: number,
): HelperExpect {
  const e = call.nextExpect();
  const ct = call.ct;
  const alen = ct.l3 === AF_INET6 ? 16 : 4;
  e.l3 = ct.l3;
  e.master.copyFrom(ct.orig);
  if (saddr) {
    e.tuple.src.set(saddr.subarray(0, alen));
    e.mask.src.set(ONES.subarray(0, alen));
  }
  e.tuple.dst.set(daddr.subarray(0, alen));
  e.mask.dst.set(ONES.subarray(0, alen));
  if (l4proto === IPPROTO_TCP || l4proto === IPPROTO_UDP) {
    e.tuple.proto = e.mask.proto = l4proto;
    if (sport !== null) {
      e.tuple.sport = sport;
      e.mask.sport = 0xffff;
    }
    e.tuple.dport = dport;
    e.mask.dport = 0xffff;
  }
  e.cls = cls;
  e.flags = flags;
  e.helper = call.helper;
  const policy = call.policies[cls];
  if (policy) {
    e.timeout = policy.expectTimeout;
    e.expectMax = policy.expectMax;
  }
  return e;
}

/**
 * The NAT variant the reference adds before creating the expectation itself:
 * NAT direction, "nat-follow-master", and a NAT tuple of any addresses with
 * the source port the expectation is mapped to (the announced port: the
 * reference's retry on EBUSY never runs, any failure drops the packet).
 */
export function expectNat(e: HelperExpect, dir: number, l4proto: number, port: number, l3 = 2): void {
  e.natDir = dir;
  e.expectfn = "nat-follow-master";
  e.natTuple.clear();
  e.natTuple.proto = l4proto;
  e.natTuple.sport = port;
  e.natL3 = l3;
}

const PROTO_NAMES: Record<number, string> = { 6: "tcp", 17: "udp" };

function addrText(l3: number, a: Uint8Array): string {
  return l3 === AF_INET6 ? ntop6(a, 0) : ntop4(a, 0);
}

function tupleText(l3: number, t: CtTuple): string {
  return `${PROTO_NAMES[t.proto] ?? t.proto} ${addrText(l3, t.src)}:${t.sport} -> ${
    addrText(l3, t.dst)
  }:${t.dport}`;
}

/** A readable, comparable form of an expectation (tests, logs). */
export interface ExpectText {
  master: string;
  tuple: string;
  mask: string;
  class: number;
  flags: number;
  helper: string;
  expectfn: string | null;
  nat: string | null;
  timeout: number;
  expectMax: number;
}

export function describeExpect(e: HelperExpect): ExpectText {
  return {
    master: tupleText(e.l3, e.master),
    tuple: tupleText(e.l3, e.tuple),
    mask: tupleText(e.l3, e.mask),
    class: e.cls,
    flags: e.flags,
    helper: e.helper,
    expectfn: e.expectfn,
    nat: e.natDir !== null ? `dir=${e.natDir} ${tupleText(e.natL3, e.natTuple)}` : null,
    timeout: e.timeout,
    expectMax: e.expectMax,
  };
}

/** A tuple's CTA_TUPLE_IP + CTA_TUPLE_PROTO, as nfct_build_tuple_raw() lays it out. */
function putTupleNest(b: MessageBuilder, type: number, l3: number, t: CtTuple): void {
  b.nest(type);
  b.nest(A.CTA_TUPLE_IP);
  if (l3 === AF_INET6) {
    b.bytesFrom(A.CTA_IP_V6_SRC, t.src, 16).bytesFrom(A.CTA_IP_V6_DST, t.dst, 16);
  } else {
    b.bytesFrom(A.CTA_IP_V4_SRC, t.src, 4).bytesFrom(A.CTA_IP_V4_DST, t.dst, 4);
  }
  b.endNest();
  b.nest(A.CTA_TUPLE_PROTO);
  b.u8(A.CTA_PROTO_NUM, t.proto);
  if (t.proto === IPPROTO_TCP || t.proto === IPPROTO_UDP) {
    b.be16(A.CTA_PROTO_SRC_PORT, t.sport).be16(A.CTA_PROTO_DST_PORT, t.dport);
  }
  b.endNest();
  b.endNest();
}

/**
 * The expectation's attributes, in nfexp_nlmsg_build()'s order. libnetfilter_
 * conntrack 1.0.9 stops at the helper name; the class, NAT and expectfn the
 * helpers set follow, so NAT expectations reach the kernel complete.
 */
export function putHelperExpect(b: MessageBuilder, e: HelperExpect): void {
  putTupleNest(b, A.CTA_EXPECT_TUPLE, e.l3, e.tuple);
  putTupleNest(b, A.CTA_EXPECT_MASTER, e.l3, e.master);
  putTupleNest(b, A.CTA_EXPECT_MASK, e.l3, e.mask);
  b.be32(A.CTA_EXPECT_FLAGS, e.flags);
  if (e.sendHelperName) b.str(A.CTA_EXPECT_HELP_NAME, e.helper);
  if (e.cls !== 0) b.be32(A.CTA_EXPECT_CLASS, e.cls);
  if (e.natDir !== null) {
    b.nest(A.CTA_EXPECT_NAT);
    b.be32(A.CTA_EXPECT_NAT_DIR, e.natDir);
    putTupleNest(b, A.CTA_EXPECT_NAT_TUPLE, e.natL3, e.natTuple);
    b.endNest();
  }
  if (e.expectfn) b.str(A.CTA_EXPECT_FN, e.expectfn);
}

/** IPCTNL_MSG_EXP_NEW with NLM_F_CREATE|NLM_F_ACK (nfexp_query NFCT_Q_CREATE_UPDATE). */
export function buildExpectNew(b: MessageBuilder, e: HelperExpect, seq: number): void {
  b.begin(
    (NFNL_SUBSYS_CTNETLINK_EXP << 8) | A.IPCTNL_MSG_EXP_NEW,
    NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
    seq,
    e.l3,
  );
  putHelperExpect(b, e);
  b.end();
}

/** IPCTNL_MSG_EXP_DELETE of the expectation's tuple (when a NAT rewrite fails after it was created). */
export function buildExpectDelete(b: MessageBuilder, e: HelperExpect, seq: number): void {
  b.begin((NFNL_SUBSYS_CTNETLINK_EXP << 8) | A.IPCTNL_MSG_EXP_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq, e.l3);
  putTupleNest(b, A.CTA_EXPECT_TUPLE, e.l3, e.tuple);
  b.end();
}
