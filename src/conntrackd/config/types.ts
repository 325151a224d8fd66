// Typed model of a conntrackd.conf (1.4.7 grammar). Every field holds the
// effective value after defaults were filled in (see defaults.ts); numeric
// fields where the file says 0 already carry the default that 0 stands for.

/** Syslog facility names the grammar knows. */
export type SyslogFacility =
  | "daemon"
  | "local0"
  | "local1"
  | "local2"
  | "local3"
  | "local4"
  | "local5"
  | "local6"
  | "local7";

/** Accept = only matching entries pass; Ignore = matching entries are dropped. */
export type FilterPolicy = "accept" | "ignore";

/** TCP states usable in `State Accept|Ignore { ... for TCP }` (CLOSED is stored as CLOSE). */
export type TcpStateName =
  | "SYN_SENT"
  | "SYN_RECV"
  | "ESTABLISHED"
  | "FIN_WAIT"
  | "CLOSE_WAIT"
  | "LAST_ACK"
  | "TIME_WAIT"
  | "CLOSE"
  | "LISTEN";

/** One address filter entry; prefix < full length goes to the netmask list, else the exact-address set. */
export interface AddressEntry {
  family: "ipv4" | "ipv6";
  /** Canonical text of the address (without prefix). */
  address: string;
  /** Prefix length: 32/128 when none was written. */
  prefix: number;
}

/** `Filter [From Userspace|Kernelspace] { ... }`; several blocks merge into one. */
export interface FilterConfig {
  /** True when the last Filter block said `From Kernelspace` (a BPF on the event socket). */
  kernelspace: boolean;
  /** Protocol filter; null when no `Protocol` clause was given. Numbers are IP protocol numbers. */
  protocol: { policy: FilterPolicy; protocols: number[] } | null;
  /** Address filter; null when no `Address` clause was given. */
  address: { policy: FilterPolicy; entries: AddressEntry[] } | null;
  /** TCP state filter; null when no `State` clause was given. */
  state: { policy: FilterPolicy; states: TcpStateName[] } | null;
}

/** `General { ... }` */
export interface GeneralConfig {
  /** Buckets per cache hash table. */
  hashSize: number;
  /** Maximum objects per cache. */
  hashLimit: number;
  /** Log file path, or null when file logging is off. */
  logFile: string | null;
  /** Syslog facility, or null when syslog is off. */
  syslog: SyslogFacility | null;
  lockFile: string;
  /** UNIX control socket. `path` is "" when the file never set it (the daemon then cannot start). */
  unix: { path: string; backlog: number | null };
  /** Requested netlink receive buffer (bytes); 0 = system default. Only applied when <= maxGrowth. */
  netlinkBufferSize: number;
  /** Ceiling for doubling the netlink buffer on ENOBUFS (bytes); 0 = never grow. */
  netlinkBufferSizeMaxGrowth: number;
  /** Seconds after an overrun before resyncing with the kernel; -1 = disabled. */
  netlinkOverrunResync: number;
  netlinkEventsReliable: boolean;
  /** Polling period in seconds instead of events; null = event-driven. */
  pollSecs: number | null;
  /** Events handled per main-loop iteration. */
  eventIterationLimit: number;
  /** Scheduler; null = the built-in default (SCHED_RR at the maximum priority). */
  scheduler: { type: "RR" | "FIFO" | null; priority: number } | null;
  /** sd_notify support (the reference is built with systemd, so it defaults to on). */
  systemd: boolean;
  filter: FilterConfig;
  /** Hash buckets committed per main-loop step (not configurable; fixed 8192). */
  commitSteps: number;
  /** ctkit's `Metrics { … }`: the Prometheus endpoint; null (the default) = none. */
  metrics: MetricsConfig | null;
}

/** `General { Metrics { Address A; Port N } }` (ctkit's addition). */
export interface MetricsConfig {
  /** The address to listen on, canonical text (IPv6 without brackets). */
  address: string;
  family: "ipv4" | "ipv6";
  port: number;
}

/** Which sync protocol runs. */
export type SyncModeName = "FTFW" | "ALARM" | "NOTRACK";

/** Dedicated-link channel kinds; all channels of one config share one kind. */
export type ChannelKind = "multicast" | "udp" | "tcp";

