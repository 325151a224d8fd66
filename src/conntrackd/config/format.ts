// The effective configuration as conntrackd.conf text, every default filled
// in, for `conntrackd -C FILE --check`. Settings without a value (e.g. no
// log file) are written as the reference's keywords say them (`off`).

import { protocolName } from "./protocols.ts";
import type { ChannelConfig, Config, FilterConfig, HelperInstance } from "./types.ts";

const onOff = (b: boolean) => b ? "on" : "off";

class Writer {
  private lines: string[] = [];
  private depth = 0;

  line(text: string): void {
    this.lines.push("\t".repeat(this.depth) + text);
  }

  open(head: string, body: () => void): void {
    this.line(`${head} {`);
    this.depth++;
    body();
    this.depth--;
    this.line("}");
  }

  toString(): string {
    return this.lines.join("\n") + "\n";
  }
}

export function formatConfig(cfg: Config): string {
  const w = new Writer();
  w.line(`# effective configuration of ${cfg.file}`);
  for (const warning of cfg.warnings) w.line(`# warning: ${warning}`);
  general(w, cfg);
  if (cfg.sync) sync(w, cfg);
  if (cfg.stats) {
    const st = cfg.stats;
    w.open("Stats", () => {
      w.line(`LogFile ${st.logFile ?? "off"}`);
      w.line(`Syslog ${st.syslog ?? "off"}`);
    });
  }
  if (cfg.helper) {
    const h = cfg.helper;
    w.open("Helper", () => {
      w.line(`Setup ${onOff(h.setup)}`);
      for (const t of h.types) helperType(w, t);
    });
  }
  return w.toString();
}

function general(w: Writer, cfg: Config): void {
  const g = cfg.general;
  w.open("General", () => {
    w.line(`HashSize ${g.hashSize}`);
    w.line(`HashLimit ${g.hashLimit}`);
    w.line(`LogFile ${g.logFile ?? "off"}`);
    w.line(`Syslog ${g.syslog ?? "off"}`);
    w.line(`LockFile ${g.lockFile}`);
    w.open(
      "UNIX",
      () => w.line(g.unix.path ? `Path ${g.unix.path}` : "# Path not set: the daemon cannot start"),
    );
    w.line(`NetlinkBufferSize ${g.netlinkBufferSize}${g.netlinkBufferSize === 0 ? " # system default" : ""}`);
    w.line(`NetlinkBufferSizeMaxGrowth ${g.netlinkBufferSizeMaxGrowth}`);
    w.line(`NetlinkOverrunResync ${g.netlinkOverrunResync < 0 ? "off" : g.netlinkOverrunResync}`);
    w.line(`NetlinkEventsReliable ${onOff(g.netlinkEventsReliable)}`);
    if (g.pollSecs !== null) w.line(`PollSecs ${g.pollSecs}`);
    w.line(`EventIterationLimit ${g.eventIterationLimit}`);
    const s = g.scheduler;
    if (s && s.type) {
      w.open("Scheduler", () => {
        w.line(`Type ${s.type}`);
        w.line(`Priority ${s.priority}`);
      });
    } else {
      w.line("# Scheduler: default (RR at the maximum priority)");
    }
    w.line(`Systemd ${onOff(g.systemd)}`);
    filter(w, g.filter);
    const m = g.metrics;
    if (m) {
      w.open("Metrics", () => {
        w.line(`Address ${m.address}`);
        w.line(`Port ${m.port}`);
      });
    }
  });
}

function filter(w: Writer, f: FilterConfig): void {
  if (!f.protocol && !f.address && !f.state) return;
  const policy = (p: string) => p === "accept" ? "Accept" : "Ignore";
  w.open(`Filter From ${f.kernelspace ? "Kernelspace" : "Userspace"}`, () => {
    if (f.protocol) {
      const p = f.protocol;
      w.open(`Protocol ${policy(p.policy)}`, () => p.protocols.forEach((n) => w.line(protocolName(n))));
    }
    if (f.address) {
      const a = f.address;
      w.open(`Address ${policy(a.policy)}`, () => {
        for (const e of a.entries) {
          const full = e.family === "ipv4" ? 32 : 128;
          const kw = e.family === "ipv4" ? "IPv4_address" : "IPv6_address";
          w.line(`${kw} ${e.address}${e.prefix === full ? "" : `/${e.prefix}`}`);
        }
      });
    }
    if (f.state) {
      const s = f.state;
      w.open(`State ${policy(s.policy)}`, () => w.line(`${s.states.join(" ")} for TCP`));
    }
  });
}

