// The daemon's side of ctnetlink (the reference's ctnl.c): the start-up dump,
// the event socket and its overrun handling, polling mode, resyncs, and the
// kernel-table requests of the control socket (-F, -R). What happens to each
// entry is the mode's business.
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import {
  NF_NETLINK_CONNTRACK_DESTROY,
  NF_NETLINK_CONNTRACK_EXP_DESTROY,
  NF_NETLINK_CONNTRACK_EXP_NEW,
  NF_NETLINK_CONNTRACK_EXP_UPDATE,
  NF_NETLINK_CONNTRACK_NEW,
  NF_NETLINK_CONNTRACK_UPDATE,
} from "../../netlink/constants.ts";
import { strerror } from "../../../ffi/libc.ts";
import { NetlinkError } from "../../netlink/socket.ts";
import type { Config } from "../config/types.ts";
import * as R from "../client/codes.ts";
import { attachKernelFilter, buildKernelFilter, CtFilter, expectHelperAccepted } from "../filter/mod.ts";
import type { RuntimeStats } from "../daemon/runtime_stats.ts";
import { type Logger, type Mode, ORIGIN_FLUSH, ORIGIN_NOT_ME } from "../modes/mode.ts";
import { EventSocket } from "./events.ts";
import { MSG_DESTROY, MSG_NEW, MSG_UPDATE } from "../../conntrack/format/common.ts";
import { KernelTable } from "./kernel.ts";
import { warmUp } from "./warmup.ts";
import { decodeConntrack } from "../../conntrack/decode.ts";

export interface CtnlDeps {
  config: Config;
  log: Logger;
  stats: RuntimeStats;
  filter: CtFilter;
}

export class Ctnl {
  /** Sockets the daemon owns; `dump` for populate/-R, `resync` for overrun and polling dumps. */
  readonly dump = new KernelTable();
  readonly resyncTable = new KernelTable();
  readonly get = new KernelTable();
  readonly flush = new KernelTable();
  private event: EventSocket | null = null;
  private readonly origins = new Map<number, number>();
  /** Effective event socket buffer size (the `-s runtime` figure). */
  bufferSize = 0;
  private growthWarned = false;
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private mode!: Mode;
  private readonly expectations: boolean;
  private readonly expectHelpers: true | string[];
  /** Filter clauses checked here in user space: every event then needs its Conntrack. */
  private readonly userspaceFilter: boolean;

  constructor(private readonly deps: CtnlDeps) {
    this.origins.set(this.flush.portid, ORIGIN_FLUSH);
    const es = deps.config.sync?.expectationSync ?? false;
    this.expectations = es !== false;
    this.expectHelpers = es === true || es === false ? true : es;
    this.userspaceFilter = !deps.filter.empty && !deps.config.general.filter.kernelspace;
  }

  /** The event socket's descriptor; null when polling (ha's commit pauses its NEW events, sync/ha.ts). */
  get eventFd(): number | null {
    return this.event?.fd ?? null;
  }

  /** Marks events caused by a socket of the daemon (commit, inject) as such. */
  registerOrigin(portid: number, origin: number): void {
    this.origins.set(portid, origin);
  }

  /** ctnl_init after the mode is created: start-up dump, then the event socket (or polling). */
  async start(mode: Mode): Promise<void> {
    this.mode = mode;
    const g = this.deps.config.general;
    if (mode.populate) {
      await this.populateConntracks();
      if (this.expectations && mode.exp) await this.populateExpects();
    }
    if (g.pollSecs !== null) {
      this.pollTimer = setTimeout(() => this.pollTick(), g.pollSecs * 1000);
      this.deps.log.log("notice", "running in polling mode");
      return;
    }
    this.openEventSocket();
    // After the socket is open: events arriving meanwhile wait in the ring.
    warmUp(this.deps.filter, mode.ct.onNewMessage !== undefined && !this.userspaceFilter);
  }

  private groups(): number {
    let g = NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE | NF_NETLINK_CONNTRACK_DESTROY;
    if (this.expectations) {
      g |= NF_NETLINK_CONNTRACK_EXP_NEW | NF_NETLINK_CONNTRACK_EXP_UPDATE | NF_NETLINK_CONNTRACK_EXP_DESTROY;
    }
    return g;
  }

