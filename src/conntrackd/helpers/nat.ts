// NAT payload rewriting for the helpers (what libnetfilter_queue's
// nfq_tcp_mangle_ipv4 / nfq_udp_mangle_ipv4 do for the reference): replace
// bytes of the L4 payload, then fix the IP length and header checksum and the
// TCP or UDP checksum. Also done for IPv6 (payload length, no header checksum).
import { AF_INET6, IPPROTO_TCP, type Mangle, Packet } from "./context.ts";

export const IPS_SRC_NAT = 0x10;
export const IPS_DST_NAT = 0x20;
export const IPS_NAT_MASK = IPS_SRC_NAT | IPS_DST_NAT;

/** Spare room after a queued packet for rewrites that grow it (the reference's 256 bytes). */
export const MANGLE_ROOM = 256;

function sum16(buf: Uint8Array, from: number, to: number, acc: number): number {
  let i = from;
  for (; i + 1 < to; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i < to) acc += buf[i] << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

/** Recomputes the IPv4 header checksum. */
export function ipv4HeaderChecksum(buf: Uint8Array): void {
  const ihl = (buf[0] & 0x0f) << 2;
  buf[10] = buf[11] = 0;
  const c = ~fold(sum16(buf, 0, ihl, 0)) & 0xffff;
  buf[10] = c >> 8;
  buf[11] = c & 0xff;
}

/** Recomputes the TCP or UDP checksum over the pseudo-header and segment. */
export function l4Checksum(buf: Uint8Array, len: number, l3: number, protoff: number, proto: number): void {
  const at = protoff + (proto === IPPROTO_TCP ? 16 : 6);
  buf[at] = buf[at + 1] = 0;
  const l4len = len - protoff;
  let acc = l3 === AF_INET6 ? sum16(buf, 8, 40, 0) : sum16(buf, 12, 20, 0);
  acc += proto + l4len;
  acc = sum16(buf, protoff, len, acc);
  let c = ~fold(acc) & 0xffff;
  if (c === 0 && proto !== IPPROTO_TCP) c = 0xffff;
  buf[at] = c >> 8;
  buf[at + 1] = c & 0xff;
}

/**
 * Applies one rewrite to the packet (in place; `pkt.buf` must have room for
 * growth). Returns false when it does not fit, as pktb_mangle() fails.
 */
export function manglePacket(pkt: Packet, l3: number, proto: number, m: Mangle): boolean {
  const buf = pkt.buf;
  const dataoff = proto === IPPROTO_TCP ? pkt.tcpDataOff() : pkt.udpDataOff();
  const at = dataoff + m.at;
  if (m.at < 0 || m.len < 0 || at + m.len > pkt.len) return false;
  const text = m.text;
  const delta = text.length - m.len;
  const newLen = pkt.len + delta;
  if (newLen > buf.length || newLen > 0xffff) return false;
  buf.copyWithin(at + text.length, at + m.len, pkt.len);
  for (let i = 0; i < text.length; i++) buf[at + i] = text.charCodeAt(i);
  pkt.len = newLen;
  if (m.fixup) m.fixup(pkt, delta);
  if (l3 === AF_INET6) {
    pkt.view.setUint16(4, newLen - 40, false);
  } else {
    pkt.view.setUint16(2, newLen, false);
    ipv4HeaderChecksum(buf);
  }
  if (proto !== IPPROTO_TCP) pkt.view.setUint16(pkt.protoff + 4, newLen - pkt.protoff, false);
  l4Checksum(buf, newLen, l3, pkt.protoff, proto);
  return true;
}

/** Applies every rewrite, the last in the payload first so earlier offsets stay valid. */
export function applyMangles(pkt: Packet, l3: number, proto: number, mangles: readonly Mangle[]): boolean {
  const order = mangles.length > 1 ? [...mangles].sort((a, b) => b.at - a.at) : mangles;
  for (const m of order) if (!manglePacket(pkt, l3, proto, m)) return false;
  return true;
}
