// Real packets for the helper tests: IPv4/IPv6 headers with TCP or UDP as
// the RFCs lay them out (valid lengths and checksums), and a harness that
// runs a helper on one packet with the conntrack the kernel would attach.
import { pton4, pton6 } from "../../src/common/inet.ts";
import { HelperCall, IPPROTO_TCP, IPPROTO_UDP } from "../../src/conntrackd/helpers/context.ts";
import type { CtHelper } from "../../src/conntrackd/helpers/context.ts";
import { describeExpect, type ExpectText } from "../../src/conntrackd/helpers/expect.ts";
import type { HelperPolicy } from "../../src/conntrackd/config/types.ts";
import { ipv4HeaderChecksum, l4Checksum } from "../../src/conntrackd/helpers/nat.ts";

export const enc = (s: string) => new TextEncoder().encode(s);

export function addr(text: string): Uint8Array {
  const a = text.includes(":") ? pton6(text) : pton4(text);
  if (!a) throw new Error(`bad address ${text}`);
  return a;
}

export interface L4 {
  proto: number;
  sport: number;
  dport: number;
  /** TCP only. */
  seq?: number;
  ack?: number;
  flags?: number;
  /** TCP options (length a multiple of 4). */
  options?: Uint8Array;
  payload: Uint8Array;
}

/** An IPv4 or IPv6 packet from `src` to `dst` carrying a TCP or UDP segment. */
export function packet(src: string, dst: string, l4: L4): Uint8Array {
  const v6 = src.includes(":");
  const iphl = v6 ? 40 : 20;
  const opts = l4.options ?? new Uint8Array(0);
  const l4hl = l4.proto === IPPROTO_TCP ? 20 + opts.length : 8;
  const len = iphl + l4hl + l4.payload.length;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  if (v6) {
    b[0] = 0x60;
    v.setUint16(4, len - 40);
    b[6] = l4.proto;
    b[7] = 64;
    b.set(addr(src), 8);
    b.set(addr(dst), 24);
  } else {
    b[0] = 0x45;
    v.setUint16(2, len);
    v.setUint16(4, 0x1234);
    b[8] = 64;
    b[9] = l4.proto;
    b.set(addr(src), 12);
    b.set(addr(dst), 16);
    ipv4HeaderChecksum(b);
  }
  v.setUint16(iphl, l4.sport);
  v.setUint16(iphl + 2, l4.dport);
  if (l4.proto === IPPROTO_TCP) {
    v.setUint32(iphl + 4, l4.seq ?? 1000);
    v.setUint32(iphl + 8, l4.ack ?? 2000);
    b[iphl + 12] = (l4hl / 4) << 4;
    b[iphl + 13] = l4.flags ?? 0x18; // PSH|ACK
    v.setUint16(iphl + 14, 64240);
    b.set(opts, iphl + 20);
  } else {
    v.setUint16(iphl + 4, l4hl + l4.payload.length);
  }
  b.set(l4.payload, iphl + l4hl);
  l4Checksum(b, len, v6 ? 10 : 2, iphl, l4.proto);
  return b;
}

export const tcp = (sport: number, dport: number, payload: Uint8Array | string, seq = 1000): L4 => ({
  proto: IPPROTO_TCP,
  sport,
  dport,
  seq,
  payload: typeof payload === "string" ? enc(payload) : payload,
});

export const udp = (sport: number, dport: number, payload: Uint8Array | string): L4 => ({
  proto: IPPROTO_UDP,
  sport,
  dport,
  payload: typeof payload === "string" ? enc(payload) : payload,
});

/** A conntrack as the kernel reports it: the original direction, and the reply (swapped unless NATed). */
export interface CtSpec {
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  /** Reply tuple when it is not the mirror of the original (NAT). */
  reply?: { src: string; dst: string; sport: number; dport: number };
  status?: number;
}

/** Runs helpers packet after packet on one conntrack, keeping its private data between them. */
export class Flow {
  readonly call = new HelperCall();
  priv: Uint8Array;
  timeout: number | undefined;

  constructor(
    readonly helper: CtHelper,
    readonly ct: CtSpec,
    readonly policies: HelperPolicy[] = helper.policies.map((p) => ({ ...p })),
  ) {
    this.priv = new Uint8Array(helper.privLen);
  }

  /** Runs the helper on `pkt` (a whole IP packet) with `ctinfo`; returns the call with its outcome. */
  run(pkt: Uint8Array, ctinfo: number): HelperCall {
    const { call, ct } = this;
    call.helper = this.helper.name;
    call.policies = this.policies;
    call.begin(ctinfo, this.helper.privLen);
    const m = call.ct;
    m.clear();
    m.l3 = ct.src.includes(":") ? 10 : 2;
    const r = ct.reply ?? { src: ct.dst, dst: ct.src, sport: ct.dport, dport: ct.sport };
    m.orig.src.set(addr(ct.src));
    m.orig.dst.set(addr(ct.dst));
    m.orig.sport = ct.sport;
    m.orig.dport = ct.dport;
    m.orig.proto = ct.proto;
    m.reply.src.set(addr(r.src));
    m.reply.dst.set(addr(r.dst));
    m.reply.sport = r.sport;
    m.reply.dport = r.dport;
    m.reply.proto = ct.proto;
    m.status = ct.status ?? 0;
    m.timeout = 120;
    m.helperName = this.helper.name;
    m.helperInfo = this.priv.length ? this.priv : null;
    call.loadPriv();
    const protoff = m.l3 === 10 ? 40 : (pkt[0] & 0x0f) * 4;
    // Room after the packet for NAT rewrites, as the queue gives it.
    const buf = new Uint8Array(pkt.length + 256);
    buf.set(pkt);
    call.pkt.set(buf, pkt.length, protoff);
    this.helper.run(call);
    this.priv = call.priv.slice();
    if (call.setTimeout !== undefined) this.timeout = call.setTimeout;
    return call;
  }

  /** The expectations of the last run: created over ctnetlink, and attached to the verdict. */
  expects(): { create: ExpectText[]; attach: ExpectText | null } {
    return {
      create: this.call.create.map(describeExpect),
      attach: this.call.attach ? describeExpect(this.call.attach) : null,
    };
  }
}
