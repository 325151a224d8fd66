// The user-space helpers shipped with conntrack-tools 1.4.7 (what the
// reference finds as ct_helper_NAME.so) and their built-in expectation
// policies, which a `Policy` clause may replace.

import type { HelperPolicy } from "./types.ts";

export interface KnownHelper {
  name: string;
  protocol: "tcp" | "udp";
  policies: HelperPolicy[];
}

const pol = (name: string, expectMax: number, expectTimeout: number): HelperPolicy[] => [
  { name, expectMax, expectTimeout },
];

export const KNOWN_HELPERS: readonly KnownHelper[] = [
  { name: "amanda", protocol: "udp", policies: pol("amanda", 3, 180) },
  { name: "dhcpv6", protocol: "udp", policies: pol("dhcpv6", 1, 300) },
  { name: "ftp", protocol: "tcp", policies: pol("ftp", 1, 300) },
  { name: "mdns", protocol: "udp", policies: pol("mdns", 8, 30) },
  { name: "rpc", protocol: "tcp", policies: pol("rpc", 1, 300) },
  { name: "rpc", protocol: "udp", policies: pol("rpc", 1, 300) },
  { name: "sane", protocol: "tcp", policies: pol("sane", 1, 300) },
  { name: "slp", protocol: "udp", policies: pol("slp", 8, 16) },
  { name: "ssdp", protocol: "udp", policies: pol("ssdp", 8, 300) },
  { name: "ssdp", protocol: "tcp", policies: pol("ssdp", 8, 300) },
  { name: "tftp", protocol: "udp", policies: pol("tftp", 1, 300) },
  { name: "tns", protocol: "tcp", policies: pol("tns", 1, 300) },
];

export function findHelper(name: string, protocol: string): KnownHelper | undefined {
  return KNOWN_HELPERS.find((h) => h.name === name && h.protocol === protocol);
}
