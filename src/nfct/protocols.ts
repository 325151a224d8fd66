// Layer 3 and layer 4 protocol names as nfct accepts them.
import { AF_INET, AF_INET6 } from "../netlink/constants.ts";

import { IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from "../conntrack/model.ts";

export {
  IPPROTO_DCCP,
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
} from "../conntrack/model.ts";
/** nfct's "generic" tracker is addressed as IPPROTO_RAW. */
export const IPPROTO_RAW = 255;

/** `inet` or `inet6` (exact, case-sensitive), else undefined. */
export function parseFamily(word: string): number | undefined {
  if (word === "inet") return AF_INET;
  if (word === "inet6") return AF_INET6;
  return undefined;
}

/**
 * getprotobyname() over the files database, as glibc reads /etc/protocols:
 * the official name or any alias, compared exactly; first matching line wins.
 */
export function protocolByName(name: string, path = "/etc/protocols"): number | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  for (const rawLine of text.split("\n")) {
    const hash = rawLine.indexOf("#");
    const fields = (hash < 0 ? rawLine : rawLine.slice(0, hash)).trim().split(/\s+/);
    if (fields.length < 2 || !/^\d+$/.test(fields[1])) continue;
    if (fields[0] === name || fields.slice(2).includes(name)) return Number(fields[1]);
  }
  return undefined;
}

/**
 * The layer 4 protocol for timeout commands: the protocols database first, then
 * the two names nfct adds itself (Debian spells ICMPv6 "ipv6-icmp").
 */
export function parseTimeoutL4(word: string): number | undefined {
  const known = protocolByName(word);
  if (known !== undefined) return known;
  if (word === "icmpv6") return IPPROTO_ICMPV6;
  if (word === "generic") return IPPROTO_RAW;
  return undefined;
}

/** Helpers only run over `tcp` or `udp`, matched literally. */
export function parseHelperL4(word: string): number | undefined {
  if (word === "tcp") return IPPROTO_TCP;
  if (word === "udp") return IPPROTO_UDP;
  return undefined;
}
