// The user-space helpers nfct can register (the reference keeps these built in
// for backward compatibility): private data size and one expectation policy.
import { IPPROTO_TCP, IPPROTO_UDP } from "./protocols.ts";

export interface ExpectPolicy {
  name: string;
  expectMax: number;
  expectTimeout: number;
}

export interface BuiltinHelper {
  name: string;
  l4proto: number;
  /** sizeof() of the helper's per-flow state in conntrackd. */
  privDataLen: number;
  policies: ExpectPolicy[];
}

function helper(
  name: string,
  l4proto: number,
  privDataLen: number,
  max: number,
  timeout: number,
): BuiltinHelper {
  return { name, l4proto, privDataLen, policies: [{ name, expectMax: max, expectTimeout: timeout }] };
}

const BUILTIN_HELPERS: readonly BuiltinHelper[] = [
  helper("amanda", IPPROTO_UDP, 0, 3, 180),
  helper("dhcpv6", IPPROTO_UDP, 0, 1, 300),
  helper("ftp", IPPROTO_TCP, 24, 1, 300), // two directions x two sequence numbers + two counters
  helper("mdns", IPPROTO_UDP, 0, 8, 30),
  helper("rpc", IPPROTO_TCP, 16, 1, 300), // xid, program, version, protocol
  helper("rpc", IPPROTO_UDP, 16, 1, 300),
  helper("sane", IPPROTO_TCP, 4, 1, 300), // one enum
  helper("slp", IPPROTO_UDP, 0, 8, 16),
  helper("ssdp", IPPROTO_UDP, 0, 8, 300),
  helper("ssdp", IPPROTO_TCP, 0, 8, 300),
  helper("tftp", IPPROTO_UDP, 0, 1, 300),
  helper("tns", IPPROTO_TCP, 1, 1, 300), // one bool
];

export function findBuiltinHelper(name: string, l4proto: number): BuiltinHelper | undefined {
  return BUILTIN_HELPERS.find((h) => h.name === name && h.l4proto === l4proto);
}
