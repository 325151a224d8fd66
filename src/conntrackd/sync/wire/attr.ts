// Sync payload attributes (struct netattr): u16 BE nta_len (4 + payload, no
// padding), u16 BE id, the payload, zero padding to 4 bytes. Writers return the
// position after the padded attribute.
import { putIp4, putIp6 } from "./addr.ts";

export const NTA_HDR = 4;

export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Writes an attribute header for `size` payload bytes, zeroes the padding; returns the payload position. */
export function putHeader(out: Uint8Array, p: number, id: number, size: number): number {
  const len = NTA_HDR + size;
  out[p] = len >>> 8;
  out[p + 1] = len & 0xff;
  out[p + 2] = id >>> 8;
  out[p + 3] = id & 0xff;
  for (let k = p + len, e = p + align4(len); k < e; k++) out[k] = 0;
  return p + NTA_HDR;
}

export function putU8(out: Uint8Array, p: number, id: number, v: number): number {
  putHeader(out, p, id, 1);
  out[p + 4] = v;
  return p + 8;
}

export function putU16BE(out: Uint8Array, p: number, id: number, v: number): number {
  putHeader(out, p, id, 2);
  out[p + 4] = (v >>> 8) & 0xff;
  out[p + 5] = v & 0xff;
  return p + 8;
}

/**
 * The reference applies htons() to values the library already holds in network
 * order (ICMP id, NAT ports): an x86 peer puts them on the wire little-endian.
 */
export function putU16Swapped(out: Uint8Array, p: number, id: number, v: number): number {
  putHeader(out, p, id, 2);
  out[p + 4] = v & 0xff;
  out[p + 5] = (v >>> 8) & 0xff;
  return p + 8;
}

export function putU32(out: Uint8Array, p: number, id: number, v: number): number {
  putHeader(out, p, id, 4);
  setU32(out, p + 4, v);
  return p + 8;
}

export function setU32(out: Uint8Array, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = (v >>> 16) & 0xff;
  out[p + 2] = (v >>> 8) & 0xff;
  out[p + 3] = v & 0xff;
}

/** struct nfct_attr_grp_port: source and destination port, network order. */
export function putPorts(out: Uint8Array, p: number, id: number, sport: number, dport: number): number {
  putHeader(out, p, id, 4);
  out[p + 4] = (sport >>> 8) & 0xff;
  out[p + 5] = sport & 0xff;
  out[p + 6] = (dport >>> 8) & 0xff;
  out[p + 7] = dport & 0xff;
  return p + 8;
}

/** struct nfct_attr_grp_ipv4/ipv6: source then destination address. */
export function putAddrPair(
  out: Uint8Array,
  p: number,
  id: number,
  v6: boolean,
  src: string,
  dst: string,
): number {
  if (v6) {
    putHeader(out, p, id, 32);
    putIp6(out, p + 4, src);
    putIp6(out, p + 20, dst);
    return p + 36;
  }
  putHeader(out, p, id, 8);
  putIp4(out, p + 4, src);
  putIp4(out, p + 8, dst);
  return p + 12;
}

/** One address (the NAT attributes). */
export function putAddr(out: Uint8Array, p: number, id: number, v6: boolean, addr: string): number {
  if (v6) {
    putHeader(out, p, id, 16);
    putIp6(out, p + 4, addr);
    return p + 20;
  }
  putHeader(out, p, id, 4);
  putIp4(out, p + 4, addr);
  return p + 8;
}

/** A NUL-terminated string (strlen + 1 bytes, as the reference copies it). */
export function putString(out: Uint8Array, p: number, id: number, s: string): number {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  const bytes = ascii ? null : utf8enc.encode(s);
  const n = bytes ? bytes.length : s.length;
  const q = putHeader(out, p, id, n + 1);
  if (bytes) out.set(bytes, q);
  else for (let i = 0; i < n; i++) out[q + i] = s.charCodeAt(i);
  out[q + n] = 0;
  return p + align4(NTA_HDR + n + 1);
}

const utf8enc = new TextEncoder();
const utf8dec = new TextDecoder();

export function getU16(buf: Uint8Array, p: number): number {
  return (buf[p] << 8) | buf[p + 1];
}

export function getU16Swapped(buf: Uint8Array, p: number): number {
  return buf[p] | (buf[p + 1] << 8);
}

export function getU32(buf: Uint8Array, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/**
 * A C string read as the reference's setters read it: up to the first NUL,
 * at most `max` bytes (the size of the C field minus its NUL). Like the C code
 * it does not stop at the attribute's end; `limit` is where the received data ends.
 */
export function getCString(buf: Uint8Array, p: number, max: number, limit: number): string {
  const lim = Math.min(p + max, limit);
  let e = p, ascii = true;
  while (e < lim && buf[e] !== 0) {
    if (buf[e] > 0x7f) ascii = false;
    e++;
  }
  if (!ascii) return utf8dec.decode(buf.subarray(p, e));
  let s = "";
  for (let k = p; k < e; k++) s += String.fromCharCode(buf[k]);
  return s;
}
