// The 8-byte sync message header (16 bytes for ACK/NACK/RESYNC), as conntrackd
// 1.4.7 puts it on the wire: byte 0 = version << 4 | type, flags, u16 BE length
// (header included), u32 BE sequence number, then u32 BE from/to for ranges.

export const PROTOCOL_VERSION = 1;

/** Message types (low nibble of byte 0). */
export const CT_NEW = 0;
export const CT_UPD = 1;
export const CT_DEL = 2;
export const EXP_NEW = 3;
export const EXP_UPD = 4;
export const EXP_DEL = 5;
/** Highest data message type. */
export const TYPE_MAX = EXP_DEL;
/** Control messages: ACK, NACK, RESYNC and ALIVE, told apart by their flags. */
export const CTL = 10;

/** Header flags (byte 1). */
export const F_UNUSED = 1 << 0;
export const F_RESYNC = 1 << 1;
export const F_NACK = 1 << 2;
export const F_ACK = 1 << 3;
export const F_ALIVE = 1 << 4;
export const F_HELLO = 1 << 5;
export const F_HELLO_BACK = 1 << 6;

export const HDR_SIZE = 8;
/** Header of ACK, NACK and RESYNC: the base header plus from and to. */
export const RANGE_HDR_SIZE = 16;

/** What a sync mode's receive step makes of a message (sync.h MSG_*). */
export const MSG_DATA = 0;
export const MSG_CTL = 1;
export const MSG_DROP = 2;
export const MSG_BAD = 3;

/** A received header in host terms; `from`/`to` are 0 unless the message carries a range. */
export interface MessageHeader {
  version: number;
  type: number;
  flags: number;
  len: number;
  seq: number;
  from: number;
  to: number;
}

export function newMessageHeader(): MessageHeader {
  return { version: 0, type: 0, flags: 0, len: 0, seq: 0, from: 0, to: 0 };
}

/** IS_DATA: a state message whose flags hold nothing but the hello bits. */
export function isData(type: number, flags: number): boolean {
  return type <= TYPE_MAX && (flags & ~(F_HELLO | F_HELLO_BACK)) === 0;
}
export function isAck(type: number, flags: number): boolean {
  return type === CTL && (flags & F_ACK) !== 0;
}
export function isNack(type: number, flags: number): boolean {
  return type === CTL && (flags & F_NACK) !== 0;
}
export function isResync(type: number, flags: number): boolean {
  return type === CTL && (flags & F_RESYNC) !== 0;
}
export function isAlive(type: number, flags: number): boolean {
  return type === CTL && (flags & F_ALIVE) !== 0;
}
/** ACK, NACK and RESYNC carry from/to and a 16-byte header. */
export function hasRange(type: number, flags: number): boolean {
  return type === CTL && (flags & (F_ACK | F_NACK | F_RESYNC)) !== 0;
}

/** Writes a base header with seq 0 (the transmitter sets it at send time). */
export function writeHeader(out: Uint8Array, off: number, type: number, flags: number, len: number): void {
  out[off] = (PROTOCOL_VERSION << 4) | (type & 0x0f);
  out[off + 1] = flags;
  out[off + 2] = len >>> 8;
  out[off + 3] = len & 0xff;
  out[off + 4] =
    out[off + 5] =
    out[off + 6] =
    out[off + 7] =
      0;
}

export function setSeq(out: Uint8Array, off: number, seq: number): void {
  out[off + 4] = seq >>> 24;
  out[off + 5] = (seq >>> 16) & 0xff;
  out[off + 6] = (seq >>> 8) & 0xff;
  out[off + 7] = seq & 0xff;
}

export function getSeq(buf: Uint8Array, off: number): number {
  return ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0;
}

export function setFlags(out: Uint8Array, off: number, flags: number): void {
  out[off + 1] = flags;
}

/** ORs flags in (HELLO/HELLO_BACK are added to already built messages at send time). */
export function addFlags(out: Uint8Array, off: number, flags: number): void {
  out[off + 1] |= flags;
}

export function getFlags(buf: Uint8Array, off: number): number {
  return buf[off + 1];
}

export function getType(buf: Uint8Array, off: number): number {
  return buf[off] & 0x0f;
}

/** The length field: the whole message, header included. */
export function getLen(buf: Uint8Array, off: number): number {
  return (buf[off + 2] << 8) | buf[off + 3];
}

// Serial number arithmetic on 32-bit sequence numbers (include/network.h).

/** before(a, b): a comes before b, wrap-around aware. */
export function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function after(a: number, b: number): boolean {
  return before(b, a);
}

/** between(s, lo, hi): lo <= s <= hi in serial order. */
export function between(s: number, lo: number, hi: number): boolean {
  return ((hi - lo) >>> 0) >= ((s - lo) >>> 0);
}
