// Address text (the model's canonical form) straight into a message buffer,
// without the temporary arrays of the general parsers in common/inet.ts: the
// sender converts two to six addresses per message.
import { addrBytes } from "../../../common/inet.ts";

/** Writes the 4 bytes of an IPv4 address; throws RangeError on text that is no IPv4 address. */
export function putIp4(out: Uint8Array, p: number, text: string): void {
  let part = 0, digits = 0, value = 0;
  const n = text.length;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46;
    if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return slow(out, p, text, 4); // leading zero: inet_aton's octal
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return slow(out, p, text, 4);
    } else if (c === 46 && digits > 0 && part < 4) {
      out[p + part++] = value;
      value = 0, digits = 0;
    } else return slow(out, p, text, 4);
  }
  if (part !== 4) slow(out, p, text, 4);
}

/** Writes the 16 bytes of an IPv6 address; throws RangeError on text that is no IPv6 address. */
export function putIp6(out: Uint8Array, p: number, text: string): void {
  const n = text.length;
  let w = 0; // words written
  let gap = -1; // word index where "::" stands
  let i = 0;
  if (n >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let value = 0, digits = 0, j = i;
    for (; j < n; j++) {
      const c = text.charCodeAt(j);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if ((c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
      else break;
      value = (value << 4) | d;
      digits++;
    }
    if (digits === 0 || digits > 4 || w >= 8) return slow(out, p, text, 16);
    if (j < n && text.charCodeAt(j) === 46) return slow(out, p, text, 16); // embedded IPv4
    out[p + 2 * w] = value >> 8;
    out[p + 2 * w + 1] = value & 0xff;
    w++;
    if (j === n) break;
    if (text.charCodeAt(j) !== 58) return slow(out, p, text, 16);
    if (j + 1 < n && text.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return slow(out, p, text, 16);
      gap = w;
      i = j + 2;
    } else {
      if (j + 1 === n) return slow(out, p, text, 16);
      i = j + 1;
    }
  }
  if (gap < 0) {
    if (w !== 8) slow(out, p, text, 16);
    return;
  }
  if (w > 7) return slow(out, p, text, 16);
  // Move the words after "::" to the end and zero the gap.
  const tail = w - gap, zeros = 8 - w;
  for (let k = tail - 1; k >= 0; k--) {
    out[p + 2 * (gap + zeros + k)] = out[p + 2 * (gap + k)];
    out[p + 2 * (gap + zeros + k) + 1] = out[p + 2 * (gap + k) + 1];
  }
  out.fill(0, p + 2 * gap, p + 2 * (gap + zeros));
}

/** The general parser for whatever the fast paths decline (embedded IPv4, inet_aton forms). */
function slow(out: Uint8Array, p: number, text: string, size: number): void {
  const b = addrBytes(text);
  if (b === null || b.length !== size) {
    throw new RangeError(`not an IPv${size === 4 ? 4 : 6} address: ${text}`);
  }
  out.set(b, p);
}
