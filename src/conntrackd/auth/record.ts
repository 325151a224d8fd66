// The sealed record: what every datagram (or TCP write) of an authenticated
// channel carries instead of 1.4.7's bare messages. All fields big-endian.
//
//   0      0xC0: version nibble 12, which 1.4.7 counts as "Wrong protocol version"
//          and skips by the length below; type nibble 0 (not CTL, so no range header)
//   1      flags: 0x01 = the body is encrypted
//   2-3    length of the whole record (header, body, tag): where 1.4.7's header has
//          its `len`, so a TCP stream is framed and a 1.4.7 receiver skips one record
//   4-7    key id (which key sealed it: KeyFile's or NextKeyFile's)
//   8-11   sender's node id
//   12-19  sender's session start (ms since the epoch, greater for every later start)
//   20-23  sender's session random
//   24-31  counter (+1 per record, from 1)
//   32-    body: the packed sync messages, or their ciphertext
//   len-16 Poly1305 tag
//
// Nonce = bytes 8-31. Associated data = bytes 0-31 (and the whole body when it is
// not encrypted: then the plaintext is empty and the tag covers everything).

export const RECORD_MAGIC = 0xc0;
export const FLAG_ENCRYPTED = 0x01;
export const KNOWN_FLAGS = FLAG_ENCRYPTED;
export const RECORD_HEADER = 32;
export const RECORD_TAG = 16;
/** Header plus tag: what a record adds to the messages it carries. */
export const RECORD_OVERHEAD = RECORD_HEADER + RECORD_TAG;
/** The length field is 16 bits. */
export const RECORD_MAX = 0xffff;
/** Where the nonce (node id, session start, random, counter) starts and ends. */
export const NONCE_START = 8;
export const NONCE_END = 32;

const TWO32 = 0x1_0000_0000;

export function getU16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

export function getU32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

export function putU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

/** A u64 as a Number; values beyond 2^53 come out inexact (the callers refuse them). */
export function getU64(b: Uint8Array, p: number): number {
  return getU32(b, p) * TWO32 + getU32(b, p + 4);
}

export function putU64(b: Uint8Array, p: number, v: number): void {
  putU32(b, p, Math.floor(v / TWO32));
  putU32(b, p + 4, v % TWO32);
}

/** Counters and session starts above this are never produced and are refused. */
export const U64_SAFE_MAX = Number.MAX_SAFE_INTEGER;

/** An id as 8 hex digits, for log lines. */
export function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, "0");
}
