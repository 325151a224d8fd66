// conntrack parses its arguments byte by byte (getopt clusters, strchr, fixed
// buffers). The parser therefore works on "byte strings": one UTF-16 code unit
// per byte of the UTF-8 argument, converted back only for messages and names.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 text to a byte string. */
export function toBytes(text: string): string {
  const raw = encoder.encode(text);
  let out = "";
  for (let i = 0; i < raw.length; i += 4096) {
    out += String.fromCharCode(...raw.subarray(i, i + 4096));
  }
  return out;
}

/** Raw bytes (e.g. a file read) to a byte string. */
export function rawToBytes(raw: Uint8Array): string {
  let out = "";
  for (let i = 0; i < raw.length; i += 4096) {
    out += String.fromCharCode(...raw.subarray(i, i + 4096));
  }
  return out;
}

/** A byte string back to text (as a terminal would show the bytes). */
export function fromBytes(bytes: string): string {
  if (!/[\u0080-\u00ff]/.test(bytes)) return bytes;
  const raw = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) raw[i] = bytes.charCodeAt(i);
  return decoder.decode(raw);
}

/** ASCII-only lower case (the C locale's tolower), leaving other bytes alone. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) | 32));
}
