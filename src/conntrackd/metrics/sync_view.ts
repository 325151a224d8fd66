// The sync mode's state as the Prometheus endpoint reads it: references to the
// very counters the `-s` texts print (caches, links, network and queue stats),
// gathered on each scrape. Nothing here counts anything.
import type { CacheStats } from "../cache/cache.ts";
import type { MultiChannel } from "../channel/multichannel.ts";
import type { LinkFlags } from "../channel/link_watch.ts";
import { type LinkStatus, linkStatus, type TrafficStats } from "../channel/stats.ts";
import type { ChannelKind, SyncModeName } from "../config/types.ts";
import type { ExternalCache, ExternalInject, InjectStats } from "../sync/external.ts";
import type { BypassStats, InternalCache } from "../sync/internal.ts";
import { type QueueStatsSource, queueStatsView } from "../sync/queue.ts";
import type { NetworkStats } from "../sync/wire/mod.ts";
import type { CommitRecord, SyncCounters } from "./records.ts";

export interface CacheView {
  cache: "internal" | "external";
  table: "ct" | "expect";
  stats: CacheStats;
  /** Objects in the table, dead ones kept for acknowledgement included. */
  size: number;
}

export interface InjectView {
  table: "ct" | "expect";
  stats: InjectStats;
}

export interface LinkView {
  device: string;
  kind: ChannelKind;
  status: LinkStatus;
  active: boolean;
  sent: TrafficStats;
  received: TrafficStats;
  /** TCP links: whether the server (accepted) and client connections are up. */
  tcp: { server: boolean; client: boolean } | null;
}

export interface SyncView {
  mode: SyncModeName;
  caches: CacheView[];
  inject: InjectView[];
  bypass: BypassStats | null;
  links: LinkView[];
  net: NetworkStats;
  counters: SyncCounters;
  queues: readonly QueueStatsSource[];
  allocatedControl: number;
  commit: CommitRecord;
  /** HashLimit: the most objects one cache holds. */
  limit: number;
}

export interface SyncParts {
  mode: SyncModeName;
  expectations: boolean;
  internal: InternalCache | null;
  bypass: BypassStats | null;
  external: ExternalCache | null;
  inject: ExternalInject | null;
  channel: MultiChannel;
  links: LinkFlags;
  net: NetworkStats;
  counters: SyncCounters;
  commit: CommitRecord;
  limit: number;
}

export function syncView(p: SyncParts): SyncView {
  const caches: CacheView[] = [];
  const add = (
    cache: CacheView["cache"],
    table: CacheView["table"],
    c: { stats: CacheStats; size: number },
  ) => caches.push({ cache, table, stats: c.stats, size: c.size });
  if (p.internal) {
    add("internal", "ct", p.internal.ct);
    if (p.expectations) add("internal", "expect", p.internal.exp);
  }
  if (p.external) {
    add("external", "ct", p.external.ct);
    if (p.expectations) add("external", "expect", p.external.exp);
  }
  const inject: InjectView[] = [];
  if (p.inject) {
    inject.push({ table: "ct", stats: p.inject.stats });
    if (p.expectations) inject.push({ table: "expect", stats: p.inject.expStats });
  }
  const links = p.channel.channels.map((ch, i): LinkView => ({
    device: ch.deviceName(),
    kind: ch.kind,
    status: linkStatus(p.links.flags(ch.ifindex) ?? 0),
    active: i === p.channel.activeIndex,
    sent: ch.sent,
    received: ch.received,
    tcp: ch.connectionStates(),
  }));
  const q = queueStatsView();
  return {
    mode: p.mode,
    caches,
    inject,
    bypass: p.bypass,
    links,
    net: p.net,
    counters: p.counters,
    queues: q.queues,
    allocatedControl: q.allocatedControl,
    commit: p.commit,
    limit: p.limit,
  };
}
