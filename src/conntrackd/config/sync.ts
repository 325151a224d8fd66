// The `Sync { ... }` block: Mode blocks, dedicated-link channels, Options.

import { parseAuthentication } from "./auth.ts";
import type { Cursor } from "./cursor.ts";
import type { Draft } from "./draft.ts";
import { parseIpv4, parseIpv6 } from "./inet.ts";
import type { ChannelConfig, ChannelKind } from "./types.ts";
import type { Token } from "./lexer.ts";

/** The reference's MULTICHANNEL_MAX. */
export const MAX_CHANNELS = 4;

type SyncDraft = Draft["sync"];

/** Clauses allowed in each Mode block, and directly in Sync (legacy placement). */
const MODE_CLAUSES: Record<string, ReadonlySet<string>> = {
  ALARM: new Set(["RefreshTime", "CacheTimeout", "CommitTimeout", "PurgeTimeout"]),
  FTFW: new Set([
    "ResendQueueSize",
    "CommitTimeout",
    "PurgeTimeout",
    "ACKWindowSize",
    "DisableExternalCache",
    "StartupResync",
  ]),
  NOTRACK: new Set([
    "CommitTimeout",
    "PurgeTimeout",
    "DisableInternalCache",
    "DisableExternalCache",
    "StartupResync",
  ]),
  Sync: new Set(["RefreshTime", "CacheTimeout", "CommitTimeout", "PurgeTimeout"]),
};

export function parseSync(c: Cursor, d: Draft): void {
  const s = d.sync;
  const open = c.next();
  c.block("Sync", (t) => {
    const kw = t.kind === "keyword" ? t.keyword! : "";
    if (MODE_CLAUSES.Sync.has(kw)) {
      timingClause(c, s, t);
    } else if (kw === "Mode") {
      c.next();
      const m = c.peek();
      if (m.kind !== "mode") throw c.unexpected(m, "FTFW, ALARM or NOTRACK after Mode");
      c.next();
      const allowed = MODE_CLAUSES[m.mode!];
      c.block(`Mode ${m.mode}`, (o) => {
        if (o.kind !== "keyword" || !allowed.has(o.keyword!)) {
          throw c.unknownClause(o, `the Mode ${m.mode} block (expected one of: ${[...allowed].join(", ")})`);
        }
        timingClause(c, s, o);
      });
      s.modes.add(m.mode!);
    } else if (kw === "Multicast" || kw === "UDP" || kw === "TCP") {
      parseChannel(c, s, kw);
    } else if (kw === "Options") {
      c.next();
      parseOptions(c, s);
    } else if (t.kind === "word" && t.text === "Authentication") {
      // ctkit's sealed sync records (config/auth.ts); a plain word to the lexer.
      parseAuthentication(c, d);
    } else {
      throw c.unknownClause(t, "the Sync block");
    }
  });
  if (d.stats.present) {
    throw c.error(open.line, "cannot use both `Stats' and `Sync' clauses in conntrackd.conf");
  }
  s.present = true;
}

/** Numeric and on/off settings of the Mode blocks (they all write one shared set of values). */
const TIMING_CLAUSES: Record<string, { field: keyof SyncDraft & string; kind: "number" | "bool" }> = {
  RefreshTime: { field: "refreshTime", kind: "number" },
  CacheTimeout: { field: "cacheTimeout", kind: "number" },
  CommitTimeout: { field: "commitTimeout", kind: "number" },
  PurgeTimeout: { field: "purgeTimeout", kind: "number" },
  ResendQueueSize: { field: "resendQueueSize", kind: "number" },
  ACKWindowSize: { field: "ackWindowSize", kind: "number" },
  DisableInternalCache: { field: "disableInternalCache", kind: "bool" },
  DisableExternalCache: { field: "disableExternalCache", kind: "bool" },
  StartupResync: { field: "startupResync", kind: "bool" },
};

function timingClause(c: Cursor, s: SyncDraft, t: Token): void {
  c.next();
  const clause = t.keyword === undefined ? undefined : TIMING_CLAUSES[t.keyword];
  if (!clause) return;
  (s as unknown as Record<string, number | boolean>)[clause.field] = clause.kind === "number"
    ? c.number(t.text)
    : c.bool(t.text);
}

const CHANNEL_CLAUSES: Record<ChannelKind, ReadonlySet<string>> = {
  multicast: new Set([
    "IPv4_address",
    "IPv6_address",
    "IPv4_interface",
    "IPv6_interface",
    "Interface",
    "Group",
    "SndSocketBuffer",
    "RcvSocketBuffer",
    "Checksum",
  ]),
  udp: new Set([
    "IPv4_address",
    "IPv6_address",
    "IPv4_Destination_Address",
    "IPv6_Destination_Address",
    "Interface",
    "Port",
    "SndSocketBuffer",
    "RcvSocketBuffer",
    "Checksum",
  ]),
  tcp: new Set([
    "IPv4_address",
    "IPv6_address",
    "IPv4_Destination_Address",
    "IPv6_Destination_Address",
    "Interface",
    "Port",
    "SndSocketBuffer",
    "RcvSocketBuffer",
    "Checksum",
    "ErrorQueueLength",
  ]),
};