function sync(w: Writer, cfg: Config): void {
  const s = cfg.sync!;
  w.open("Sync", () => {
    w.open(`Mode ${s.mode}`, () => {
      if (s.mode === "ALARM") {
        w.line(`RefreshTime ${s.refreshTime}`);
        w.line(`CacheTimeout ${s.cacheTimeout}`);
      }
      if (s.mode === "FTFW") {
        w.line(`ResendQueueSize ${s.resendQueueSize}`);
        w.line(`ACKWindowSize ${s.ackWindowSize}`);
      }
      w.line(`CommitTimeout ${s.commitTimeout}${s.commitTimeout === 0 ? " # estimated per entry" : ""}`);
      w.line(`PurgeTimeout ${s.purgeTimeout}`);
      if (s.mode === "NOTRACK") w.line(`DisableInternalCache ${onOff(s.disableInternalCache)}`);
      if (s.mode !== "ALARM") {
        w.line(`DisableExternalCache ${onOff(s.disableExternalCache)}`);
        w.line(`StartupResync ${onOff(s.startupResync)}`);
      }
    });
    s.channels.forEach((ch, i) => channel(w, ch, i === s.defaultChannel, s.errorQueueLength));
    w.open("Options", () => {
      w.line(`TCPWindowTracking ${onOff(s.tcpWindowTracking)}`);
      const e = s.expectationSync;
      if (Array.isArray(e)) w.open("ExpectationSync", () => e.forEach((n) => w.line(n)));
      else w.line(`ExpectationSync ${onOff(e)}`);
    });
    const a = s.authentication;
    if (a) {
      w.open("Authentication", () => {
        w.line(`KeyFile ${a.keyFile}`);
        if (a.nextKeyFile) w.line(`NextKeyFile ${a.nextKeyFile}`);
        w.line(`Encrypt ${onOff(a.encrypt)}`);
      });
    }
  });
}

function channel(w: Writer, ch: ChannelConfig, isDefault: boolean, errorQueueLength: number): void {
  const head = { multicast: "Multicast", udp: "UDP", tcp: "TCP" }[ch.kind] + (ch.isDefault ? " Default" : "");
  const fam = ch.family === "ipv6" ? "IPv6" : "IPv4";
  w.open(head, () => {
    if (isDefault && !ch.isDefault) w.line("# active link at start-up (first one, no `Default' given)");
    if (ch.address) w.line(`${fam}_address ${ch.address}`);
    if (ch.ipv4Interface) w.line(`IPv4_interface ${ch.ipv4Interface}`);
    if (ch.destination) w.line(`${fam}_Destination_Address ${ch.destination}`);
    w.line(ch.interface ? `Interface ${ch.interface}` : "# Interface not set: the channel cannot open");
    w.line(`${ch.kind === "multicast" ? "Group" : "Port"} ${ch.port}`);
    w.line(`SndSocketBuffer ${ch.sndSocketBuffer}${ch.sndSocketBuffer === 0 ? " # system default" : ""}`);
    w.line(`RcvSocketBuffer ${ch.rcvSocketBuffer}${ch.rcvSocketBuffer === 0 ? " # system default" : ""}`);
    w.line(`Checksum ${onOff(ch.checksum)}`);
    if (ch.kind === "tcp") w.line(`ErrorQueueLength ${errorQueueLength}`);
  });
}

function helperType(w: Writer, t: HelperInstance): void {
  w.open(`Type ${t.name} ${t.family} ${t.protocol}`, () => {
    w.line(`QueueNum ${t.queueNum}`);
    w.line(`QueueLen ${t.queueLen}`);
    for (const p of t.policies) {
      w.open(`Policy ${p.name}`, () => {
        w.line(`ExpectMax ${p.expectMax}`);
        w.line(`ExpectTimeout ${p.expectTimeout}`);
      });
    }
  });
}
