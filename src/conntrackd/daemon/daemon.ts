// The conntrackd daemon's life cycle, in the reference's order: log, lock
// file, initialisation (scheduler, control socket, signals, kernel side and
// mode), then console or background running until SIGINT/SIGTERM or `-k`.
import type { Config } from "../config/types.ts";
import * as R from "../client/codes.ts";
import { CtFilter } from "../filter/mod.ts";
import { Ctnl } from "../ctnl/ctnl.ts";
import type { Mode } from "../modes/mode.ts";
import { Reply } from "../modes/mode.ts";
import { StatsMode } from "../modes/stats.ts";
import { SyncMode } from "../sync/sync_mode.ts";
import { HelperMode } from "../helpers/mode.ts";
import { DaemonLog } from "./log.ts";
import { acquireLock, releaseLock } from "./lock.ts";
import { applyScheduler } from "./scheduler.ts";
import { LocalServer } from "./local_server.ts";
import { formatRuntimeStats, RuntimeStats } from "./runtime_stats.ts";
import { SystemdNotifier } from "./systemd.ts";
import { startHeapTrimming } from "./heap_trim.ts";
import { type MetricsServer, startMetrics } from "../metrics/mod.ts";
import {
  changeToRootDir,
  closeStdin,
  detachStdio,
  enterDaemonSession,
  findStdioCopies,
  isDaemonChild,
  reportFailure,
  reportReady,
  setDaemonUmask,
  spawnDaemonChild,
} from "./daemonize.ts";

const INIT_FAILED = "conntrackd cannot start, please review your configuration";

export class Daemon {
  readonly stats = new RuntimeStats();
  ctnl: Ctnl | null = null;
  mode: Mode | null = null;
  helpers: HelperMode | null = null;
  private server: LocalServer | null = null;
  /** ctkit's Prometheus endpoint, with a `Metrics` clause only. */
  private metrics: MetricsServer | null = null;
  private stopping = false;
  readonly systemd: SystemdNotifier;

  constructor(readonly config: Config, readonly log: DaemonLog) {
    this.systemd = new SystemdNotifier(config.general.systemd);
  }

  /** init(): everything before the main loop. False after logging why it failed. */
  async init(): Promise<boolean> {
    const { config, log } = this;
    const warning = applyScheduler(config.general.scheduler);
    if (warning) log.log("warning", warning);
    try {
      this.server = LocalServer.create(config.general.unix.path);
    } catch {
      log.log("error", "can't open unix socket!");
      return false;
    }
    if (config.general.metrics) {
      try {
        this.metrics = startMetrics(config.general.metrics, config.general.hashLimit, this);
      } catch (e) {
        log.log("error", e instanceof Error ? e.message : String(e));
        return false;
      }
      log.log("notice", `metrics: serving http://${this.metrics.where}/metrics`);
    }
    Deno.addSignalListener("SIGINT", () => this.kill());
    Deno.addSignalListener("SIGTERM", () => this.kill());
    if (config.sync || config.stats) {
      const filter = new CtFilter(config.general.filter);
      const ctnl = this.ctnl = new Ctnl({ config, log, stats: this.stats, filter });
      let mode: Mode;
      try {
        // ctkit's Authentication clause: loaded only when the Sync section has it.
        const auth = config.sync?.authentication
          ? (await import("../auth/mod.ts")).openAuth(config, (prio, msg) => log.log(prio, msg))
          : null;
        mode = config.stats
          ? new StatsMode({
            hashLimit: config.general.hashLimit,
            log,
            stats: this.stats,
            get: ctnl.get,
            filter,
          })
          : new SyncMode({ config, log, stats: this.stats, ctnl, filter, auth });
      } catch (e) {
        log.log("error", e instanceof Error ? e.message : String(e));
        log.log("error", "initialization failed");
        return false;
      }
      this.mode = mode;
      try {
        await ctnl.start(mode);
      } catch (e) {
        log.log("error", `can't open netlink handler: ${e instanceof Error ? e.message : String(e)}`);
        log.log("error", "no ctnetlink kernel support?");
        return false;
      }
    }
    // After Sync/Stats, as the reference; the mode undoes its own set-up when it fails.
    if (config.helper && !(this.helpers = HelperMode.start(config, log))) return false;
    this.stats.startTime = Math.floor(Date.now() / 1000);
    log.log("notice", "initialization completed");
    return true;
  }

