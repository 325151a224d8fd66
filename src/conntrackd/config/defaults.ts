// Turns what the file said into the effective configuration: the reference's
// defaults (0 means "use the default" for these numbers) and the warnings it
// prints later at start-up about settings it then ignores.

import type { Draft } from "./draft.ts";
import type { Config, SyncConfig, SyncModeName } from "./types.ts";

export const DEFAULTS = {
  hashSize: 65536,
  hashLimit: 262144,
  lockFile: "/var/lock/conntrackd.lock",
  netlinkOverrunResync: 30,
  eventIterationLimit: 100,
  commitSteps: 8192,
  refreshTime: 60,
  cacheTimeout: 180,
  purgeTimeout: 60,
  resendQueueSize: 131072,
  ackWindowSize: 300,
  errorQueueLength: 128,
} as const;

const or = (v: number, dflt: number) => v === 0 ? dflt : v;

export function applyDefaults(d: Draft, file: string, warnings: string[]): Config {
  const g = d.general;
  const out: string[] = [...warnings];
  const startup: string[] = [];
  const cfg: Config = {
    file,
    general: {
      hashSize: or(g.hashSize, DEFAULTS.hashSize),
      hashLimit: or(g.hashLimit, DEFAULTS.hashLimit),
      logFile: g.logFile,
      syslog: g.syslog,
      lockFile: g.lockFile || DEFAULTS.lockFile,
      unix: { path: g.unixPath, backlog: g.backlog },
      netlinkBufferSize: g.netlinkBufferSize,
      netlinkBufferSizeMaxGrowth: g.netlinkBufferSizeMaxGrowth,
      netlinkOverrunResync: or(g.netlinkOverrunResync, DEFAULTS.netlinkOverrunResync),
      netlinkEventsReliable: g.netlinkEventsReliable,
      pollSecs: g.pollSecs,
      eventIterationLimit: or(g.eventIterationLimit, DEFAULTS.eventIterationLimit),
      scheduler: g.scheduler,
      systemd: g.systemd,
      filter: g.filter,
      commitSteps: DEFAULTS.commitSteps,
      metrics: g.metrics && { address: g.metrics.address, family: g.metrics.family, port: g.metrics.port },
    },
    sync: d.sync.present ? syncConfig(d, out, startup) : null,
    stats: d.stats.present ? { logFile: d.stats.logFile, syslog: d.stats.syslog } : null,
    helper: d.helper.present ? { setup: d.helper.setup, types: d.helper.types } : null,
    warnings: out,
    startupWarnings: startup,
  };
  return cfg;
}

function syncConfig(d: Draft, warnings: string[], startup: string[]): SyncConfig {
  const s = d.sync;
  // Several Mode blocks may be given; the reference tests FTFW, then ALARM, then NOTRACK.
  let mode: SyncModeName | undefined = (["FTFW", "ALARM", "NOTRACK"] as const).find((m) => s.modes.has(m));
  if (!mode) {
    // Logged by the daemon when sync mode starts (init_sync), never by the client.
    startup.push("No synchronization mode specified. Defaulting to FT-FW mode.");
    mode = "FTFW";
  }
  let commitTimeout = s.commitTimeout;
  if (s.disableExternalCache && commitTimeout !== 0) {
    warnings.push(
      "`CommitTimeout' can't be combined with `DisableExternalCache', ignoring this option. " +
        "Fix your configuration file.",
    );
    commitTimeout = 0;
  }
  return {
    mode,
    refreshTime: or(s.refreshTime, DEFAULTS.refreshTime),
    cacheTimeout: or(s.cacheTimeout, DEFAULTS.cacheTimeout),
    commitTimeout,
    purgeTimeout: or(s.purgeTimeout, DEFAULTS.purgeTimeout),
    resendQueueSize: or(s.resendQueueSize, DEFAULTS.resendQueueSize),
    ackWindowSize: or(s.ackWindowSize, DEFAULTS.ackWindowSize),
    disableInternalCache: s.disableInternalCache,
    disableExternalCache: s.disableExternalCache,
    startupResync: s.startupResync,
    channels: s.channels,
    defaultChannel: s.defaultChannel < 0 ? 0 : s.defaultChannel,
    errorQueueLength: or(s.errorQueueLength, DEFAULTS.errorQueueLength),
    tcpWindowTracking: s.tcpWindowTracking,
    expectationSync: s.expectationSync,
    authentication: s.authentication,
  };
}