  private openEventSocket(): void {
    const { config, log } = this.deps;
    const g = config.general;
    const ev = this.event = new EventSocket(this.groups());
    if (g.netlinkEventsReliable) {
      ev.setReliable();
      log.log("notice", "reliable ctnetlink event delivery is ENABLED.");
    }
    const f = g.filter;
    if (f.protocol || f.address || f.state) {
      if (f.kernelspace) {
        const prog = buildKernelFilter(f);
        if (prog) {
          try {
            attachKernelFilter(ev.fd, prog);
          } catch (e) {
            const code = (e as { errno?: number }).errno;
            log.log("error", `cannot set event filtering: ${code ? strerror(code) : String(e)}`);
          }
        }
        log.log("notice", "using kernel-space event filtering");
      } else {
        log.log("notice", "using user-space event filtering");
      }
    }
    if (g.netlinkBufferSize && g.netlinkBufferSize <= g.netlinkBufferSizeMaxGrowth) {
      // The kernel doubles what SO_RCVBUF is given, hence the half.
      this.bufferSize = ev.setBuffer(Math.floor(g.netlinkBufferSize / 2));
    } else {
      log.log(
        "notice",
        "NetlinkBufferSize is either not set or is greater than NetlinkBufferSizeMaxGrowth. " +
          "Using current system buffer size",
      );
      this.bufferSize = ev.buffer;
    }
    log.log("notice", `netlink event socket buffer size has been set to ${this.bufferSize} bytes`);
    ev.run({
      conntrack: (type, ct, pid) => this.onConntrackEvent(type, ct, pid),
      newConntrack: (buf, v, off, len, pid) => this.onNewMessage(buf, v, off, len, pid),
      expect: (type, exp, pid) => this.onExpectEvent(type, exp, pid),
      overrun: () => this.onOverrun(),
      failed: () => this.deps.stats.catchEventFailed++,
    }).catch((e) => {
      log.log("error", `event socket failed: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  private origin(portid: number): number {
    return portid === 0 ? ORIGIN_NOT_ME : this.origins.get(portid) ?? ORIGIN_NOT_ME;
  }

  /**
   * A NEW event the mode caches straight from its message (sync/internal.ts), when the Filter
   * needs no Conntrack: the sanity check alone is what the fast path's parse already demands.
   * False leaves the event to onConntrackEvent, decoded.
   */
  private onNewMessage(buf: Uint8Array, v: DataView, off: number, len: number, portid: number): boolean {
    const h = this.mode.ct;
    if (!h.onNewMessage || this.userspaceFilter) return false;
    if (!h.onNewMessage(buf, v, off, len, this.origin(portid))) return false;
    this.deps.stats.eventsReceived++;
    return true;
  }

  private onConntrackEvent(type: number, ct: Conntrack, portid: number): void {
    const { stats, filter, config } = this.deps;
    stats.eventsReceived++;
    if (filter.rejects(ct, !config.general.filter.kernelspace)) {
      stats.eventsFiltered++;
      return;
    }
    const origin = this.origin(portid);
    const h = this.mode.ct;
    switch (type) {
      case MSG_NEW:
        h.onNew(ct, origin);
        break;
      case MSG_UPDATE:
        h.onUpdate(ct, origin);
        break;
      case MSG_DESTROY:
        if (h.onDestroy(ct, origin)) stats.addTraffic(ct);
        break;
      default:
        stats.eventsUnknownType++;
    }
  }

  private expectWanted(exp: Expect): boolean {
    if (!expectHelperAccepted(exp, this.expectHelpers)) return false;
    return this.mode.exp?.hasMaster(exp.master) ?? false;
  }

  private onExpectEvent(type: number, exp: Expect, portid: number): void {
    const { stats } = this.deps;
    stats.eventsReceived++;
    if (!expectHelperAccepted(exp, this.expectHelpers)) {
      stats.eventsFiltered++;
      return;
    }
    const h = this.mode.exp;
    if (!h || !h.hasMaster(exp.master)) return;
    const origin = this.origin(portid);
    switch (type) {
      case MSG_NEW:
        h.onNew(exp, origin);
        break;
      case MSG_UPDATE:
        h.onUpdate(exp, origin);
        break;
      case MSG_DESTROY:
        h.onDestroy(exp, origin);
        break;
      default:
        stats.eventsUnknownType++;
    }
  }

  /** ENOBUFS: grow the buffer within NetlinkBufferSizeMaxGrowth and schedule a resync. */
  private onOverrun(): void {
    const { config, log, stats } = this.deps;
    const g = config.general;
    if (!this.growthWarned && this.event) {
      const s = this.bufferSize;
      if (s * 2 > g.netlinkBufferSizeMaxGrowth) {
        log.log(
          "warning",
          "netlink event socket buffer size cannot be doubled further since it will exceed " +
            "NetlinkBufferSizeMaxGrowth. We are likely to be losing events, this may lead to " +
            "unsynchronized replicas. Please, consider increasing netlink socket buffer size via " +
            "NetlinkBufferSize and NetlinkBufferSizeMaxGrowth clauses in conntrackd.conf",
        );
        this.growthWarned = true;
      } else {
        this.bufferSize = this.event.setBuffer(s);
        log.log("notice", `netlink event socket buffer size has been doubled to ${this.bufferSize} bytes`);
      }
    }
    if (g.netlinkOverrunResync > 0 && this.mode.resync) {
      // add_alarm re-arms: a later overrun pushes the resync back.
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.overrunResync(), g.netlinkOverrunResync * 1000);
    }
    stats.catchEventFailed++;
    stats.overrun++;
  }

  private async overrunResync(): Promise<void> {
    this.resyncTimer = undefined;
    this.deps.stats.kernelTableResync++;
    try {
      await this.resyncTable.dumpConntracks((ct) => this.mode.ct.resync(ct));
      await this.mode.ct.purge();
    } catch (e) {
      // Another overrun will schedule another resync; the daemon carries on.
      this.deps.log.log("error", `resync with the kernel failed: ${describe(e)}`);
    }
  }

  private async pollTick(): Promise<void> {
    const mode = this.mode;
    try {
      await mode.ct.purge();
      if (mode.exp) await mode.exp.purge();
      await this.resyncTable.dumpConntracks((ct) => mode.ct.resync(ct));
      if (this.expectations && mode.exp) {
        const h = mode.exp;
        await this.resyncTable.dumpExpects((exp) => {
          if (this.expectWanted(exp)) h.resync(exp);
        });
      }
    } catch (e) {
      this.deps.log.log("error", `polling failed: ${describe(e)}`);
    }
    const secs = this.deps.config.general.pollSecs;
    if (secs !== null) this.pollTimer = setTimeout(() => this.pollTick(), secs * 1000);
  }

  /** Fills the internal cache from the kernel table (start-up and `-R`). */
  populateConntracks(): Promise<void> {
    const { filter } = this.deps;
    const h = this.mode.ct;
    const populate = (ct: Conntrack) => {
      if (!filter.rejects(ct, true)) h.populate(ct);
    };
    // Plain flows are cached or merged from one flat parse of their message. Without a Filter
    // clause only the sanity check applies, which a flat parse already demands.
    if (!h.populateMessage || !filter.empty) return this.dump.dumpConntracks(populate);
    return this.dump.dumpConntrackMessages((buf, v, off, len) => {
      if (!h.populateMessage!(buf, v, off, len)) populate(decodeConntrack(buf, v, off, len));
    });
  }

  populateExpects(): Promise<void> {
    const h = this.mode.exp;
    if (!h) return Promise.resolve();
    return this.dump.dumpExpects((exp) => {
      if (this.expectWanted(exp)) h.populate(exp);
    });
  }

  /** `-F`: deletes every kernel entry the Filter does not exclude; runs in the background. */
  private flushMaster(): void {
    this.deps.stats.kernelTableFlush++;
    this.deps.log.log("notice", "flushing kernel conntrack table");
    this.flushSelective();
  }

  /** Deletes every kernel entry the Filter does not exclude (nl_flush_conntrack_table_selective). */
  flushSelective(): void {
    const { log, filter } = this.deps;
    const doomed: Conntrack[] = [];
    // A dump socket of its own, as the reference's flush child opens one.
    const lister = new KernelTable();
    lister.dumpConntracks((ct) => {
      if (!filter.rejects(ct, true)) doomed.push(ct);
    })
      .then(() => this.flush.deleteConntracks(doomed))
      .catch((e) => log.log("error", `flush failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => lister.close());
  }

  private async resyncMaster(): Promise<void> {
    if (!this.mode.populate) {
      this.deps.log.log("notice", "resync is unsupported in this mode");
      return;
    }
    this.deps.stats.kernelTableResync++;
    this.deps.log.log("notice", "resync with master conntrack table");
    await this.populateConntracks();
  }

  private expFlushMaster(): void {
    if (!this.expectations) return;
    this.deps.stats.kernelTableFlush++;
    this.deps.log.log("notice", "flushing kernel expect table");
    this.flush.flushExpects().catch(() => {});
  }

  private async expResyncMaster(): Promise<void> {
    if (!this.expectations) return;
    if (!this.mode.populate) {
      this.deps.log.log("notice", "resync is unsupported in this mode");
      return;
    }
    this.deps.stats.kernelTableResync++;
    this.deps.log.log("notice", "resync with master expect table");
    await this.populateExpects();
  }

  /** The kernel-table part of ctnl_local; the mode handles the rest. */
  async local(code: number): Promise<void> {
    switch (code) {
      case R.CT_FLUSH_MASTER:
        this.flushMaster();
        break;
      case R.CT_RESYNC_MASTER:
        await this.resyncMaster();
        break;
      case R.EXP_FLUSH_MASTER:
        this.expFlushMaster();
        break;
      case R.EXP_RESYNC_MASTER:
        await this.expResyncMaster();
        break;
      case R.ALL_FLUSH_MASTER:
        this.flushMaster();
        this.expFlushMaster();
        break;
      case R.ALL_RESYNC_MASTER:
        await this.resyncMaster();
        await this.expResyncMaster();
        break;
    }
  }

  kill(): void {
    this.event?.close();
    clearTimeout(this.resyncTimer);
    clearTimeout(this.pollTimer);
  }
}

/** A failure as a log line: netlink errors by their C text. */
function describe(e: unknown): string {
  if (e instanceof NetlinkError) return strerror(e.errno);
  return e instanceof Error ? e.message : String(e);
}
