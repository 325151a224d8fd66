// The C library number conversions conntrack uses without validation (strtoul,
// strtol, atoi, atol), with glibc's overflow and sign behaviour on LP64.

const ULONG_MAX = (1n << 64n) - 1n;
const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

export interface Conversion {
  /** The converted value (already wrapped/clamped as the C function returns it). */
  value: bigint;
  /** Index of the first unconverted character (0 when nothing was converted). */
  end: number;
}

function isSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\v" || c === "\f" || c === "\r";
}

function digitValue(c: string): number {
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 32;
  if (lower >= 97 && lower <= 122) return lower - 87;
  return 99;
}

/** Magnitude, sign and end of a strto* conversion, before range handling. */
function scan(s: string, base: number): { negative: boolean; magnitude: bigint; end: number } {
  let i = 0;
  while (isSpace(s[i])) i++;
  let negative = false;
  if (s[i] === "+" || s[i] === "-") negative = s[i++] === "-";
  const isHexPrefix = s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X") &&
    s[i + 2] !== undefined && digitValue(s[i + 2]) < 16;
  if (base === 0) base = isHexPrefix ? 16 : s[i] === "0" ? 8 : 10;
  if (base === 16 && isHexPrefix) i += 2;
  const start = i;
  let magnitude = 0n;
  const b = BigInt(base);
  while (i < s.length && digitValue(s[i]) < base) {
    magnitude = magnitude * b + BigInt(digitValue(s[i]));
    i++;
  }
  if (i === start) return { negative: false, magnitude: 0n, end: 0 };
  return { negative, magnitude, end: i };
}

/** strtoul(s, &end, base): negative input wraps, overflow gives ULONG_MAX. */
export function strtoul(s: string, base = 0): Conversion {
  const { negative, magnitude, end } = scan(s, base);
  if (magnitude > ULONG_MAX) return { value: ULONG_MAX, end };
  return { value: negative ? BigInt.asUintN(64, -magnitude) : magnitude, end };
}

/** strtol(s, &end, base): clamps to the long range. */
export function strtol(s: string, base = 10): Conversion {
  const { negative, magnitude, end } = scan(s, base);
  const v = negative ? -magnitude : magnitude;
  return { value: v > LONG_MAX ? LONG_MAX : v < LONG_MIN ? LONG_MIN : v, end };
}

export function atol(s: string): bigint {
  return strtol(s, 10).value;
}

/** atoi: strtol truncated to int. */
export function atoi(s: string): bigint {
  return BigInt.asIntN(32, strtol(s, 10).value);
}

/** Truncates a C integer to an unsigned field of `bits` bits. */
export function toUnsigned(v: bigint, bits: number): number {
  return Number(BigInt.asUintN(bits, v));
}
