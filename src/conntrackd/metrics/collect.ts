// The daemon's figures in Prometheus terms (docs/JSON.md has the `-s` JSON;
// README "Metrics" lists these). Everything is read from the state the `-s`
// texts print and from the records of metrics/records.ts, at scrape time.
import type { CacheStats } from "../cache/cache.ts";
import type { RuntimeStats } from "../daemon/runtime_stats.ts";
import { CTKIT_VERSION } from "../../version.ts";
import { Exposition, type Labels } from "./exposition.ts";
import type { HaRecord } from "./records.ts";
import type { SyncView } from "./sync_view.ts";

/** What one scrape reads. */
export interface DaemonFigures {
  stats: RuntimeStats;
  /** The netlink event socket's buffer (the `-s runtime` figure); null without a kernel side. */
  bufferSize: number | null;
  /** "stats" or "sync" (with the sync view), or null for a daemon with neither. */
  mode: "stats" | "sync" | null;
  /** Stats mode's one cache. */
  statsCache: { stats: CacheStats; size: number } | null;
  sync: SyncView | null;
  /** HashLimit. */
  limit: number;
  ha: HaRecord;
  /** The namespace's conntrack table: nf_conntrack_count and nf_conntrack_max, null if unreadable. */
  kernel: { entries: number; limit: number } | null;
}

const PROC = "/proc/sys/net/netfilter";

/** The conntrack table of the network namespace the daemon runs in (/proc/sys/net is per namespace). */
export function kernelTable(): { entries: number; limit: number } | null {
  try {
    const entries = Number(Deno.readTextFileSync(`${PROC}/nf_conntrack_count`).trim());
    const limit = Number(Deno.readTextFileSync(`${PROC}/nf_conntrack_max`).trim());
    return Number.isFinite(entries) && Number.isFinite(limit) ? { entries, limit } : null;
  } catch {
    return null;
  }
}

type Sample = [Labels, number | bigint];

function cacheSamples(
  caches: Array<{ labels: Labels; stats: CacheStats; size: number }>,
  value: (s: CacheStats, size: number) => number,
): Sample[] {
  return caches.map((c) => [c.labels, value(c.stats, c.size)]);
}

