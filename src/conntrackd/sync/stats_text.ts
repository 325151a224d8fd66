// The sync-specific `-s` texts: message tracking and `-s network`.
import type { NetworkStats } from "./wire/mod.ts";

const u20 = (n: number) => String(n >>> 0 === n ? n : Math.max(0, Math.trunc(n))).padStart(20);
const u20u32 = (n: number) => String(n >>> 0).padStart(20);

/** dump_stats_sync */
export function formatSyncStats(s: NetworkStats): string {
  return `message tracking:\n${u20(s.malformed)} Malformed msgs ${u20(s.lost)} Lost msgs\n\n`;
}

/** dump_stats_sync_extended; `recvExtra`: lines after the receive counters (ctkit's Authentication). */
export function formatNetworkStats(s: NetworkStats, recvExtra = ""): string {
  return "network statistics:\n" +
    "\trecv:\n" +
    `\t\tMalformed messages:\t${u20(s.malformed)}\n` +
    `\t\tWrong protocol version:\t${u20u32(s.badVersion)}\n` +
    `\t\tMalformed header:\t${u20u32(s.badHeader)}\n` +
    `\t\tMalformed payload:\t${u20u32(s.badPayload)}\n` +
    `\t\tBad message type:\t${u20u32(s.badType)}\n` +
    `\t\tTruncated message:\t${u20u32(s.truncated)}\n` +
    `\t\tBad message size:\t${u20u32(s.badSize)}\n` +
    recvExtra +
    "\tsend:\n" +
    `\t\tMalformed messages:\t${u20u32(s.sendMalformed)}\n\n` +
    "sequence tracking statistics:\n" +
    "\trecv:\n" +
    `\t\tPackets lost:\t\t${u20(s.lost)}\n` +
    `\t\tPackets before:\t\t${u20(s.before)}\n\n`;
}
