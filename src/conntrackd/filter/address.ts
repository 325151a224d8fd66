// Address text to 32-bit words for the filters: IPv4 as one word, IPv6 as four,
// each the big-endian value of its bytes held as a signed int32 (what `&` gives,
// so masked comparisons need no conversion). Parsing allocates nothing: it runs
// twice per event.

/** Returned by ipv4Word() for text that is not a dotted quad. */
export const NO_ADDRESS = 0x100000000;

/** Dotted-quad text (as inet_ntop prints it) from `start` to the end, as an int32; NO_ADDRESS if invalid. */
export function ipv4Word(text: string, start = 0): number {
  const n = text.length;
  let word = 0, parts = 0, value = 0, digits = 0;
  for (let i = start; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46; // a final "." closes the last part
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return NO_ADDRESS;
    } else if (c === 46) {
      if (digits === 0 || parts === 4) return NO_ADDRESS;
      word = (word << 8) | value;
      parts++;
      value = 0, digits = 0;
    } else return NO_ADDRESS;
  }
  return parts === 4 ? word | 0 : NO_ADDRESS;
}

const groups = new Uint16Array(8);

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * IPv6 text (inet_pton syntax: `::` once, an optional dotted-quad tail) into
 * out[0..3]; false if the text is not an IPv6 address.
 */
export function ipv6Words(text: string, out: Int32Array): boolean {
  const n = text.length;
  let count = 0, gap = -1, i = 0;
  if (n >= 2 && text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0, i = 2;
  }
  while (i < n) {
    const start = i;
    let value = 0, digits = 0, d: number;
    while (i < n && (d = hexDigit(text.charCodeAt(i))) >= 0) {
      value = value * 16 + d;
      if (++digits > 4) break;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // Embedded IPv4 (::ffff:a.b.c.d): the rest of the text, two groups.
      const v4 = ipv4Word(text, start);
      if (v4 === NO_ADDRESS || count > 6) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = n;
      break;
    }
    if (digits === 0 || digits > 4 || count === 8) return false;
    groups[count++] = value;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === n) return false; // a single trailing ':'
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  // Groups after the gap move to the end; the gap fills with zeros.
  const zeros = 8 - count;
  for (let w = 0; w < 4; w++) {
    const hi = groupAt(2 * w, gap, zeros), lo = groupAt(2 * w + 1, gap, zeros);
    out[w] = (hi << 16) | lo;
  }
  return true;
}

function groupAt(k: number, gap: number, zeros: number): number {
  if (gap < 0 || k < gap) return groups[k];
  if (k < gap + zeros) return 0;
  return groups[k - zeros];
}

/** The network mask of an IPv4 prefix length as an int32. */
export function ipv4Mask(prefix: number): number {
  return prefix <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefix, 32))) | 0;
}

/** The network mask of an IPv6 prefix length, four words. */
export function ipv6Mask(prefix: number): Int32Array {
  const m = new Int32Array(4);
  for (let w = 0; w < 4; w++) m[w] = ipv4Mask(prefix - 32 * w);
  return m;
}