export function renderMetrics(f: DaemonFigures): string {
  const x = new Exposition();
  const st = f.stats;
  const sync = f.sync;
  const info: Labels = { mode: f.mode ?? "none" };
  if (sync) info.protocol = sync.mode.toLowerCase();
  info.version = "1.4.7";
  info.ctkit_version = CTKIT_VERSION;
  x.family("conntrackd_info", "gauge", "The daemon: its mode and sync protocol, and the ctkit version.", [[
    info,
    1,
  ]]);
  x.single(
    "conntrackd_start_time_seconds",
    "gauge",
    "When the daemon finished starting, in seconds since the epoch.",
    st.startTime,
  );

  // Caches: Stats mode's one cache is the daemon's copy of the kernel table, reported as the internal one.
  const caches: Array<{ labels: Labels; stats: CacheStats; size: number }> = [];
  if (f.statsCache) caches.push({ labels: { cache: "internal", table: "ct" }, ...f.statsCache });
  for (const c of sync?.caches ?? []) {
    caches.push({ labels: { cache: c.cache, table: c.table }, stats: c.stats, size: c.size });
  }
  x.family(
    "conntrackd_cache_entries",
    "gauge",
    "Entries in the cache (current active connections).",
    cacheSamples(caches, (s) => s.active),
  );
  x.family(
    "conntrackd_cache_stored_entries",
    "gauge",
    "Objects stored in the cache, entries deleted but not yet acknowledged by the peer included.",
    cacheSamples(caches, (_s, size) => size),
  );
  if (caches.length) {
    x.single(
      "conntrackd_cache_entries_limit",
      "gauge",
      "The most objects one cache may store (HashLimit).",
      f.limit,
    );
  }
  const ops: Sample[] = [];
  for (const c of caches) {
    const s = c.stats;
    for (
      const [operation, ok, failed] of [
        ["create", s.addOk, s.addFail],
        ["update", s.updOk, s.updFail],
        ["destroy", s.delOk, s.delFail],
      ] as const
    ) {
      ops.push([{ ...c.labels, operation, result: "ok" }, ok]);
      ops.push([{ ...c.labels, operation, result: "failed" }, failed]);
    }
  }
  x.family("conntrackd_cache_operations_total", "counter", "Cache operations by outcome.", ops);
  x.family(
    "conntrackd_cache_full_total",
    "counter",
    "Entries that could not be cached because the cache was full (HashLimit).",
    cacheSamples(caches, (s) => s.addFailEnospc),
  );
  if (sync) {
    const inject: Sample[] = [];
    for (const i of sync.inject) {
      const s = i.stats;
      for (
        const [operation, ok, failed] of [
          ["create", s.addOk, s.addFail],
          ["update", s.updOk, s.updFail],
          ["destroy", s.delOk, s.delFail],
        ] as const
      ) {
        inject.push([{ table: i.table, operation, result: "ok" }, ok]);
        inject.push([{ table: i.table, operation, result: "failed" }, failed]);
      }
    }
    x.family(
      "conntrackd_inject_operations_total",
      "counter",
      "Peer messages written straight into the kernel table (DisableExternalCache), by outcome.",
      inject,
    );
    if (sync.bypass) {
      const b = sync.bypass;
      x.family(
        "conntrackd_bypass_events_total",
        "counter",
        "Kernel events sent to the peer without an internal cache (DisableInternalCache).",
        [[{ event: "new" }, b.new], [{ event: "update" }, b.upd], [{ event: "destroy" }, b.del]],
      );
    }
  }
  if (f.mode !== null) {
    x.single(
      "conntrackd_traffic_bytes_total",
      "counter",
      "Bytes of the flows that ended, both directions (low 32 bits of each flow's counters, as -s).",
      st.bytesOrig + st.bytesRepl,
    );
    x.single(
      "conntrackd_traffic_packets_total",
      "counter",
      "Packets of the flows that ended, both directions (as -s).",
      st.packetsOrig + st.packetsRepl,
    );
  }

  if (sync) renderSync(x, sync);

  // Netlink (the kernel side) and the kernel table.
  if (f.mode !== null) {
    x.single("conntrackd_netlink_events_total", "counter", "Kernel events received.", st.eventsReceived);
    x.single(
      "conntrackd_netlink_events_filtered_total",
      "counter",
      "Kernel events dropped by the Filter.",
      st.eventsFiltered,
    );
    x.family("conntrackd_netlink_errors_total", "counter", "Kernel events or dump entries that failed.", [
      [{ kind: "unknown_event_type" }, st.eventsUnknownType],
      [{ kind: "catch_event_failed" }, st.catchEventFailed],
      [{ kind: "unknown_dump_type" }, st.dumpUnknownType],
    ]);
    x.single(
      "conntrackd_netlink_overruns_total",
      "counter",
      "Times the event socket overran (ENOBUFS): events were lost.",
      st.overrun,
    );
    x.single(
      "conntrackd_netlink_resyncs_total",
      "counter",
      "Resyncs with the kernel table (after overruns, or polling).",
      st.kernelTableResync,
    );
    x.single(
      "conntrackd_netlink_buffer_size_bytes",
      "gauge",
      "Receive buffer of the event socket.",
      f.bufferSize ?? 0,
    );
    x.single(
      "conntrackd_kernel_table_flushes_total",
      "counter",
      "Scheduled flushes of the kernel table (-t).",
      st.kernelTableFlush,
    );
  }
  if (f.kernel) {
    x.single(
      "conntrackd_kernel_table_entries",
      "gauge",
      "Entries in the conntrack table of the daemon's network namespace (nf_conntrack_count).",
      f.kernel.entries,
    );
    x.single(
      "conntrackd_kernel_table_entries_limit",
      "gauge",
      "Size limit of that table (nf_conntrack_max).",
      f.kernel.limit,
    );
  }
  x.family("conntrackd_control_errors_total", "counter", "Control socket requests that failed.", [
    [{ kind: "read_failed" }, st.localReadFailed],
    [{ kind: "unknown_request" }, st.localUnknownRequest],
  ]);

  renderHa(x, f.ha);
  return x.toString();
}