function parseChannel(c: Cursor, s: SyncDraft, keyword: string): void {
  const kind = keyword.toLowerCase() as ChannelKind;
  const start = c.next();
  const isDefault = c.isKeyword("Default");
  if (isDefault) c.next();
  const ch: ChannelConfig = {
    kind,
    isDefault,
    family: null,
    address: null,
    ipv4Interface: null,
    destination: null,
    interface: null,
    port: 0,
    sndSocketBuffer: 0,
    rcvSocketBuffer: 0,
    checksum: true,
  };
  const tooMany = (line: number) =>
    c.error(line, `too many dedicated links in the configuration file (Maximum: ${MAX_CHANNELS})`);
  const allowed = CHANNEL_CLAUSES[kind];
  c.block(keyword, (t) => {
    if (t.kind !== "keyword" || !allowed.has(t.keyword!)) {
      throw c.unknownClause(t, `the ${keyword} block (expected one of: ${[...allowed].join(", ")})`);
    }
    c.next();
    const opt = t.keyword!;
    // Read the value first, so a syntax error in it is reported as such.
    const value = readChannelValue(c, opt);
    if (s.channels.length >= MAX_CHANNELS) throw tooMany(t.line);
    applyChannelOption(c, s, ch, opt, value);
  });
  if (s.channelKind !== null && s.channelKind !== kind) {
    throw c.error(start.line, `cannot use \`${keyword}' with other dedicated link protocols!`);
  }
  // Deliberate difference: the reference only checks the limit inside a non-empty block
  // and overflows its channel table on an empty fifth one; ctkit always rejects it.
  if (s.channels.length >= MAX_CHANNELS) throw tooMany(start.line);
  s.channelKind = kind;
  if (isDefault) s.defaultChannel = s.channels.length;
  s.channels.push(ch);
}

function readChannelValue(c: Cursor, opt: string): string | number | boolean {
  switch (opt) {
    case "Interface":
      return c.word(opt);
    case "Checksum":
      return c.bool(opt);
    case "Group":
    case "Port":
    case "SndSocketBuffer":
    case "RcvSocketBuffer":
    case "ErrorQueueLength":
      return c.number(opt);
    default:
      return c.ip(opt);
  }
}

function applyChannelOption(
  c: Cursor,
  s: SyncDraft,
  ch: ChannelConfig,
  opt: string,
  value: string | number | boolean,
): void {
  const warn = (w: string) => c.warnings.push(w);
  const mcast = ch.kind === "multicast";
  switch (opt) {
    case "Interface":
      ch.interface = value as string;
      return;
    case "Checksum":
      ch.checksum = value as boolean;
      return;
    case "Group":
    case "Port":
      ch.port = value as number;
      return;
    case "SndSocketBuffer":
      ch.sndSocketBuffer = value as number;
      return;
    case "RcvSocketBuffer":
      ch.rcvSocketBuffer = value as number;
      return;
    case "ErrorQueueLength":
      s.errorQueueLength = value as number;
      return;
    case "IPv6_interface":
      warn("`IPv6_interface' not required, ignoring");
      return;
  }
  const text = value as string;
  const v4 = opt.startsWith("IPv4");
  const addr = v4 ? parseIpv4(text) : parseIpv6(text);
  if (addr === null) {
    warn(`${text} is not a valid ${v4 ? "IPv4" : "IPv6"} address`);
    return;
  }
  if (mcast && v4 && ch.family === "ipv6") {
    if (opt === "IPv4_address") ch.address = addr;
    else ch.ipv4Interface = addr;
    const what = opt === "IPv4_address" ? "address" : "interface";
    warn(
      `your multicast ${what} is IPv4 but is binded to an IPv6 interface? Surely, this is not what you want`,
    );
    return;
  }
  if (mcast && !v4 && ch.family === "ipv4") {
    warn(
      "your multicast address is IPv6 but is binded to an IPv4 interface? Surely this is not what you want",
    );
    return;
  }
  if (opt === "IPv4_interface") ch.ipv4Interface = addr;
  else if (opt.includes("Destination")) ch.destination = addr;
  else ch.address = addr;
  ch.family = v4 ? "ipv4" : "ipv6";
}

function parseOptions(c: Cursor, s: SyncDraft): void {
  c.block("Options", (t) => {
    if (t.kind === "keyword" && t.keyword === "TCPWindowTracking") {
      c.next();
      s.tcpWindowTracking = c.bool(t.text);
    } else if (t.kind === "keyword" && t.keyword === "ExpectationSync") {
      c.next();
      if (c.isChar("{")) {
        // Helper names add up across lists; matching is case-insensitive, so keep one of each.
        const names = Array.isArray(s.expectationSync) ? s.expectationSync : [];
        c.block("ExpectationSync", (n) => {
          if (n.kind !== "word") throw c.unexpected(n, "a helper name or '}'");
          c.next();
          if (!names.some((x) => x.toLowerCase() === n.text.toLowerCase())) names.push(n.text);
        });
        s.expectationSync = names;
      } else {
        s.expectationSync = c.bool("ExpectationSync (or a { helper list })");
      }
    } else {
      throw c.unknownClause(t, "the Options block (expected TCPWindowTracking or ExpectationSync)");
    }
  });
}
