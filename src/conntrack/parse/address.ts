// Address arguments: parse_addr() with its optional /CIDR suffix, netmask
// construction, and the NAT "addr[:port]" / "[v6]:port" splitter.
import { aton, ntop, pton6 } from "../../common/inet.ts";
import { PARAMETER_PROBLEM } from "../errors.ts";
import { strtol } from "./cnum.ts";
import { fail } from "./fail.ts";

export const AF_UNSPEC = 0, AF_INET = 2, AF_INET6 = 10;

/** No "/N" given. */
export const NO_MASK = -1;
/** A "/N" that is not a valid prefix length for the family. */
export const BAD_MASK = -2;

export interface ParsedAddr {
  family: number;
  bytes: Uint8Array;
  /** Prefix length, NO_MASK or BAD_MASK. */
  mask: number;
}

/** INET6_ADDRSTRLEN: conntrack copies the argument into a buffer this size. */
const ADDR_BUF = 46;

/** parse_addr(): family AF_UNSPEC when the text is no address. */
export function parseAddr(text: string): ParsedAddr {
  let buf = text.slice(0, ADDR_BUF - 1);
  let mask = NO_MASK;
  const slash = buf.indexOf("/");
  if (slash >= 0) {
    const after = buf.slice(slash + 1);
    const { value, end } = strtol(after, 10);
    // The length is stored in an int; an empty suffix converts nothing and means /0.
    const len = Number(BigInt.asIntN(32, value));
    mask = len < 0 || end !== after.length ? BAD_MASK : len;
    buf = buf.slice(0, slash);
  }
  const v4 = aton(buf);
  if (v4) return { family: AF_INET, bytes: v4, mask: mask > 32 ? BAD_MASK : mask };
  const v6 = pton6(buf);
  if (v6) return { family: AF_INET6, bytes: v6, mask: mask > 128 ? BAD_MASK : mask };
  return { family: AF_UNSPEC, bytes: new Uint8Array(0), mask };
}

/** A netmask of `prefix` leading one bits, as canonical text. */
export function netmaskText(family: number, prefix: number): string {
  const bytes = new Uint8Array(family === AF_INET6 ? 16 : 4);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    bytes[i] = (0xff00 >> bits) & 0xff;
  }
  return ntop(bytes);
}

export function addrText(a: ParsedAddr): string {
  return ntop(a.bytes);
}

/** A port for a NAT argument: digits only, at most 65535. */
function validPort(text: string): boolean {
  return /^[0-9]+$/.test(text) && Number(text) <= 65535;
}

/**
 * Splits a NAT argument into address and optional port text. "[v6]" without a
 * ":port" keeps the brackets (and so fails as an address later).
 */
export function splitAddressAndPort(arg: string): { address: string; port?: string } {
  let address: string | undefined;
  let portAt = -1;
  const open = arg.indexOf("[");
  if (open >= 0) {
    const start = open + 1;
    const close = arg.indexOf("]", start);
    if (close === start) fail(PARAMETER_PROBLEM, "No IPv6 address specified");
    if (close < 0) fail(PARAMETER_PROBLEM, "No closing ']' around IPv6 address");
    portAt = arg.indexOf(":", close);
    if (portAt >= 0) address = arg.slice(start, close);
  } else {
    const colon = arg.indexOf(":");
    // Exactly one colon: IPv4 with a port; more: an IPv6 address.
    if (colon >= 0 && arg.indexOf(":", colon + 1) < 0) {
      address = arg.slice(0, colon);
      portAt = colon;
    }
  }
  if (portAt < 0) return { address: arg };
  const port = arg.slice(portAt + 1);
  if (port === "") fail(PARAMETER_PROBLEM, "No port specified after `:'");
  if (!validPort(port)) fail(PARAMETER_PROBLEM, `Invalid port \`${port}'`);
  return { address: address!, port };
}
