// Name tables shared by the printers, precomputed once so the per-entry hot
// path only indexes arrays. Values follow libnetfilter_conntrack 1.0.9
// (src/conntrack/snprintf.c) and conntrack-tools 1.4.7 (extensions/).
import { indexMemo } from "../../common/memo.ts";
import { DCCP_STATES, SCTP_STATES, TCP_STATES } from "../states.ts";

// Re-exported for the printers; XML prints SCTP and DCCP states by the TCP table (a library bug kept for parity).
export { DCCP_STATES, SCTP_STATES, TCP_STATES };

/** L4 protocol names libnetfilter_conntrack knows; every other number is "unknown". */
const L4_NAMES: Record<number, string> = {
  1: "icmp",
  6: "tcp",
  17: "udp",
  33: "dccp",
  47: "gre",
  58: "icmpv6",
  132: "sctp",
  136: "udplite",
};

/** __proto2str(): protocol name by number (0..255). */
export function protoName(p: number): string {
  return L4_NAMES[p] ?? "unknown";
}

/** __l3proto2str(): family name by number (0..255). */
export function l3Name(f: number): string {
  return f === 2 ? "ipv4" : f === 10 ? "ipv6" : "unknown";
}

/** printf("%-8s %u ", name, num): the left-justified name column plus the number. */
function column(name: string, num: number): string {
  return name.padEnd(8, " ") + " " + num + " ";
}

/** "%-8s %u " for the L4 protocol (default output). */
export const protoColumn = indexMemo(256, (p) => column(protoName(p), p));
/** "%-8s %u " for the L3 family (NFCT_OF_SHOW_LAYER3). */
export const l3Column = indexMemo(256, (f) => column(l3Name(f), f));

/** State name as the default printer shows it: out-of-range states print as NONE. */
function stateLookup(table: readonly string[]): (state: number) => string {
  return indexMemo(256, (i) => (i < table.length ? table[i] : table[0]) + " ");
}

/** "%s " of the state, indexed by the raw u8 state. */
export const tcpStateField = stateLookup(TCP_STATES);
export const sctpStateField = stateLookup(SCTP_STATES);
export const dccpStateField = stateLookup(DCCP_STATES);

/**
 * conntrack's own SCTP table for `-o save` stops at SHUTDOWN_ACK_SENT: the
 * two heartbeat states are NULL there and glibc prints "(null)".
 */
export const SAVE_SCTP_STATES: readonly string[] = SCTP_STATES.slice(0, 8);
export const SAVE_DCCP_ROLES: readonly string[] = ["client", "server"];
