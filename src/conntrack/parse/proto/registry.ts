// findproto(): the -p argument to a protocol handler and number.
import { asciiLower } from "../bytes.ts";
import { strtoul } from "../cnum.ts";
import { getprotobyname } from "../protocols.ts";
import { dccp } from "./dccp.ts";
import { gre } from "./gre.ts";
import type { ProtoHandler } from "./handler.ts";
import { icmp, icmpv6 } from "./icmp.ts";
import { sctp } from "./sctp.ts";
import { tcp } from "./tcp.ts";
import { udp, udplite } from "./udp.ts";
import { unknown } from "./unknown.ts";

export { unknown };

/** The registered extensions (the generic "unknown" handler is not among them). */
export const HANDLERS: readonly ProtoHandler[] = [gre, icmpv6, icmp, dccp, sctp, udplite, udp, tcp];

/** A whole-string number in 0..255 (strtoul base 0), else -1. */
function protoNumber(text: string): number {
  const { value, end } = strtoul(text, 0);
  if (value > 255n || end === 0 || end !== text.length) return -1;
  return Number(value);
}

/**
 * Extension name (any case), then a protocols(5) name (handled generically even
 * when an extension exists for its number), then a number.
 */
export function findProto(name: string): { handler: ProtoHandler; protonum: number } | undefined {
  const lower = asciiLower(name);
  const byName = HANDLERS.find((h) => h.name === lower);
  if (byName) return { handler: byName, protonum: byName.protonum };
  const entry = getprotobyname(name);
  if (entry) return { handler: unknown, protonum: entry.number };
  const num = protoNumber(name);
  if (num < 0) return undefined;
  return { handler: HANDLERS.find((h) => h.protonum === num) ?? unknown, protonum: num };
}

/** The handler whose -h text `-h -p <protonum>` prints. */
export function handlerFor(protonum: number): ProtoHandler {
  return HANDLERS.find((h) => h.protonum === protonum) ?? unknown;
}