function renderSync(x: Exposition, s: SyncView): void {
  const c = s.counters;
  x.family("conntrackd_sync_messages_total", "counter", "Sync messages sent to and accepted from the peer.", [
    [{ direction: "sent", kind: "data" }, c.dataSent],
    [{ direction: "sent", kind: "control" }, c.controlSent],
    [{ direction: "received", kind: "data" }, c.dataReceived],
    [{ direction: "received", kind: "control" }, c.controlReceived],
  ]);
  let sent = 0, received = 0;
  for (const l of s.links) sent += l.sent.bytes, received += l.received.bytes;
  x.family("conntrackd_sync_bytes_total", "counter", "Sync bytes on all dedicated links.", [
    [{ direction: "sent" }, sent],
    [{ direction: "received" }, received],
  ]);
  if (s.mode === "FTFW") {
    x.single(
      "conntrackd_sync_resent_messages_total",
      "counter",
      "FTFW: messages sent again (NACKed by the peer, or never acknowledged).",
      c.resent,
    );
    x.family("conntrackd_sync_nacks_total", "counter", "FTFW: negative acknowledgements (gap reports).", [
      [{ direction: "sent" }, c.nackSent],
      [{ direction: "received" }, c.nackReceived],
    ]);
  }
  x.single(
    "conntrackd_sync_lost_messages_total",
    "counter",
    "Messages missing in the peer's sequence (counted as -s network's `Packets lost`).",
    s.net.lost,
  );
  x.single(
    "conntrackd_sync_stale_messages_total",
    "counter",
    "Messages that arrived with an old sequence number (-s network's `Packets before`).",
    s.net.before,
  );
  const n = s.net;
  x.family("conntrackd_sync_malformed_messages_total", "counter", "Received messages rejected, by reason.", [
    [{ kind: "wrong_version" }, n.badVersion],
    [{ kind: "bad_header" }, n.badHeader],
    [{ kind: "bad_payload" }, n.badPayload],
    [{ kind: "bad_type" }, n.badType],
    [{ kind: "truncated" }, n.truncated],
    [{ kind: "bad_size" }, n.badSize],
  ]);

  const link = (l: SyncView["links"][number]) => ({ link: l.device, kind: l.kind });
  x.family(
    "conntrackd_link_up",
    "gauge",
    "1 when the dedicated link's interface is up with carrier (status RUNNING), else 0.",
    s.links.map((l) => [link(l), l.status === "RUNNING" ? 1 : 0]),
  );
  x.family(
    "conntrackd_link_state",
    "gauge",
    "The dedicated link's interface status as -s link shows it (RUNNING, NO-CARRIER, DOWN): 1 for the current one.",
    s.links.flatMap((l) =>
      (["RUNNING", "NO-CARRIER", "DOWN"] as const).map((state): Sample => [
        { ...link(l), state },
        l.status === state ? 1 : 0,
      ])
    ),
  );
  x.family(
    "conntrackd_link_active",
    "gauge",
    "1 for the link that transmits (role ACTIVE), 0 for a backup link.",
    s.links.map((l) => [link(l), l.active ? 1 : 0]),
  );
  const dir = (f: (l: SyncView["links"][number]) => [number, number]) =>
    s.links.flatMap((l): Sample[] => {
      const [out, inn] = f(l);
      return [[{ ...link(l), direction: "sent" }, out], [{ ...link(l), direction: "received" }, inn]];
    });
  x.family(
    "conntrackd_link_bytes_total",
    "counter",
    "Bytes sent and received on the link.",
    dir((l) => [l.sent.bytes, l.received.bytes]),
  );
  x.family(
    "conntrackd_link_packets_total",
    "counter",
    "Datagrams (TCP: writes and reads) sent and received on the link.",
    dir((l) => [l.sent.packets, l.received.packets]),
  );
  x.family(
    "conntrackd_link_errors_total",
    "counter",
    "Send and receive errors on the link.",
    dir((l) => [l.sent.errors, l.received.errors]),
  );
  x.family(
    "conntrackd_link_tcp_connected",
    "gauge",
    "TCP links: 1 while the connection is up (server: accepted from the peer; client: to the peer).",
    s.links.filter((l) => l.tcp !== null).flatMap((l): Sample[] => [
      [{ ...link(l), connection: "server" }, l.tcp!.server ? 1 : 0],
      [{ ...link(l), connection: "client" }, l.tcp!.client ? 1 : 0],
    ]),
  );

  x.family(
    "conntrackd_queue_entries",
    "gauge",
    "Messages waiting in the queue.",
    s.queues.map((q) => [{ queue: q.name }, q.length]),
  );
  x.family(
    "conntrackd_queue_entries_limit",
    "gauge",
    "The most messages the queue holds.",
    s.queues.map((q) => [{ queue: q.name }, q.max]),
  );
  x.family(
    "conntrackd_queue_full_total",
    "counter",
    "Messages that found the queue full (-s queue's `not enough space errors`).",
    s.queues.map((q) => [{ queue: q.name }, q.noSpaceErrors]),
  );
  x.single(
    "conntrackd_queue_control_messages",
    "gauge",
    "Control messages (ACK, NACK, resync, alive) alive in any queue (-s queue's `allocated queue nodes`).",
    s.allocatedControl,
  );

  const cm = s.commit;
  x.single(
    "conntrackd_commits_total",
    "counter",
    "Commits of the external cache run (-c, ha primary).",
    cm.count,
  );
  if (cm.count > 0) {
    x.single(
      "conntrackd_commit_last_duration_seconds",
      "gauge",
      "How long the last commit took.",
      cm.lastSeconds,
    );
    x.single(
      "conntrackd_commit_last_end_timestamp_seconds",
      "gauge",
      "When the last commit ended, in seconds since the epoch.",
      cm.lastEnd,
    );
    const last: Sample[] = [];
    for (const [table, r] of [["ct", cm.last.ct], ["expect", cm.last.expect]] as const) {
      if (!r) continue;
      last.push([{ table, result: "ok" }, r[0]], [{ table, result: "failed" }, r[1]]);
    }
    x.family(
      "conntrackd_commit_last_entries",
      "gauge",
      "Entries the last commit wrote into the kernel table, and those it could not.",
      last,
    );
  }
  const committed: Sample[] = [];
  for (const c of s.caches) {
    if (c.cache !== "external") continue;
    committed.push([{ table: c.table, result: "ok" }, c.stats.commitOk]);
    committed.push([{ table: c.table, result: "failed" }, c.stats.commitFail]);
  }
  x.family(
    "conntrackd_commit_entries_total",
    "counter",
    "Entries committed to the kernel table by all commits.",
    committed,
  );
}

function renderHa(x: Exposition, ha: HaRecord): void {
  const states = ["primary", "backup", "fault"] as const;
  x.family(
    "conntrackd_ha_state",
    "gauge",
    "1 for the state ctkit's `ha` put the node in last (all 0 before the first transition).",
    states.map((s) => [{ state: s }, ha.state === s ? 1 : 0]),
  );
  x.family(
    "conntrackd_ha_transitions_total",
    "counter",
    "Transitions run by ctkit's `ha` (control requests 100-103).",
    states.map((s) => [{ state: s }, ha.transitions[s]]),
  );
  if (ha.state === null) return;
  x.single(
    "conntrackd_ha_last_transition_timestamp_seconds",
    "gauge",
    "When the last transition ended, in seconds since the epoch.",
    ha.lastEnd,
  );
  x.single(
    "conntrackd_ha_last_transition_duration_seconds",
    "gauge",
    "How long the last transition took inside the daemon.",
    ha.lastSeconds,
  );
  x.family(
    "conntrackd_ha_last_transition_step_duration_seconds",
    "gauge",
    "The last transition's steps (primary: commit, guard_lift, flush, resync, bulk_send).",
    ha.steps.map(([step, secs]) => [{ step }, secs]),
  );
}
