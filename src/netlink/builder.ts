// Builds netlink messages (nlmsghdr + nfgenmsg + attributes) into one growing
// buffer, so a batch of requests goes to the kernel in a single sendto().
import { NLA_F_NESTED } from "./constants.ts";

export class MessageBuilder {
  buf: Uint8Array;
  view: DataView;
  len = 0;
  private msgStart = -1;
  private nests: number[] = [];

  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  private reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      const bigger = new Uint8Array(Math.max(need, this.buf.length * 2));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    const at = this.len;
    this.len = need;
    return at;
  }

  private pad() {
    const p = (4 - (this.len & 3)) & 3;
    if (!p) return;
    // At most three bytes: stores beat a fill() call (a tenth of a commit's encoding was fill()).
    const at = this.reserve(p), buf = this.buf;
    buf[at] = 0;
    if (p > 1) buf[at + 1] = 0;
    if (p > 2) buf[at + 2] = 0;
  }

  /** Opens a message: nlmsghdr(type, flags, seq) + nfgenmsg(family, version 0, res_id). */
  begin(type: number, flags: number, seq: number, family: number, resId = 0): this {
    const at = this.reserve(20);
    this.msgStart = at;
    const v = this.view;
    v.setUint32(at, 0, true);
    v.setUint16(at + 4, type, true);
    v.setUint16(at + 6, flags, true);
    v.setUint32(at + 8, seq >>> 0, true);
    v.setUint32(at + 12, 0, true);
    this.buf[at + 16] = family;
    this.buf[at + 17] = 0;
    v.setUint16(at + 18, resId, false);
    return this;
  }

  end(): this {
    this.view.setUint32(this.msgStart, this.len - this.msgStart, true);
    this.msgStart = -1;
    return this;
  }

  private header(type: number, payload: number): number {
    const at = this.reserve(4 + payload);
    this.view.setUint16(at, 4 + payload, true);
    this.view.setUint16(at + 2, type, true);
    return at + 4;
  }

  u8(type: number, v: number): this {
    const at = this.header(type, 1);
    this.buf[at] = v;
    this.pad();
    return this;
  }
  /** Network byte order u16 (the kernel's NLA_U16 in ctnetlink is big-endian). */
  be16(type: number, v: number): this {
    const at = this.header(type, 2);
    this.view.setUint16(at, v, false);
    this.pad();
    return this;
  }
  be32(type: number, v: number): this {
    const at = this.header(type, 4);
    this.view.setUint32(at, v >>> 0, false);
    return this;
  }
  be64(type: number, v: bigint): this {
    const at = this.header(type, 8);
    this.view.setBigUint64(at, v, false);
    return this;
  }
  /** A two-byte attribute (e.g. TCP flags and mask) without a buffer to copy from. */
  bytes2(type: number, first: number, second: number): this {
    const at = this.header(type, 2);
    this.buf[at] = first;
    this.buf[at + 1] = second;
    this.pad();
    return this;
  }
  bytes(type: number, b: Uint8Array): this {
    const at = this.header(type, b.length); // may grow (replace) this.buf
    this.buf.set(b, at);
    this.pad();
    return this;
  }
  /** An attribute whose payload is the first `len` bytes of `src` (no subarray view needed). */
  bytesFrom(type: number, src: Uint8Array, len: number): this {
    const at = this.header(type, len); // may grow (replace) this.buf
    for (let i = 0; i < len; i++) this.buf[at + i] = src[i];
    this.pad();
    return this;
  }

  /** NUL-terminated string attribute. */
  str(type: number, s: string): this {
    const enc = new TextEncoder().encode(s);
    const at = this.header(type, enc.length + 1); // may grow (replace) this.buf
    this.buf.set(enc, at);
    this.buf[at + enc.length] = 0;
    this.pad();
    return this;
  }
  nest(type: number): this {
    this.nests.push(this.header(type | NLA_F_NESTED, 0) - 4);
    return this;
  }
  endNest(): this {
    const at = this.nests.pop()!;
    this.view.setUint16(at, this.len - at, true);
    return this;
  }

  /** The bytes built so far (a view, valid until the next write). */
  bytesView(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
  reset(): this {
    this.len = 0;
    return this;
  }
}
