// Address text conversions with the exact semantics of glibc's inet_aton,
// inet_pton and inet_ntop, because conntrack's accepted input and printed output
// depend on them.
import { indexMemo } from "./memo.ts";

const dec = indexMemo(256, String);

/** IPv4 bytes at buf[off..off+4] to dotted quad. */
export function ntop4(buf: Uint8Array, off: number): string {
  return dec(buf[off]) + "." + dec(buf[off + 1]) + "." + dec(buf[off + 2]) + "." + dec(buf[off + 3]);
}

/** IPv6 bytes at buf[off..off+16] to text as glibc inet_ntop prints it. */
export function ntop6(buf: Uint8Array, off: number): string {
  const w = new Array<number>(8);
  for (let i = 0; i < 8; i++) w[i] = (buf[off + 2 * i] << 8) | buf[off + 2 * i + 1];
  // Longest run of zero words (length >= 2), first one on a tie.
  let bestBase = -1, bestLen = 0, curBase = -1, curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (curBase < 0) curBase = i, curLen = 1;
      else curLen++;
    } else if (curBase >= 0) {
      if (bestBase < 0 || curLen > bestLen) bestBase = curBase, bestLen = curLen;
      curBase = -1;
    }
  }
  if (curBase >= 0 && (bestBase < 0 || curLen > bestLen)) bestBase = curBase, bestLen = curLen;
  if (bestBase >= 0 && bestLen < 2) bestBase = -1;
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ":";
      continue;
    }
    if (i !== 0) s += ":";
    // Embedded IPv4: ::a.b.c.d, ::ffff:a.b.c.d (glibc also prints ::ffff:0:a.b.c.d as hex).
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += ntop4(buf, off + 12);
      break;
    }
    s += w[i].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) s += ":";
  return s;
}

/**
 * inet_aton: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x); the last
 * part fills the remaining bytes. Returns 4 bytes or null.
 */
export function aton(text: string): Uint8Array | null {
  const parts: number[] = [];
  let i = 0;
  const n = text.length;
  if (n === 0) return null;
  for (;;) {
    const c0 = text.charCodeAt(i);
    if (!(c0 >= 48 && c0 <= 57)) return null;
    let base = 10, val = 0;
    if (c0 === 48) {
      base = 8;
      i++;
      if (i < n && (text[i] === "x" || text[i] === "X")) base = 16, i++;
    }
    let digits = 0;
    for (; i < n; i++, digits++) {
      const c = text.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (base === 16 && ((c | 32) >= 97 && (c | 32) <= 102)) d = (c | 32) - 87;
      else break;
      if (d >= base) return null;
      val = val * base + d;
      if (val > 0xffffffff) return null;
    }
    // "0x" with no digits is accepted by glibc as 0.
    parts.push(val);
    if (i >= n) break;
    if (text[i] !== "." || parts.length >= 4) {
      // glibc accepts trailing whitespace after a valid address.
      if (/^\s/.test(text[i])) break;
      return null;
    }
    i++;
    if (i >= n) return null;
  }
  const b = new Uint8Array(4);
  const last = parts[parts.length - 1];
  const lim = [0xffffffff, 0xffffff, 0xffff, 0xff][parts.length - 1];
  if (last > lim) return null;
  for (let k = 0; k < parts.length - 1; k++) {
    if (parts[k] > 0xff) return null;
    b[k] = parts[k];
  }
  const restBytes = 4 - (parts.length - 1);
  for (let k = 0; k < restBytes; k++) b[3 - k] = (last >>> (8 * k)) & 0xff;
  return b;
}

/** inet_pton(AF_INET6): returns 16 bytes or null. */
export function pton6(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  let s = text;
  let tailV4: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(":");
  if (lastColon < 0) return null;
  if (s.indexOf(".", lastColon) >= 0) {
    tailV4 = pton4(s.slice(lastColon + 1));
    if (!tailV4) return null;
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = s.indexOf("::");
  if (dbl >= 0 && s.indexOf("::", dbl + 1) >= 0) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const gs = part.split(":");
    const r: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      r.push(parseInt(g, 16));
    }
    return r;
  };
  let words: number[];
  if (dbl >= 0) {
    const a = parseGroups(s.slice(0, dbl));
    const b = parseGroups(s.slice(dbl + 2));
    if (!a || !b || a.length + b.length > 7) return null;
    words = [...a, ...new Array(8 - a.length - b.length).fill(0), ...b];
  } else {
    const a = parseGroups(s);
    if (!a || a.length !== 8) return null;
    words = a;
  }
  for (let i = 0; i < 8; i++) out[2 * i] = words[i] >> 8, out[2 * i + 1] = words[i] & 0xff;
  if (tailV4) out.set(tailV4, 12);
  return out;
}

/** inet_pton(AF_INET): strict dotted quad of decimal octets (no leading zeros). */
export function pton4(text: string): Uint8Array | null {
  const b = new Uint8Array(4);
  return pton4Into(text, b) ? b : null;
}

/** pton4() into `b` (no allocation: it runs for every entry a batched delete sends). */
export function pton4Into(text: string, b: Uint8Array): boolean {
  let part = 0, digits = 0, value = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a final "."
    if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return false; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return false;
      b[part++] = value;
      value = 0, digits = 0;
    } else return false;
  }
  return part === 4;
}

/** Canonical text of a v4 or v6 address given as bytes. */
export function ntop(b: Uint8Array): string {
  return b.length === 4 ? ntop4(b, 0) : ntop6(b, 0);
}

/** Parses canonical (or any valid) text back to bytes; family from the text. */
export function addrBytes(text: string): Uint8Array | null {
  return text.includes(":") ? pton6(text) : pton4(text) ?? aton(text);
}