/** One `Multicast|UDP|TCP [Default] { ... }` block. */
export interface ChannelConfig {
  kind: ChannelKind;
  /** Written with `Default`: the initially active link. */
  isDefault: boolean;
  /** Address family taken from the address clauses; null if none was given. */
  family: "ipv4" | "ipv6" | null;
  /** Multicast group (Multicast) or local bind address (UDP/TCP); null when not given. */
  address: string | null;
  /** Multicast only: local IPv4 address of the sending interface. */
  ipv4Interface: string | null;
  /** UDP/TCP only: peer address. */
  destination: string | null;
  /** Network interface name (required at start-up to open the socket). */
  interface: string | null;
  /** UDP port (`Group` for Multicast, `Port` for UDP/TCP); 0 when not given. */
  port: number;
  /** Forced socket buffer sizes in bytes; 0 = system default. */
  sndSocketBuffer: number;
  rcvSocketBuffer: number;
  /** UDP checksums on (default) or off (SO_NO_CHECK). */
  checksum: boolean;
}

/** `Sync { ... }` */
export interface SyncConfig {
  mode: SyncModeName;
  /** ALARM: seconds between refreshes of each entry. */
  refreshTime: number;
  /** ALARM: seconds an external-cache entry lives without refresh. */
  cacheTimeout: number;
  /** Commit timeout in seconds; 0 = estimate from the cached timeout. */
  commitTimeout: number;
  /** Seconds before purging kernel entries after a takeover (`-t`). */
  purgeTimeout: number;
  /** FTFW: objects kept for retransmission. */
  resendQueueSize: number;
  /** FTFW: messages per acknowledgement window. */
  ackWindowSize: number;
  disableInternalCache: boolean;
  disableExternalCache: boolean;
  /** Ask the peer for a resync when starting (FTFW/NOTRACK). */
  startupResync: boolean;
  channels: ChannelConfig[];
  /** Index into `channels` of the initially active link (the `Default` one, else 0). */
  defaultChannel: number;
  /** TCP channels: length of the error queue (global). */
  errorQueueLength: number;
  tcpWindowTracking: boolean;
  /** Expectation sync: false = off, true = all, string[] = only these helper-name prefixes. */
  expectationSync: boolean | string[];
  /** ctkit's `Authentication { … }` (sealed sync records); null or absent (the default) = 1.4.7's wire. */
  authentication?: AuthConfig | null;
}

/** `Sync { Authentication { KeyFile F; NextKeyFile F; Encrypt on|off } }` (ctkit's addition). */
export interface AuthConfig {
  /** The key this node sends with (and accepts). */
  keyFile: string;
  /** A second key accepted during a rollover; null when not given. The file may be absent. */
  nextKeyFile: string | null;
  /** Encrypt the sync messages too (default off: authenticated, readable). */
  encrypt: boolean;
}

/** `Stats { ... }` */
export interface StatsConfig {
  /** Flow log file, or null when off. */
  logFile: string | null;
  syslog: SyslogFacility | null;
}

/** One expectation policy of a helper (`Policy NAME { ExpectMax; ExpectTimeout }`). */
export interface HelperPolicy {
  name: string;
  expectMax: number;
  expectTimeout: number;
}

/** One `Type NAME FAMILY PROTO { ... }` instance. */
export interface HelperInstance {
  name: string;
  family: "inet" | "inet6";
  protocol: "tcp" | "udp";
  queueNum: number;
  queueLen: number;
  /** The helper's policies after the file's overrides (a `Policy` replaces the whole entry). */
  policies: HelperPolicy[];
}

/** `Helper { ... }` */
export interface HelperConfig {
  /** Register the helpers with the kernel (cttimeout/cthelper) at start-up. */
  setup: boolean;
  types: HelperInstance[];
}

/** A whole conntrackd.conf. */
export interface Config {
  /** Path the configuration was read from. */
  file: string;
  general: GeneralConfig;
  /** Present when a Sync block exists. */
  sync: SyncConfig | null;
  /** Present when a Stats block exists. */
  stats: StatsConfig | null;
  /** Present when a Helper block exists. */
  helper: HelperConfig | null;
  /** Warnings the reference prints while reading the file or at start-up (its wording). */
  warnings: string[];
  /** Warnings only the daemon logs, while its mode starts (the client never prints them). */
  startupWarnings: string[];
}
