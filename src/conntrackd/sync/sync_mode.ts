// Sync mode (sync-mode.c): the internal cache (or bypass) fed by the kernel,
// one of FTFW/NOTRACK/ALARM carrying its changes over the dedicated links, the
// external cache (or direct injection) fed by the peers, commit, and the
// control requests that act on all of it.
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import type { Config, SyncConfig } from "../config/types.ts";
import * as R from "../client/codes.ts";
import {
  C_OBJ_DEAD,
  type Cache,
  type CacheHooks,
  type CacheObject,
  formatCacheStats,
  formatCacheStatsExtended,
  now,
} from "../cache/cache.ts";
import { dumpConntrackLine } from "../cache/ct_object.ts";
import { dumpExpectLine } from "../cache/exp_object.ts";
import { LinkWatcher, MultiChannel, pollFds, readyFds } from "../channel/mod.ts";
import type { Ctnl } from "../ctnl/ctnl.ts";
import { KernelTable } from "../ctnl/kernel.ts";
import { yieldToLoop } from "../ctnl/events.ts";
import type { CtFilter } from "../filter/mod.ts";
import type { DaemonLog } from "../daemon/log.ts";
import { formatTrafficStats, type RuntimeStats } from "../daemon/runtime_stats.ts";
import type { CtHandler, ExpHandler, Mode, Reply } from "../modes/mode.ts";
import { ORIGIN_COMMIT, ORIGIN_INJECT } from "../modes/mode.ts";
import { writeDump } from "../modes/dump.ts";
import { formatConntrack } from "../../conntrack/format/text.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { AlarmProtocol, refreshDelayMs } from "./alarm.ts";
import { Committer } from "./commit.ts";
import { ExternalCache, type ExternalHandler, ExternalInject, formatInjectStats } from "./external.ts";
import { FtfwProtocol } from "./ftfw.ts";
import { bypassHandler, BypassStats, InternalCache, nodeOf } from "./internal.ts";
import { NotrackProtocol } from "./notrack.ts";
import type { SyncContext, SyncObject, SyncProtocol } from "./protocol.ts";
import {
  formatQueueStats,
  Queue,
  type QueueNode,
  registerQueueStats,
  unregisterQueueStats,
} from "./queue.ts";
import { SeqTracker } from "./sequence.ts";
import { Transmitter } from "./tx.ts";
import {
  CT_DEL,
  CT_NEW,
  CT_UPD,
  decodeMessages,
  EXP_DEL,
  EXP_NEW,
  EXP_UPD,
  type MessageHeader,
  MSG_CTL,
  MSG_DATA,
  type NetworkStats,
  newNetworkStats,
} from "./wire/mod.ts";
import { formatNetworkStats, formatSyncStats } from "./stats_text.ts";
import { haRequest, type HaSteps, setNewEvents } from "./ha.ts";
import { catchUpAfterCommit, withoutNewEvents } from "./commit_catchup.ts";
import { isHaRequest } from "../ha/codes.ts";
import type { AuthContext } from "../auth/context.ts";
import { AUTH_REPLY_ERROR, AUTH_REPLY_MARKER, AUTH_REPLY_OK, RELOAD_KEYS } from "../auth/codes.ts";
import { type SyncView, syncView } from "../metrics/sync_view.ts";

export interface SyncModeDeps {
  config: Config;
  log: DaemonLog;
  stats: RuntimeStats;
  ctnl: Ctnl;
  filter: CtFilter;
  /** The Sync section's Authentication (src/conntrackd/auth/), set up by the daemon; none without it. */
  auth?: AuthContext | null;
}

const INT_MAX = 0x7fffffff;
/** Requests that do not wait for the previous commit's catch-up dump. */
const COMMITS = new Set([R.CT_COMMIT, R.EXP_COMMIT, R.ALL_COMMIT]);
/** How long a partly filled datagram waits for more messages (setTimeout(1) takes about 2 ms here). */
const FLUSH_DELAY_MS = 1;
/** Pause between receive rounds while datagrams keep arriving, so that one round drains several. */
const RECEIVE_PAUSE_MS = 1;

