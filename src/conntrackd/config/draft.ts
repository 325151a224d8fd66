// What the section parsers fill in while reading: the file's values as
// written, with 0 / null meaning "not set". defaults.ts turns a Draft into
// the effective Config.

import type {
  ChannelKind,
  FilterConfig,
  HelperInstance,
  MetricsConfig,
  SyncConfig,
  SyncModeName,
  SyslogFacility,
} from "./types.ts";

export interface Draft {
  general: {
    hashSize: number;
    hashLimit: number;
    logFile: string | null;
    syslog: SyslogFacility | null;
    lockFile: string;
    unixPath: string;
    backlog: number | null;
    netlinkBufferSize: number;
    netlinkBufferSizeMaxGrowth: number;
    netlinkOverrunResync: number;
    netlinkEventsReliable: boolean;
    pollSecs: number | null;
    eventIterationLimit: number;
    scheduler: { type: "RR" | "FIFO" | null; priority: number } | null;
    systemd: boolean;
    filter: FilterConfig;
    /** ctkit's Metrics clause, with the line it starts on. */
    metrics: (MetricsConfig & { line: number }) | null;
  };
  /** Settings shared by the Sync block and its Mode blocks (one set in the reference too). */
  sync: Omit<SyncConfig, "mode"> & {
    present: boolean;
    /** Every Mode block seen; the reference picks FTFW, then ALARM, then NOTRACK. */
    modes: Set<SyncModeName>;
    channelKind: ChannelKind | null;
  };
  stats: { present: boolean; logFile: string | null; syslog: SyslogFacility | null };
  helper: {
    present: boolean;
    setup: boolean;
    types: HelperInstance[];
  };
}

export function newDraft(): Draft {
  return {
    general: {
      hashSize: 0,
      hashLimit: 0,
      logFile: null,
      syslog: null,
      lockFile: "",
      unixPath: "",
      backlog: null,
      netlinkBufferSize: 0,
      netlinkBufferSizeMaxGrowth: 0,
      netlinkOverrunResync: 0,
      netlinkEventsReliable: false,
      pollSecs: null,
      eventIterationLimit: 0,
      scheduler: null,
      // Debian's 1.4.7 is built with systemd support, which turns this on by default.
      systemd: true,
      filter: { kernelspace: false, protocol: null, address: null, state: null },
      metrics: null,
    },
    sync: {
      present: false,
      modes: new Set(),
      refreshTime: 0,
      cacheTimeout: 0,
      commitTimeout: 0,
      purgeTimeout: 0,
      resendQueueSize: 0,
      ackWindowSize: 0,
      disableInternalCache: false,
      disableExternalCache: false,
      startupResync: false,
      channels: [],
      channelKind: null,
      defaultChannel: -1,
      errorQueueLength: 0,
      tcpWindowTracking: false,
      expectationSync: false,
      authentication: null,
    },
    stats: { present: false, logFile: null, syslog: null },
    helper: { present: false, setup: false, types: [] },
  };
}
