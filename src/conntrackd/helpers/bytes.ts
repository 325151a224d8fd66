// Byte-string scanning for the text-based helpers, without decoding packets
// to JS strings. `end` bounds every scan; the C helpers' NUL-terminated
// scans are expressed by passing cstrEnd() as the bound.

export function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** True when buf[at..] starts with `pat` (case-sensitive, like strncmp). */
export function startsWith(buf: Uint8Array, at: number, end: number, pat: Uint8Array): boolean {
  if (end - at < pat.length) return false;
  for (let i = 0; i < pat.length; i++) if (buf[at + i] !== pat[i]) return false;
  return true;
}

/** strncasecmp(pat, buf+at, len(pat)) === 0 for ASCII letters. */
export function startsWithNoCase(buf: Uint8Array, at: number, end: number, pat: Uint8Array): boolean {
  if (end - at < pat.length) return false;
  for (let i = 0; i < pat.length; i++) {
    const a = buf[at + i], b = pat[i];
    if (a !== b && lower(a) !== lower(b)) return false;
  }
  return true;
}

export function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Index of the first `c` in buf[from..end), or -1 (strchr). */
export function indexOfByte(buf: Uint8Array, from: number, end: number, c: number): number {
  for (let i = from; i < end; i++) if (buf[i] === c) return i;
  return -1;
}

/** Index of the first occurrence of `pat` in buf[from..end), or -1 (strstr). */
export function indexOfSeq(buf: Uint8Array, from: number, end: number, pat: Uint8Array): number {
  const first = pat[0], last = end - pat.length;
  outer: for (let i = from; i <= last; i++) {
    if (buf[i] !== first) continue;
    for (let j = 1; j < pat.length; j++) if (buf[i + j] !== pat[j]) continue outer;
    return i;
  }
  return -1;
}

/** End of the C string starting at `from`: the first NUL before `len`, else `len`. */
export function cstrEnd(buf: Uint8Array, from: number, len: number): number {
  const i = buf.subarray(from, len).indexOf(0);
  return i < 0 ? len : from + i;
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Byte at `i`, or 0 past `len` (the reference reads its zeroed spare room there). */
export function byteAt(buf: Uint8Array, i: number, len: number): number {
  return i < len ? buf[i] : 0;
}

export function be16At(buf: Uint8Array, i: number, len: number): number {
  return (byteAt(buf, i, len) << 8) | byteAt(buf, i + 1, len);
}

export function be32At(buf: Uint8Array, i: number, len: number): number {
  return ((byteAt(buf, i, len) << 24) | (byteAt(buf, i + 1, len) << 16) | (byteAt(buf, i + 2, len) << 8) |
    byteAt(buf, i + 3, len)) >>> 0;
}

/** Dotted quad of the first 4 bytes of an address buffer. */
export function dotted(a: Uint8Array): string {
  return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
}

/**
 * strtoul(s, &end, 10) over buf[at..end): leading white space, an optional
 * sign, decimal digits. Returns the value truncated to 16 bits (the callers
 * store it in a uint16_t) and where the number ended (`at` if no digits).
 */
export function strtoulU16(buf: Uint8Array, at: number, end: number): { value: number; next: number } {
  let i = at;
  while (i < end && (buf[i] === 32 || (buf[i] >= 9 && buf[i] <= 13))) i++;
  let neg = false;
  if (i < end && (buf[i] === 43 || buf[i] === 45)) neg = buf[i++] === 45;
  const digits = i;
  let v = 0;
  while (i < end && isDigit(buf[i])) v = (v * 10 + buf[i++] - 48) % 65536;
  if (i === digits) return { value: 0, next: at };
  // Out of range saturates to ULONG_MAX, whose low 16 bits are all ones.
  if (i - digits > 19) return { value: 0xffff, next: i };
  return { value: neg ? (65536 - v) % 65536 : v, next: i };
}
