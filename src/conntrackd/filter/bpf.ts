// `Filter From Kernelspace`: the classic BPF program libnetfilter_conntrack
// (src/conntrack/bsf.c, 1.0.9) builds from the nfct_filter conntrackd fills
// while it reads the Filter clauses, instruction for instruction, and
// SO_ATTACH_FILTER to put it on the event socket.
//
// What conntrackd hands the library, and so what this program does, differs
// from the userspace filter (userspace.ts); the reference lives with that,
// events are filtered by this program alone and dumps in userspace:
// * Address entries go to both the source and the destination lists, and each
//   list tests the ORIGINAL tuple (not the reply source). Under Accept both the
//   original source and the original destination must match an entry; under
//   Ignore either one matching rejects. Exact addresses and networks are one
//   list of (address, mask) pairs.
// * An entry whose message lacks the attribute a block looks for passes that
//   block (a UDP entry under a State clause, an IPv4 entry under IPv6 lists).
// * IPv4 lists and IPv6 messages: the IPv4 lookups search flat, not bounded by
//   the tuple's nest. The source one finds nothing and passes, but the
//   destination one (type 2) lands on CTA_TUPLE_PROTO and compares its first
//   word, the CTA_PROTO_NUM header (reads as 5.0.1.0), with the list. So under
//   Accept IPv4 entries drop (almost) every IPv6 event, and under Ignore a
//   network covering 5.0.1.0 drops them all.
// * Empty clauses add no block: `Protocol Accept { }` keeps everything here.
// * IPv6 lists: entries are tried in order, but a mismatch in one of an
//   entry's first three (masked) words ends the search as "no match" (the
//   library jumps to the end of the block, not to the next entry). A later
//   entry is only reached while the earlier ones share the address's first
//   96 bits.
// * The library keeps at most 127 IPv4 and 20 IPv6 entries per direction;
//   later ones are silently left out, here too.
// * The policy of a block is NEGATIVE when any clause of its kind said Ignore
//   (nfct_filter_set_logic refuses to change it afterwards); FilterConfig only
//   keeps the last clause's policy, which is what is used here.
// * With many IPv4 entries the library's 8-bit jump offsets overflow and wrap,
//   giving a program that misfilters or that the kernel refuses; this builder
//   throws a KernelFilterError instead.
//
// Messages of other netfilter subsystems (expectation events) always pass.

import { errno, libc, strerror } from "../../../ffi/libc.ts";
import * as A from "../../conntrack/attrs.ts";
import { NFNL_SUBSYS_CTNETLINK, SOL_SOCKET } from "../../netlink/constants.ts";
import type { FilterConfig } from "../config/types.ts";
import { ipv4Mask, ipv4Word, ipv6Mask, ipv6Words, NO_ADDRESS } from "./address.ts";
import { TCP_STATE_NUMBERS } from "./userspace.ts";

// linux/filter.h
const BPF_LD = 0x00, BPF_LDX = 0x01, BPF_ALU = 0x04, BPF_JMP = 0x05, BPF_RET = 0x06, BPF_MISC = 0x07;
const BPF_W = 0x00, BPF_B = 0x10;
const BPF_IMM = 0x00, BPF_ABS = 0x20, BPF_IND = 0x40;
const BPF_ADD = 0x00, BPF_AND = 0x50;
const BPF_JA = 0x00, BPF_JEQ = 0x10, BPF_K = 0x00;
const BPF_TAX = 0x00;
/** Ancillary loads: A = offset of the netlink attribute of type X, searched from offset A (0 if none). */
const SKF_AD_OFF = -0x1000;
const SKF_AD_NLATTR = 12;
/** Same, but only inside the nested attribute whose header is at offset A. */
const SKF_AD_NLATTR_NEST = 16;
const SO_ATTACH_FILTER = 26;

const ACCEPT = 0xffffffff;
const REJECT = 0;
/** sizeof(struct nlmsghdr) + sizeof(struct nfgenmsg): where a message's attributes start. */
const PAYLOAD_OFFSET = 20;
/** sizeof(struct nlattr) */
const ATTR_HEADER = 4;

/** Entries per direction libnetfilter_conntrack keeps (__FILTER_ADDR_MAX, __FILTER_IPV6_MAX). */
const MAX_IPV4_ENTRIES = 127;
const MAX_IPV6_ENTRIES = 20;

/** Size of one struct sock_filter. */
export const BPF_INSN_SIZE = 8;

/** The program cannot be expressed (a jump offset does not fit in 8 bits), or attaching it failed. */
export class KernelFilterError extends Error {
  constructor(message: string, readonly errno = 0) {
    super(message);
    this.name = "KernelFilterError";
  }
}

/** A forward jump target, placed once its position is known. */
interface Label {
  pos: number;
}

