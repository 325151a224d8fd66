// What a user-space helper sees of one queued packet: the IP packet, the
// master conntrack the kernel attached (NFQA_CT), its ctinfo, the helper's
// private data, and what the helper decides (verdict, expectations, rewrite,
// new master timeout). One HelperCall is reused for every packet of a queue.
import type { HelperPolicy } from "../config/types.ts";
import { HelperExpect } from "./expect.ts";

export const NF_DROP = 0;
export const NF_ACCEPT = 1;

// enum ip_conntrack_info: the kernel's view of the packet within its conntrack.
export const IP_CT_ESTABLISHED = 0;
export const IP_CT_RELATED = 1;
export const IP_CT_NEW = 2;
export const IP_CT_ESTABLISHED_REPLY = 3;
export const IP_CT_RELATED_REPLY = 4;

export const DIR_ORIG = 0;
export const DIR_REPL = 1;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** CTINFO2DIR: replies are the ctinfo values from IP_CT_IS_REPLY (3) on. */
export function ctinfoDir(ctinfo: number): 0 | 1 {
  return ctinfo >= IP_CT_ESTABLISHED_REPLY ? DIR_REPL : DIR_ORIG;
}

/**
 * One direction of a conntrack. Addresses are 16-byte buffers like the C
 * union nfct_attr_grp_addr: an IPv4 address fills the first 4 bytes and the
 * rest stays zero, so whole-buffer comparisons behave as the reference's memcmp.
 */
export class CtTuple {
  readonly src = new Uint8Array(16);
  readonly dst = new Uint8Array(16);
  sport = 0;
  dport = 0;
  proto = 0;

  copyFrom(t: CtTuple): this {
    this.src.set(t.src);
    this.dst.set(t.dst);
    this.sport = t.sport;
    this.dport = t.dport;
    this.proto = t.proto;
    return this;
  }

  clear(): void {
    this.src.fill(0);
    this.dst.fill(0);
    this.sport = this.dport = this.proto = 0;
  }
}

/** The master conntrack as the kernel attached it to the packet. */
export class MasterCt {
  l3 = AF_INET;
  readonly tuples: readonly [CtTuple, CtTuple] = [new CtTuple(), new CtTuple()];
  status = 0;
  /** CTA_TIMEOUT as received (seconds left); undefined when absent. */
  timeout: number | undefined = undefined;
  /** CTA_HELP_NAME and CTA_HELP_INFO (the helper's private data) when present. */
  helperName: string | undefined = undefined;
  helperInfo: Uint8Array | null = null;

  get orig(): CtTuple {
    return this.tuples[DIR_ORIG];
  }
  get reply(): CtTuple {
    return this.tuples[DIR_REPL];
  }

  clear(): void {
    this.l3 = AF_INET;
    this.tuples[0].clear();
    this.tuples[1].clear();
    this.status = 0;
    this.timeout = undefined;
    this.helperName = undefined;
    this.helperInfo = null;
  }
}

/** The queued IP packet: `buf[0..len)`, with the transport header at `protoff`. */
export class Packet {
  buf: Uint8Array;
  view: DataView;
  len = 0;
  protoff = 0;

  constructor(buf: Uint8Array = new Uint8Array(0)) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Points this view at a packet in `buf` (no copy). */
  set(buf: Uint8Array, len: number, protoff: number): this {
    if (buf !== this.buf) {
      this.buf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    this.len = len;
    this.protoff = protoff;
    return this;
  }

  /** Start of the TCP payload (protoff + data offset of the TCP header). */
  tcpDataOff(): number {
    return this.protoff + ((this.buf[this.protoff + 12] >> 4) << 2);
  }

  /** Start of the UDP payload. */
  udpDataOff(): number {
    return this.protoff + 8;
  }

  tcpSeq(): number {
    return this.view.getUint32(this.protoff + 4, false);
  }
}

/**
 * A payload rewrite for NAT: replace `len` bytes at offset `at` (from the start
 * of the L4 payload) with `text`, then let `fixup` adjust protocol fields that
 * carry lengths (TNS). The queue applies it and fixes the IP and L4 headers.
 */
export interface Mangle {
  at: number;
  len: number;
  text: string;
  fixup?: (pkt: Packet, delta: number) => void;
}

/** One packet's job for a helper, and the helper's answer. */
export class HelperCall {
  readonly pkt = new Packet();
  readonly ct = new MasterCt();
  ctinfo = IP_CT_NEW;
  dir: 0 | 1 = DIR_ORIG;
  /** The helper's private data (priv bytes), read from and written back to CTA_HELP_INFO. */
  priv: Uint8Array = new Uint8Array(0);
  privView = new DataView(this.priv.buffer);
  /** The policies in force for this helper instance (the configuration's). */
  policies: readonly HelperPolicy[] = [];
  /** Helper name, for the expectations it creates. */
  helper = "";

  verdict = NF_ACCEPT;
  /** Expectation attached to the verdict (NFQA_EXP); the kernel creates it. */
  attach: HelperExpect | null = null;
  /** Expectations to create over ctnetlink before the verdict; a failure drops the packet. */
  readonly create: HelperExpect[] = [];
  /** Payload rewrites (NAT), applied once `create` succeeded. */
  readonly mangles: Mangle[] = [];
  /** A line the reference prints on stdout for this packet (the queue logs it). */
  notice: string | null = null;
  /** New master timeout in seconds (CTA_TIMEOUT in the verdict's NFQA_CT). */
  setTimeout: number | undefined = undefined;

  private readonly expectPool: HelperExpect[] = [];
  private expectsUsed = 0;

  /** A fresh expectation for this packet, from the call's pool. */
  nextExpect(): HelperExpect {
    if (this.expectsUsed === this.expectPool.length) this.expectPool.push(new HelperExpect());
    return this.expectPool[this.expectsUsed++].reset();
  }

  /** Prepares for the next packet; `privLen` sizes the private data area (zeroed). */
  begin(ctinfo: number, privLen: number): void {
    this.ctinfo = ctinfo;
    this.dir = ctinfoDir(ctinfo);
    if (this.priv.length !== privLen) {
      this.priv = new Uint8Array(privLen);
      this.privView = new DataView(this.priv.buffer);
    } else {
      this.priv.fill(0);
    }
    this.verdict = NF_ACCEPT;
    this.attach = null;
    this.create.length = 0;
    this.expectsUsed = 0;
    this.mangles.length = 0;
    this.notice = null;
    this.setTimeout = undefined;
  }

  /** Loads the conntrack's helper info (if any) into the private data area. */
  loadPriv(): void {
    const info = this.ct.helperInfo;
    if (info) this.priv.set(info.length > this.priv.length ? info.subarray(0, this.priv.length) : info);
  }
}

/** A built-in user-space helper (the reference's struct ctd_helper). */
export interface CtHelper {
  name: string;
  proto: number;
  /** Bytes of private data kept in the conntrack (CTA_HELP_INFO). */
  privLen: number;
  /** Built-in policies (a configuration Policy replaces one whole entry). */
  policies: readonly HelperPolicy[];
  run(call: HelperCall): void;
}

/** Compares 16-byte address buffers (the reference's memcmp on the address union). */
export function sameAddr(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}