export class SyncMode implements Mode {
  readonly populate: boolean;
  readonly resync: boolean;
  readonly ct: CtHandler;
  readonly exp: ExpHandler | null;
  private readonly sync: SyncConfig;
  private readonly net: NetworkStats = newNetworkStats();
  private readonly seq: SeqTracker;
  private readonly channel: MultiChannel;
  private readonly links: LinkWatcher;
  private readonly tx: Transmitter;
  private readonly txQueue: Queue;
  private readonly protocol: SyncProtocol;
  private readonly internal: InternalCache | null;
  private readonly bypassStats = new BypassStats();
  private readonly external: ExternalHandler;
  private readonly committer: Committer;
  private readonly commitSocket: KernelTable;
  private readonly injectSocket: KernelTable | null;
  private readonly expectations: boolean;
  private resetTimer: ReturnType<typeof setTimeout> | undefined;
  private xmitScheduled = false;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private running = true;
  /** ha's primary transition is committing with the NEW events off (see haSteps). */
  private haCommitting = false;
  /** The dump that caches what the last commit created; requests other than commits wait for it. */
  private catchUp: Promise<void> = Promise.resolve();

  /** Throws Error with the reference's log text when a part cannot be set up. */
  constructor(private readonly deps: SyncModeDeps) {
    const { config, log } = deps;
    const sync = this.sync = config.sync!;
    for (const w of config.startupWarnings) log.log("warning", w);
    this.expectations = sync.expectationSync !== false;
    this.seq = new SeqTracker(this.net);
    const limit = config.general.hashLimit;

    // The creation order of the queues is the `-s queue` order, reversed: rsqueue, errorq, txqueue.
    let rsQueue: Queue | null = null;
    const ctx = this.context();
    if (sync.mode === "FTFW") {
      const ftfw = new FtfwProtocol(ctx, sync.resendQueueSize, sync.ackWindowSize);
      rsQueue = ftfw.rsQueue;
      this.protocol = ftfw;
    } else if (sync.mode === "NOTRACK") this.protocol = new NotrackProtocol(ctx);
    else this.protocol = new AlarmProtocol(ctx, sync.refreshTime);

    const alarm = sync.mode === "ALARM";
    const bypass = sync.mode === "NOTRACK" && sync.disableInternalCache;
    this.populate = this.resync = !bypass;

    try {
      const auth = deps.auth;
      this.channel = MultiChannel.open(sync, {
        log: (prio, msg) => log.log(prio, msg),
        wrap: auth ? (t) => auth.wrap(t) : undefined,
      });
    } catch (e) {
      rsQueue?.destroy();
      throw e instanceof Error ? e : new Error(`can't open channel socket: ${String(e)}`);
    }
    registerQueueStats(this.channel.errorQueue);
    this.tx = new Transmitter(this.channel, sync.commitTimeout === 0, sync.tcpWindowTracking);
    this.txQueue = new Queue("txqueue", INT_MAX, () => this.scheduleXmit());

    if (bypass) {
      log.log("notice", "disabling internal cache");
      this.internal = null;
      this.ct = bypassHandler(this.tx, this.bypassStats, () => this.scheduleFlush());
      this.exp = null;
    } else {
      const hooks: CacheHooks<unknown> = alarm ? this.refreshHooks(sync.refreshTime) : {};
      this.internal = new InternalCache(
        limit,
        (n) => this.protocol.enqueue(n),
        deps.ctnl.get,
        deps.filter,
        hooks,
      );
      this.ct = this.internal.ctHandler;
      this.exp = this.expectations ? this.internal.expHandler : null;
    }

    this.commitSocket = new KernelTable();
    deps.ctnl.registerOrigin(this.commitSocket.portid, ORIGIN_COMMIT);
    const opts = { commitTimeout: sync.commitTimeout, tcpWindowTracking: sync.tcpWindowTracking };
    this.committer = new Committer(this.commitSocket, log, opts);
    if (sync.disableExternalCache) {
      log.log("notice", "disabling external cache");
      this.injectSocket = new KernelTable();
      deps.ctnl.registerOrigin(this.injectSocket.portid, ORIGIN_INJECT);
      this.external = new ExternalInject(this.injectSocket, log, sync.tcpWindowTracking);
    } else {
      this.injectSocket = null;
      this.external = new ExternalCache(limit, alarm ? this.expiryHooks(sync.cacheTimeout) : {});
    }
    try {
      this.links = LinkWatcher.open();
    } catch {
      this.channel.close();
      throw new Error("can't open interface watcher");
    }
  }