type Target = number | Label;

class Assembler {
  private readonly code: number[] = [];
  private readonly jt: Target[] = [];
  private readonly jf: Target[] = [];
  private readonly k: number[] = [];

  get length(): number {
    return this.code.length;
  }

  emit(code: number, k: number, jt: Target = 0, jf: Target = 0): void {
    this.code.push(code);
    this.k.push(k >>> 0);
    this.jt.push(jt);
    this.jf.push(jf);
  }

  label(): Label {
    return { pos: -1 };
  }

  place(l: Label): void {
    l.pos = this.length;
  }

  /** struct sock_filter array, native byte order. */
  encode(): Uint8Array {
    const out = new Uint8Array(this.length * BPF_INSN_SIZE);
    const v = new DataView(out.buffer);
    for (let i = 0; i < this.length; i++) {
      const o = i * BPF_INSN_SIZE;
      v.setUint16(o, this.code[i], LITTLE_ENDIAN);
      out[o + 2] = this.offset(i, this.jt[i]);
      out[o + 3] = this.offset(i, this.jf[i]);
      v.setUint32(o + 4, this.k[i], LITTLE_ENDIAN);
    }
    return out;
  }

  private offset(i: number, t: Target): number {
    if (typeof t === "number") return t;
    const off = t.pos - (i + 1);
    if (t.pos < 0 || off < 0) throw new Error(`BPF label of instruction ${i} was never placed`);
    if (off > 255) {
      throw new KernelFilterError(
        `kernel-space filter too large: a jump of ${off} instructions does not fit (too many addresses?)`,
      );
    }
    return off;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** One step down to the attribute a block tests: a flat search or one bounded by the enclosing nest. */
interface Step {
  attr: number;
  nested: boolean;
}

/**
 * One block of the program, as bsf.c lays it out: find the attribute (any step
 * missing: the block passes), X = its offset, run `tests` which jump to
 * `match` on a hit or to `noMatch`; a match passes under positive logic and
 * rejects under negative logic.
 */
function block(
  asm: Assembler,
  negative: boolean,
  path: Step[],
  tests: (match: Label, noMatch: Label) => void,
): void {
  const end = asm.label(), reject = asm.label(), noMatch = asm.label();
  asm.emit(BPF_LD | BPF_IMM, PAYLOAD_OFFSET);
  path.forEach((step, i) => {
    // Flat searches start after the previous attribute's header; nested ones at the nest itself.
    if (i > 0 && !step.nested) asm.emit(BPF_ALU | BPF_ADD | BPF_K, ATTR_HEADER);
    asm.emit(BPF_LDX | BPF_IMM, step.attr);
    asm.emit(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + (step.nested ? SKF_AD_NLATTR_NEST : SKF_AD_NLATTR));
    asm.emit(BPF_JMP | BPF_JEQ | BPF_K, 0, end);
  });
  asm.emit(BPF_MISC | BPF_TAX, 0);
  tests(negative ? reject : end, noMatch);
  asm.place(noMatch);
  if (negative) asm.emit(BPF_JMP | BPF_JA, 1);
  asm.place(reject);
  asm.emit(BPF_RET | BPF_K, REJECT);
  asm.place(end);
}

/** JEQ against each value in turn; a hit jumps to `match`. The values are single bytes at X + 4. */
function byteIn(asm: Assembler, values: number[], match: Label): void {
  asm.emit(BPF_LD | BPF_B | BPF_IND, ATTR_HEADER);
  for (const v of values) asm.emit(BPF_JMP | BPF_JEQ | BPF_K, v, match);
}

interface Ipv4Entry {
  addr: number;
  mask: number;
}

interface Ipv6Entry {
  addr: Int32Array;
  mask: Int32Array;
}

const flat = (attr: number): Step => ({ attr, nested: false });
const nest = (attr: number): Step => ({ attr, nested: true });

function ipv4Block(asm: Assembler, negative: boolean, attr: number, entries: Ipv4Entry[]): void {
  block(asm, negative, [flat(A.CTA_TUPLE_ORIG), flat(A.CTA_TUPLE_IP), flat(attr)], (match) => {
    for (const e of entries) {
      asm.emit(BPF_LD | BPF_W | BPF_IND, ATTR_HEADER);
      asm.emit(BPF_ALU | BPF_AND | BPF_K, e.mask);
      asm.emit(BPF_JMP | BPF_JEQ | BPF_K, e.addr & e.mask, match);
    }
  });
}

function ipv6Block(asm: Assembler, negative: boolean, attr: number, entries: Ipv6Entry[]): void {
  block(asm, negative, [flat(A.CTA_TUPLE_ORIG), nest(A.CTA_TUPLE_IP), nest(attr)], (match, noMatch) => {
    for (const e of entries) {
      for (let w = 0; w < 4; w++) {
        asm.emit(BPF_LD | BPF_W | BPF_IND, ATTR_HEADER + 4 * w);
        asm.emit(BPF_ALU | BPF_AND | BPF_K, e.mask[w]);
        const value = e.addr[w] & e.mask[w];
        // As in the library: words 0-2 jump to the block's "no match" on a miss, not to the next entry.
        if (w < 3) asm.emit(BPF_JMP | BPF_JEQ | BPF_K, value, 0, noMatch);
        else asm.emit(BPF_JMP | BPF_JEQ | BPF_K, value, match);
      }
    }
  });
}

/**
 * The sock_filter program (8 bytes per instruction, native byte order) that
 * libnetfilter_conntrack attaches for these Filter clauses, whatever
 * `cfg.kernelspace` says (the caller attaches it only then); null when the
 * configuration has no Filter clause (the reference attaches nothing). Throws
 * KernelFilterError when the jumps do not fit.
 */
export function buildKernelFilter(cfg: FilterConfig): Uint8Array | null {
  if (cfg.protocol === null && cfg.address === null && cfg.state === null) return null;
  const asm = new Assembler();

  // Only ctnetlink conntrack messages are filtered: X = offset of nlmsg_type, A = its subsystem byte.
  asm.emit(BPF_LDX | BPF_IMM, 4);
  asm.emit(BPF_LD | BPF_B | BPF_IND, 1);
  asm.emit(BPF_JMP | BPF_JEQ | BPF_K, NFNL_SUBSYS_CTNETLINK, 1, 0);
  asm.emit(BPF_RET | BPF_K, ACCEPT);

  if (cfg.protocol !== null && cfg.protocol.protocols.length > 0) {
    // Ascending, as the library walks its protocol bitmap.
    const protocols = [...new Set(cfg.protocol.protocols)].filter((p) => p >= 0 && p < 256).sort((a, b) =>
      a - b
    );
    const path = [flat(A.CTA_TUPLE_ORIG), flat(A.CTA_TUPLE_PROTO), flat(A.CTA_PROTO_NUM)];
    block(asm, cfg.protocol.policy === "ignore", path, (match) => byteIn(asm, protocols, match));
  }

  if (cfg.address !== null) {
    const negative = cfg.address.policy === "ignore";
    const v4: Ipv4Entry[] = [], v6: Ipv6Entry[] = [];
    for (const e of cfg.address.entries) {
      if (e.family === "ipv4") {
        const addr = ipv4Word(e.address);
        if (addr !== NO_ADDRESS && v4.length < MAX_IPV4_ENTRIES) v4.push({ addr, mask: ipv4Mask(e.prefix) });
      } else {
        const addr = new Int32Array(4);
        if (ipv6Words(e.address, addr) && v6.length < MAX_IPV6_ENTRIES) {
          v6.push({ addr, mask: ipv6Mask(e.prefix) });
        }
      }
    }
    if (v4.length > 0) {
      ipv4Block(asm, negative, A.CTA_IP_V4_SRC, v4);
      ipv4Block(asm, negative, A.CTA_IP_V4_DST, v4);
    }
    if (v6.length > 0) {
      ipv6Block(asm, negative, A.CTA_IP_V6_SRC, v6);
      ipv6Block(asm, negative, A.CTA_IP_V6_DST, v6);
    }
  }

  if (cfg.state !== null && cfg.state.states.length > 0) {
    const states = [...new Set(cfg.state.states.map((s) => TCP_STATE_NUMBERS[s]))].sort((a, b) => a - b);
    const path = [flat(A.CTA_PROTOINFO), flat(A.CTA_PROTOINFO_TCP), flat(A.CTA_PROTOINFO_TCP_STATE)];
    block(asm, cfg.state.policy === "ignore", path, (match) => byteIn(asm, states, match));
  }

  asm.emit(BPF_RET | BPF_K, ACCEPT);
  return asm.encode();
}

/** setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &sock_fprog): throws KernelFilterError with errno on failure. */
export function attachKernelFilter(fd: number, program: Uint8Array): void {
  if (program.length === 0 || program.length % BPF_INSN_SIZE !== 0) {
    throw new KernelFilterError(`not a BPF program: ${program.length} bytes`);
  }
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (pointer at offset 8).
  const fprog = new Uint8Array(16);
  const v = new DataView(fprog.buffer);
  v.setUint16(0, program.length / BPF_INSN_SIZE, LITTLE_ENDIAN);
  v.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), LITTLE_ENDIAN);
  if (libc().setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, fprog.length) < 0) {
    const e = errno();
    throw new KernelFilterError(`cannot set event filtering: ${strerror(e)}`, e);
  }
}
