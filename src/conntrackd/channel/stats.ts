// Per-channel traffic counters and the `conntrackd -s` / `-s link` blocks that
// print them (udp.c, mcast.c and tcp.c *_snprintf_stats{,2} in 1.4.7).
import type { ChannelKind } from "../config/types.ts";
import { IFF_RUNNING, IFF_UP } from "./interface.ts";

/** One direction of a channel: what a client socket sent or a server socket received. */
export class TrafficStats {
  bytes = 0;
  packets = 0;
  errors = 0;

  /** A successful send or receive of `n` bytes. */
  count(n: number): void {
    this.bytes += n;
    this.packets++;
  }
}

/** What the stats blocks need to know about a channel. */
export interface ChannelStatsSource {
  readonly kind: ChannelKind;
  readonly sent: TrafficStats;
  readonly received: TrafficStats;
  /** Interface name as if_indextoname() gives it now. */
  deviceName(): string;
  /** TCP only: ` server=... client=...` connection states. */
  connectionStates(): { server: boolean; client: boolean } | null;
}

const KIND_TITLE: Record<ChannelKind, string> = { udp: "UDP", multicast: "multicast", tcp: "TCP" };

const u64 = (n: number) => String(n).padStart(20);

function counters(sent: TrafficStats, received: TrafficStats): string {
  return `${u64(sent.bytes)} Bytes sent ${u64(received.bytes)} Bytes recv\n` +
    `${u64(sent.packets)} Pckts sent ${u64(received.packets)} Pckts recv\n` +
    `${u64(sent.errors)} Error send ${u64(received.errors)} Error recv\n\n`;
}

/** The active channel's block in `conntrackd -s` and `-s network`. */
export function formatChannelStats(ch: ChannelStatsSource): string {
  let title = `${KIND_TITLE[ch.kind]} traffic (active device=${ch.deviceName()})`;
  const tcp = ch.connectionStates();
  if (tcp !== null) {
    const state = (up: boolean) => up ? "connected" : "disconnected";
    title += ` server=${state(tcp.server)} client=${state(tcp.client)}`;
  }
  return `${title}:\n${counters(ch.sent, ch.received)}`;
}

export type LinkStatus = "RUNNING" | "NO-CARRIER" | "DOWN";

/** IFF_UP is the administrative state, IFF_RUNNING the carrier. */
export function linkStatus(flags: number): LinkStatus {
  if (!(flags & IFF_UP)) return "DOWN";
  return flags & IFF_RUNNING ? "RUNNING" : "NO-CARRIER";
}

/** One channel's block in `conntrackd -s link`. */
export function formatLinkStats(ch: ChannelStatsSource, flags: number, active: boolean): string {
  return `${KIND_TITLE[ch.kind]} traffic device=${ch.deviceName()} status=${linkStatus(flags)} ` +
    `role=${active ? "ACTIVE" : "BACKUP"}:\n${counters(ch.sent, ch.received)}`;
}
