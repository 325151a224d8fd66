// C string semantics the reference relies on: atoi() for timeout values and
// strncpy() into fixed-size name buffers (which silently truncates).

const encoder = new TextEncoder();

const C_SPACE = new Set([" ", "\t", "\n", "\v", "\f", "\r"]);
const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

/**
 * atoi() as glibc does it (strtol, saturating at the 64-bit long range), then
 * narrowed to int and reinterpreted as the u32 the netlink attribute carries:
 * "-1" becomes 4294967295 and "12abc" becomes 12, exactly like the reference.
 */
export function atoiU32(text: string): number {
  let i = 0;
  while (i < text.length && C_SPACE.has(text[i])) i++;
  let negative = false;
  if (text[i] === "+" || text[i] === "-") negative = text[i++] === "-";
  let value = 0n;
  for (; i < text.length && text[i] >= "0" && text[i] <= "9"; i++) {
    value = value * 10n + BigInt(text.charCodeAt(i) - 48);
    if (value > LONG_MAX + 1n) break; // already saturated either way
  }
  if (negative) value = -value;
  if (value > LONG_MAX) value = LONG_MAX;
  if (value < LONG_MIN) value = LONG_MIN;
  return Number(BigInt.asUintN(32, value));
}

/** What strncpy(buf, s, size) followed by buf[size-1] = 0 leaves: at most size-1 bytes. */
export function fixedName(text: string, size: number): Uint8Array {
  const bytes = encoder.encode(text);
  const nul = bytes.indexOf(0);
  const end = Math.min(nul < 0 ? bytes.length : nul, size - 1);
  return bytes.slice(0, end);
}

/** The bytes of a NUL-terminated string attribute, cut like a fixed `size` buffer. */
export function cStringBytes(payload: Uint8Array, size: number): Uint8Array {
  const nul = payload.indexOf(0);
  const end = Math.min(nul < 0 ? payload.length : nul, size - 1);
  return payload.slice(0, end);
}

/** strcasecmp() in the C locale: only ASCII letters fold (so no Kelvin-sign surprises). */
export function asciiCaseEqual(a: string, b: string): boolean {
  return asciiLower(a) === asciiLower(b);
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}