  /** Serves the control socket until the daemon stops. */
  serve(): void {
    this.server!.serve((code, send) => this.request(code, send), {
      onReadFailed: () => this.stats.localReadFailed++,
      onAcceptLog: (prio, message) => this.log.log(prio, message),
    });
  }

  /** local_handler: the core's requests, then the kernel side and the mode; `send` streams long replies. */
  async request(code: number, send?: (text: string) => Promise<void>): Promise<string[]> {
    const reply = new Reply(send ?? null);
    switch (code) {
      case R.KILL:
        await this.kill();
        return [];
      case R.STATS_RUNTIME:
        reply.write(
          formatRuntimeStats(this.stats, this.ctnl?.bufferSize ?? 0, Math.floor(Date.now() / 1000)),
        );
        break;
      case R.STATS_PROCESS:
        // Dumps and flushes run inside this process: there are no children to list.
        break;
    }
    if (this.ctnl && this.mode) {
      await this.ctnl.local(code);
      if (!(await this.mode.local(code, reply))) this.stats.localUnknownRequest++;
    }
    return reply.take();
  }

  /** killer(): close everything, remove the socket and the lock, log, exit 0. */
  async kill(): Promise<never> {
    if (!this.stopping) {
      this.stopping = true;
      this.server?.close();
      this.metrics?.close();
      this.ctnl?.kill();
      this.mode?.kill();
      this.helpers?.kill();
      releaseLock(this.config.general.lockFile);
      this.log.log("notice", "---- shutdown received ----");
      await this.log.close();
      this.systemd.stopping();
    }
    Deno.exit(0);
  }
}

/**
 * Runs the daemon (console mode, or `-d`) and returns the exit status when it
 * cannot start; a running daemon ends through Deno.exit().
 */
export async function runDaemon(
  config: Config,
  daemonize: boolean,
): Promise<number> {
  // -d: a detached copy of this process does the work; this one reports how its start went.
  if (daemonize && !isDaemonChild()) {
    // sd_ct_mainpid: the foreground process tells systemd which process the daemon is.
    return await spawnDaemonChild({
      onReady: (pid) => new SystemdNotifier(config.general.systemd).mainPid(pid),
    });
  }
  enterDaemonSession();
  if (isDaemonChild()) findStdioCopies();
  // Files the daemon creates (socket, logs, lock) are private to root, as with the reference.
  setDaemonUmask();
  const g = config.general;
  const opened = DaemonLog.open({
    logFile: g.logFile,
    syslog: g.syslog,
    statsLogFile: config.stats?.logFile ?? null,
    statsSyslog: config.stats?.syslog ?? null,
    // A daemon (-d) writes only to its log once the log is open, as dlog() does.
    console: !daemonize,
  });
  if (!opened.ok) {
    await Deno.stderr.write(new TextEncoder().encode(opened.message));
    return failed(1);
  }
  const log = opened.log;
  const lock = acquireLock(g.lockFile);
  if (!lock.ok) {
    log.log("error", lock.message);
    await log.close();
    return failed(1);
  }
  const daemon = new Daemon(config, log);
  // A failure in one request or timer must not take the daemon (and its caches) down.
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.log("error", `internal error: ${errorText(e.reason)}`);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.log("error", `internal error: ${errorText(e.error)}`);
  });
  let ok = false;
  try {
    ok = await daemon.init();
  } catch (e) {
    log.log("error", e instanceof Error ? e.message : String(e));
  }
  if (!ok) {
    log.log("error", INIT_FAILED);
    daemon.ctnl?.kill();
    await log.close();
    releaseLock(g.lockFile);
    return failed(1);
  }
  const chdirWarning = changeToRootDir();
  if (chdirWarning) log.log("warning", chdirWarning);
  closeStdin();
  const watchdogWarning = daemon.systemd.startWatchdog();
  if (watchdogWarning) log.log("warning", watchdogWarning);
  if (isDaemonChild()) {
    reportReady();
    detachStdio();
    log.log("notice", "-- starting in daemon mode --");
  } else {
    log.log("notice", "-- starting in console mode --");
  }
  daemon.systemd.ready();
  daemon.mode?.start?.();
  daemon.serve();
  startHeapTrimming();
  // Runs until a signal or -k calls Deno.exit(); this timer keeps the process
  // alive even with nothing else to wait on (no control socket, no kernel side).
  setInterval(() => {}, 1 << 30);
  return await new Promise<number>(() => {});
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function failed(status: number): number {
  if (isDaemonChild()) reportFailure(status);
  return status;
}