  private context(): SyncContext {
    // Fields are read lazily: the protocol is built before the channel exists.
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      get tx() {
        return self.tx;
      },
      get txQueue() {
        return self.txQueue;
      },
      get seq() {
        return self.seq;
      },
      get net() {
        return self.net;
      },
      get log() {
        return self.deps.log;
      },
      get bypass() {
        return self.internal === null;
      },
      internalObjects: () => self.internal?.objects() ?? [],
      sendKernelTable: () => self.sendKernelTable(),
    };
  }

  /** ALARM: every internal entry goes out again at a random time within RefreshTime. */
  private refreshHooks(refreshTime: number): CacheHooks<unknown> {
    const timers = new Map<CacheObject<unknown>, ReturnType<typeof setTimeout>>();
    const arm = (obj: CacheObject<unknown>) => {
      clearTimeout(timers.get(obj));
      timers.set(
        obj,
        setTimeout(() => {
          arm(obj);
          this.protocol.enqueue(nodeOf(obj));
        }, refreshDelayMs(refreshTime)),
      );
    };
    return {
      added: arm,
      updated: arm,
      destroyed: (obj) => {
        clearTimeout(timers.get(obj));
        timers.delete(obj);
      },
    };
  }

  /** ALARM: external entries not refreshed within CacheTimeout are forgotten. */
  private expiryHooks(cacheTimeout: number): CacheHooks<unknown> {
    const timers = new Map<CacheObject<unknown>, { timer: ReturnType<typeof setTimeout>; at: number }>();
    const arm = (obj: CacheObject<unknown>) => {
      clearTimeout(timers.get(obj)?.timer);
      const timer = setTimeout(() => {
        timers.delete(obj);
        const ec = this.external as ExternalCache;
        const cache = (ec.ct.findKey(obj.key) === obj ? ec.ct : ec.exp) as Cache<unknown>;
        cache.remove(obj);
      }, cacheTimeout * 1000);
      timers.set(obj, { timer, at: Date.now() + cacheTimeout * 1000 });
    };
    this.expiresIn = (obj) => {
      const t = timers.get(obj);
      return t ? ` [expires in ${Math.trunc((t.at - Date.now()) / 1000)}s]` : "";
    };
    return {
      added: arm,
      updated: arm,
      destroyed: (obj) => {
        clearTimeout(timers.get(obj)?.timer);
        timers.delete(obj);
      },
    };
  }

  private expiresIn: (obj: CacheObject<unknown>) => string = () => "";

  /** Runs the transmit round once the current batch of work is done (the reference's tx eventfd). */
  private scheduleXmit(): void {
    if (this.xmitScheduled) return;
    this.xmitScheduled = true;
    queueMicrotask(() => {
      this.xmitScheduled = false;
      this.protocol.xmit();
      this.scheduleFlush();
    });
  }

  /**
   * Writes out a partly filled datagram a moment later rather than at once. Full datagrams go as
   * they fill; events arrive in small batches, and a flush per batch (the reference's flush per
   * round) sent about three messages per datagram during a load, each datagram costing a
   * sendto() here and a wake-up at the peer.
   */
  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.tx.pending === 0) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.tx.flush();
    }, FLUSH_DELAY_MS);
  }

  /** NOTRACK bypass `-B`/resync: the kernel table straight onto the wire. */
  private sendKernelTable(): void {
    const lister = new KernelTable();
    lister.dumpConntracks((ct) => {
      if (!this.deps.filter.rejects(ct, true)) this.tx.ct(CT_NEW, ct);
    }).then(() => this.tx.flush())
      .catch(() => this.deps.log.log("error", "can't dump kernel table"))
      .finally(() => lister.close());
  }

  /** After the kernel side is up: receive from the links, and ask for a resync if configured. */
  start(): void {
    this.receiveLoop().catch((e) => {
      this.deps.log.log("error", `sync receive failed: ${e instanceof Error ? e.message : String(e)}`);
    });
    if (this.sync.startupResync && this.sync.mode !== "ALARM") {
      (this.protocol as FtfwProtocol | NotrackProtocol).requestResync();
    }
  }

  private visitorFor(index: number) {
    // With an external cache, plain flows' NEW/UPD skip the Conntrack (ExternalCache.ctNewRaw);
    // injection keeps the Conntrack path.
    const ec = this.external instanceof ExternalCache ? this.external : null;
    return {
      recv: (h: MessageHeader) => {
        const r = this.protocol.recv(h);
        if (r === MSG_DATA || r === MSG_CTL) {
          this.channel.markReceived(index);
          if (r === MSG_DATA) this.tx.counters.dataReceived++;
          else this.tx.counters.controlReceived++;
        }
        return r;
      },
      ctRaw: ec === null ? undefined : (h: MessageHeader, buf: Uint8Array, off: number, end: number) => {
        if (h.type === CT_NEW) return ec.ctNewRaw(buf, off, end);
        if (h.type === CT_UPD) return ec.ctUpdRaw(buf, off, end);
        return false;
      },
      ct: (h: MessageHeader, ct: Conntrack) => {
        if (h.type === CT_NEW) this.external.ctNew(ct);
        else if (h.type === CT_UPD) this.external.ctUpd(ct);
        else if (h.type === CT_DEL) this.external.ctDel(ct);
      },
      exp: (h: MessageHeader, exp: Expect) => {
        if (h.type === EXP_NEW) this.external.expNew(exp);
        else if (h.type === EXP_UPD) this.external.expUpd(exp);
        else if (h.type === EXP_DEL) this.external.expDel(exp);
      },
    };
  }

  /**
   * Waits for the links in a poll() off the JS thread, but only when they are idle: a hand-off
   * to that thread and back costs more than a datagram's work, so while data keeps coming the
   * loop pauses briefly and checks the sockets itself, draining what accumulated meanwhile. A
   * round that stopped at the iteration limit left data behind: the next one follows at once.
   */
  private async receiveLoop(): Promise<void> {
    const limit = this.deps.config.general.eventIterationLimit;
    const visitors = this.channel.channels.map((_, i) => this.visitorFor(i));
    const visit = visitors.map((v) => (data: Uint8Array) => {
      decodeMessages(data, data.length, v, this.net);
    });
    const pause = () => new Promise((resolve) => setTimeout(resolve, RECEIVE_PAUSE_MS));
    while (this.running) {
      // TCP channels change their fds as peers connect: list them afresh for every wait.
      const fds = [...this.channel.fds(), this.links.fd];
      let ready = await pollFds(fds, -1);
      while (this.running && ready.length > 0) {
        let received = 0, left = false;
        for (const fd of ready) {
          if (fd === this.links.fd) {
            this.channel.handleLinkEvents(this.links);
            continue;
          }
          const i = this.channel.channelOf(fd);
          if (i < 0) continue;
          const n = this.channel.receive(i, visit[i], limit);
          received += n;
          if (n >= limit) left = true;
        }
        if (received === 0) break;
        await (left ? yieldToLoop() : pause());
        if (!this.running) return;
        ready = readyFds([...this.channel.fds(), this.links.fd]);
      }
    }
  }

  private get ctExternal(): Cache<Conntrack> | null {
    return this.external instanceof ExternalCache ? this.external.ct : null;
  }

  private get expExternal(): Cache<Expect> | null {
    return this.external instanceof ExternalCache ? this.external.exp : null;
  }

  private cancelReset(): void {
    clearTimeout(this.resetTimer);
    this.resetTimer = undefined;
  }

  private flushInternal(): void {
    this.internal?.ct.flush();
  }

  private dumpCt(cache: Cache<Conntrack> | null, xml: boolean, reply: Reply): Promise<void> {
    return this.dumpCache(cache, xml, reply, dumpConntrackLine);
  }

  private dumpExp(cache: Cache<Expect> | null, xml: boolean, reply: Reply): Promise<void> {
    return this.dumpCache(cache, xml, reply, dumpExpectLine);
  }

  /** `-i`/`-e`: FTFW hides deleted entries kept for acknowledgement; ALARM shows expiry. */
  private async dumpCache<T>(
    cache: Cache<T> | null,
    xml: boolean,
    reply: Reply,
    line: (o: CacheObject<T>, xml: boolean, now: number, suffix: string) => string,
  ): Promise<void> {
    if (!cache) return;
    const t = now(), ftfw = this.sync.mode === "FTFW";
    await writeDump(
      reply,
      cache.values(),
      (o) =>
        ftfw && o.status === C_OBJ_DEAD
          ? null
          : line(o, xml, t, xml ? "" : this.expiresIn(o as CacheObject<unknown>)),
    );
  }

  /** `-i` in bypass mode: the kernel table itself, filtered. */
  private async dumpKernel(reply: Reply): Promise<void> {
    const lister = new KernelTable();
    let text = "";
    try {
      await lister.dumpConntracks((ct) => {
        if (!this.deps.filter.rejects(ct, true)) {
          text += formatConntrack(ct, MSG_UNKNOWN, 0, null, 1024) + "\n";
        }
      });
    } finally {
      lister.close();
    }
    reply.write(text);
  }

  private internalCtStats(): string {
    if (!this.internal) {
      const s = this.bypassStats;
      const u12 = (n: number) => String(n >>> 0).padStart(12);
      return "internal bypass:\n" + `connections new:\t\t${u12(s.new)}\n` +
        `connections updated:\t\t${u12(s.upd)}\n` + `connections destroyed:\t\t${u12(s.del)}\n\n`;
    }
    return formatCacheStats(this.internal.ct);
  }

  private externalCtStats(): string {
    return this.external instanceof ExternalInject
      ? formatInjectStats(this.external.stats)
      : formatCacheStats((this.external as ExternalCache).ct);
  }

  /**
   * A commit for a client: `reply` gets R.COMMIT_MARK once the commit starts (sent at once) and
   * again when it ran to its end, which is how ctkit's client knows it completed.
   */
  private async commit(what: "ct" | "expect" | "all", reply: Reply): Promise<void> {
    this.cancelReset();
    const log = this.deps.log;
    log.log(
      "notice",
      what === "ct"
        ? "committing conntrack cache"
        : what === "expect"
        ? "committing expectation cache"
        : "committing all external caches",
    );
    reply.write(R.COMMIT_MARK);
    await reply.flush();
    // DisableExternalCache: nothing to commit, the entries are in the kernel already.
    const external = this.external;
    if (!(external instanceof ExternalCache)) {
      reply.write(R.COMMIT_MARK);
      return;
    }
    const exp = this.expectations ? external.exp : null;
    const fd = this.deps.ctnl.eventFd;
    // The NEW events of the commit's own entries are skipped and a dump catches up (commit_catchup.ts),
    // unless ha's primary transition does that itself (it rebuilds the internal cache after the commit).
    const internal = this.internal;
    const catchUp = internal !== null && fd !== null && !this.committer.running && !this.haCommitting;
    const run = () => this.committer.run(what, external.ct, exp);
    if (!catchUp) {
      if (await run()) reply.write(R.COMMIT_MARK);
      else log.log("notice", "commit already in progress, skipping");
      return;
    }
    try {
      if (await withoutNewEvents(fd, this.expectations, run)) reply.write(R.COMMIT_MARK);
    } finally {
      // Also after a failed commit: what it did create must reach the internal cache.
      const expectHelpers = this.sync.expectationSync === false ? null : this.sync.expectationSync;
      const { ctnl, filter, stats } = this.deps;
      this.catchUp = this.catchUp.then(async () => {
        stats.eventsReceived += await catchUpAfterCommit({
          dump: ctnl.dump,
          filter,
          internal,
          external,
          expectHelpers,
        });
      }).catch((e) =>
        log.log("error", `caching the committed entries failed: ${e instanceof Error ? e.message : e}`)
      );
    }
  }

  /** ctkit's HA transitions (`ctkit conntrackd ha`) run standard requests in sequence: see ha.ts. */
  private haSteps(): HaSteps {
    return {
      request: async (code, reply) => {
        await this.deps.ctnl.local(code);
        await this.local(code, reply);
      },
      commitRunning: () => this.committer.running,
      externalSizes: () => ({
        ct: this.ctExternal?.stats.active ?? 0,
        exp: this.expectations ? this.expExternal?.stats.active ?? 0 : 0,
      }),
      ignoreCommitEvents: (ignore) => {
        this.haCommitting = ignore;
        this.deps.ctnl.registerOrigin(this.commitSocket.portid, ignore ? ORIGIN_INJECT : ORIGIN_COMMIT);
        setNewEvents(this.deps.ctnl.eventFd, !ignore, this.expectations);
      },
      log: this.deps.log,
    };
  }

  async local(code: number, reply: Reply): Promise<boolean> {
    if (isHaRequest(code)) {
      await haRequest(code, this.haSteps(), reply);
      return true;
    }
    if (code === RELOAD_KEYS) {
      const r = this.deps.auth?.reload("client request") ??
        { ok: false, message: "this daemon's Sync section has no Authentication" };
      reply.write(`${AUTH_REPLY_MARKER}\n${r.ok ? AUTH_REPLY_OK : AUTH_REPLY_ERROR} ${r.message}\n`);
      return true;
    }
    const log = this.deps.log;
    if (!COMMITS.has(code)) await this.catchUp;
    const ext = this.ctExternal;
    switch (code) {
      case R.CT_DUMP_INTERNAL:
      case R.CT_DUMP_INT_XML:
        if (this.internal) await this.dumpCt(this.internal.ct, code === R.CT_DUMP_INT_XML, reply);
        else await this.dumpKernel(reply);
        break;
      case R.CT_DUMP_EXTERNAL:
      case R.CT_DUMP_EXT_XML:
        await this.dumpCt(ext, code === R.CT_DUMP_EXT_XML, reply);
        break;
      case R.CT_COMMIT:
        await this.commit("ct", reply);
        break;
      case R.RESET_TIMERS:
        if (this.resetTimer === undefined) {
          log.log("notice", `flushing conntrack table in ${this.sync.purgeTimeout} secs`);
          this.resetTimer = setTimeout(() => this.resetFire(), this.sync.purgeTimeout * 1000);
        }
        break;
      case R.CT_FLUSH_CACHE:
        if (this.committer.running) {
          log.log("error", "ignoring flush command, commit still in progress");
          break;
        }
        this.cancelReset();
        log.log("notice", "flushing caches");
        this.flushInternal();
        ext?.flush();
        break;
      case R.CT_FLUSH_INT_CACHE:
        this.cancelReset();
        log.log("notice", "flushing internal cache");
        if (this.internal) this.internal.ct.flush();
        else this.deps.ctnl.flushSelective();
        break;
      case R.CT_FLUSH_EXT_CACHE:
        if (this.committer.running) {
          log.log("error", "ignoring flush command, commit still in progress");
          break;
        }
        log.log("notice", "flushing external cache");
        ext?.flush();
        break;
      case R.STATS:
        reply.write(this.internalCtStats());
        reply.write(this.externalCtStats());
        reply.write(formatTrafficStats(this.deps.stats));
        reply.write(this.channel.formatStats());
        reply.write(formatSyncStats(this.net));
        break;
      case R.STATS_NETWORK:
        reply.write(formatNetworkStats(this.net, this.deps.auth?.formatStats()));
        reply.write(this.channel.formatStats());
        break;
      case R.STATS_CACHE:
        if (this.internal) reply.write(formatCacheStatsExtended(this.internal.ct));
        else reply.write(this.internalCtStats());
        if (ext) reply.write(formatCacheStatsExtended(ext));
        else reply.write(this.externalCtStats());
        break;
      case R.STATS_LINK:
        reply.write(this.channel.formatLinkStats(this.links));
        break;
      case R.STATS_QUEUE:
        reply.write(formatQueueStats());
        break;
      case R.EXP_STATS:
        if (!this.expectations) break;
        if (this.internal) reply.write(formatCacheStats(this.internal.exp));
        if (this.external instanceof ExternalCache) reply.write(formatCacheStats(this.external.exp));
        else reply.write(formatInjectStats((this.external as ExternalInject).expStats));
        reply.write(formatTrafficStats(this.deps.stats));
        reply.write(this.channel.formatStats());
        reply.write(formatSyncStats(this.net));
        break;
      case R.EXP_DUMP_INTERNAL:
        if (this.expectations) await this.dumpExp(this.internal?.exp ?? null, false, reply);
        break;
      case R.EXP_DUMP_EXTERNAL:
        if (this.expectations) await this.dumpExp(this.expExternal, false, reply);
        break;
      case R.EXP_DUMP_INT_XML:
        await this.dumpExp(this.internal?.exp ?? null, true, reply);
        break;
      case R.EXP_DUMP_EXT_XML:
        await this.dumpExp(this.expExternal, true, reply);
        break;
      case R.EXP_COMMIT:
        if (this.expectations) await this.commit("expect", reply);
        break;
      case R.ALL_FLUSH_CACHE:
        if (this.committer.running) {
          log.log("error", "ignoring flush command, commit still in progress");
          break;
        }
        this.cancelReset();
        log.log("notice", "flushing caches");
        this.flushInternal();
        ext?.flush();
        if (this.expectations) {
          this.internal?.exp.flush();
          this.expExternal?.flush();
        }
        break;
      case R.ALL_COMMIT:
        await this.commit("all", reply);
        break;
      default:
        this.protocol.local(code, reply);
    }
    return true;
  }

  /** What the Prometheus endpoint reads (metrics/sync_view.ts); built on each scrape. */
  metricsView(): SyncView {
    const ext = this.external;
    return syncView({
      mode: this.sync.mode,
      expectations: this.expectations,
      internal: this.internal,
      bypass: this.internal === null ? this.bypassStats : null,
      external: ext instanceof ExternalCache ? ext : null,
      inject: ext instanceof ExternalInject ? ext : null,
      channel: this.channel,
      links: this.links,
      net: this.net,
      counters: this.tx.counters,
      commit: this.committer.record,
      limit: this.deps.config.general.hashLimit,
    });
  }

  /** `-t` fired: flush the kernel table (selectively) and the internal cache. */
  private resetFire(): void {
    this.resetTimer = undefined;
    this.deps.stats.kernelTableFlush++;
    this.deps.log.log("notice", "flushing kernel conntrack table (scheduled)");
    this.deps.ctnl.flushSelective();
    this.flushInternal();
  }

  kill(): void {
    this.running = false;
    this.cancelReset();
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.tx.flush();
    }
    this.protocol.kill();
    this.channel.close();
    this.deps.auth?.close();
    this.links.close();
    unregisterQueueStats(this.channel.errorQueue);
    this.txQueue.destroy();
    this.commitSocket.close();
    this.injectSocket?.close();
  }
}

export type { QueueNode, SyncObject };
