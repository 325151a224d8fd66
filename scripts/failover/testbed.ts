// The failover testbed: network namespaces client, server, fw1 and fw2; the LAN
// and WAN segments are bridges living in namespaces of their own (lan, wan), and
// fw1 and fw2 share a dedicated sync link. Both firewalls forward with the same
// stateful ruleset, run keepalived (VRRP for a LAN and a WAN virtual IP in one
// sync group) and, unless this is the control run, a conntrackd (ctkit's or the
// reference) kept in step by keepalived's notifications. The machine's own
// network namespace is never touched: every link is created inside the
// namespaces, and everything is removed by destroy().
import { sleep } from "./progress.ts";
import { ctkitBin, ROOT } from "../ctkit_bin.ts";

export { ROOT };
/** The ctkit executable: CTKIT_BIN or the launcher (scripts/ctkit_bin.ts). */
export const CTKIT = ctkitBin();
export const REF_CONNTRACKD = "/usr/sbin/conntrackd";
export const TRAFFIC = `${ROOT}/scripts/failover/traffic.py`;
const PRIMARY_BACKUP_SH = "/usr/share/doc/conntrackd/examples/sync/primary-backup.sh";

export type Impl = "ctkit" | "ref";
export type Fw = "fw1" | "fw2";
/** How keepalived drives conntrackd: ctkit's `ha` on the notify FIFO or as `notify`, or primary-backup.sh. */
export type Driver = "fifo" | "notify" | "primary-backup";
export type Snat = "none" | "vip" | "vip-random";

export interface BedOptions {
  /** conntrackd on fw1 and fw2; null runs none (the control without state sync). */
  daemons: Record<Fw, Impl | null>;
  driver: Driver;
  /** ctkit's takeover guard (ha's default); ignored by primary-backup.sh. */
  guard: boolean;
  snat: Snat;
  tcpLoose: 0 | 1;
  /** VRRP advertisement interval in seconds (VRRPv3 allows fractions). */
  advertInt: number;
  /** Keep the temporary directory (configs and logs) after destroy(). */
  keepDir?: boolean;
}

export const ADDR = {
  client: "10.10.1.10",
  server: "203.0.113.100",
  lanVip: "10.10.1.1",
  wanVip: "203.0.113.1",
  fw1: { lan: "10.10.1.2", wan: "203.0.113.2", sync: "172.31.255.1" },
  fw2: { lan: "10.10.1.3", wan: "203.0.113.3", sync: "172.31.255.2" },
};
export const STREAM_PORT = 5001;
export const FTP_PORT = 21;
const ROLES = ["client", "server", "fw1", "fw2", "lan", "wan"] as const;
type Role = typeof ROLES[number];

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Testbed {
  private readonly created: string[] = [];
  private readonly children: Deno.ChildProcess[] = [];
  private readonly daemons = new Map<Fw, Deno.ChildProcess>();
  private destroyed = false;

  private constructor(readonly prefix: string, readonly dir: string, readonly opts: BedOptions) {}

  static async create(opts: BedOptions): Promise<Testbed> {
    const dir = await Deno.makeTempDir({ prefix: `ctkit-failover-${Deno.pid}-` });
    return new Testbed(`ctkfo-${Deno.pid}-${crypto.randomUUID().slice(0, 4)}`, dir, opts);
  }

  /** Removes what a testbed killed without a chance to clean up (SIGKILL) left: its creator is gone. */
  static async removeStale(): Promise<void> {
    const out = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped", stderr: "null" })
      .output();
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      const m = /^(ctkfo-(\d+)-[0-9a-f]{4}-\w+)/.exec(line);
      if (!m || (await Deno.stat(`/proc/${m[2]}`).catch(() => null))) continue;
      const pids = await new Deno.Command("ip", { args: ["netns", "pids", m[1]], stdout: "piped" }).output();
      for (const p of new TextDecoder().decode(pids.stdout).split("\n").map(Number).filter((n) => n > 0)) {
        try {
          Deno.kill(p, "SIGKILL");
        } catch { /* gone already */ }
      }
      await new Deno.Command("ip", { args: ["netns", "del", m[1]], stderr: "null" }).output();
    }
    const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
    for await (const e of Deno.readDir(tmp)) {
      const m = /^ctkit-failover-(\d+)-/.exec(e.name);
      if (!m || !e.isDirectory || (await Deno.stat(`/proc/${m[1]}`).catch(() => null))) continue;
      await Deno.remove(`${tmp}/${e.name}`, { recursive: true }).catch(() => {});
    }
  }

  ns(role: Role): string {
    return `${this.prefix}-${role}`;
  }

  file(name: string): string {
    return `${this.dir}/${name}`;
  }

  /** Runs argv inside a namespace. */
  async exec(role: Role, argv: string[], stdin?: string): Promise<RunResult> {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.ns(role), ...argv],
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /** Like exec(), but a failure throws. */
  async must(role: Role, argv: string[], stdin?: string): Promise<string> {
    const r = await this.exec(role, argv, stdin);
    if (r.code !== 0) throw new Error(`[${role}] ${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A long-running process in a namespace: stdin and stdout piped, stderr appended to a file. */
  spawn(role: Role, argv: string[], stderrFile: string): Deno.ChildProcess {
    const child = new Deno.Command("sh", {
      args: [
        "-c",
        'f=$1; shift; exec ip "$@" 2>>"$f"',
        "sh",
        stderrFile,
        "netns",
        "exec",
        this.ns(role),
        ...argv,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.children.push(child);
    return child;
  }

  /** A long-running process whose output goes to a file. */
  spawnLogged(role: Role, command: string, logFile: string): Deno.ChildProcess {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.ns(role), "sh", "-c", `exec ${command} >>"${logFile}" 2>&1`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.children.push(child);
    return child;
  }

  private async shell(script: string): Promise<void> {
    const out = await new Deno.Command("bash", {
      args: ["-euo", "pipefail", "-c", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`testbed set-up failed: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
  }

  /** Namespaces, bridges, links, addresses, routes, sysctls. */
  async buildNetwork(): Promise<void> {
    for (const r of ROLES) {
      await this.shell(`ip netns add ${this.ns(r)}`);
      this.created.push(this.ns(r));
    }
    const n = (r: Role) => this.ns(r);
    const lines: string[] = [];
    for (const r of ROLES) lines.push(`ip -n ${n(r)} link set lo up`);
    // A bridge per segment, inside its own namespace; ports join as veth peers created there.
    for (const seg of ["lan", "wan"] as const) {
      lines.push(
        `ip -n ${n(seg)} link add br0 type bridge stp_state 0 mcast_snooping 0`,
        `ip -n ${n(seg)} link set br0 up`,
      );
      const hosts: Array<[Role, string]> = seg === "lan"
        ? [["client", "eth0"], ["fw1", "lan0"], ["fw2", "lan0"]]
        : [["server", "eth0"], ["fw1", "wan0"], ["fw2", "wan0"]];
      for (const [host, ifname] of hosts) {
        lines.push(
          `ip -n ${n(seg)} link add p-${host} type veth peer name ${ifname} netns ${n(host)}`,
          `ip -n ${n(seg)} link set p-${host} master br0 up`,
          `ip -n ${n(host)} link set ${ifname} up`,
        );
      }
    }
    lines.push(
      `ip -n ${n("fw1")} link add sync0 type veth peer name sync0 netns ${n("fw2")}`,
      `ip -n ${n("fw1")} link set sync0 up`,
      `ip -n ${n("fw2")} link set sync0 up`,
      `ip -n ${n("client")} addr add ${ADDR.client}/24 dev eth0`,
      `ip -n ${n("client")} route add default via ${ADDR.lanVip}`,
      `ip -n ${n("server")} addr add ${ADDR.server}/24 dev eth0`,
    );
    // Without source NAT the server needs the way back to the LAN.
    if (this.opts.snat === "none") {
      lines.push(`ip -n ${n("server")} route add 10.10.1.0/24 via ${ADDR.wanVip}`);
    }
    for (const fw of ["fw1", "fw2"] as const) {
      const a = ADDR[fw];
      lines.push(
        `ip -n ${n(fw)} addr add ${a.lan}/24 dev lan0`,
        `ip -n ${n(fw)} addr add ${a.wan}/24 dev wan0`,
        `ip -n ${n(fw)} addr add ${a.sync}/30 dev sync0`,
        `ip netns exec ${n(fw)} sysctl -qw net.ipv4.ip_forward=1`,
        `ip netns exec ${n(fw)} sysctl -qw net.netfilter.nf_conntrack_tcp_loose=${this.opts.tcpLoose}`,
      );
    }
    await this.shell(lines.join("\n"));
  }

  /** The stateful ruleset of both firewalls. */
  ruleset(): string {
    const snat = this.opts.snat === "none"
      ? ""
      : `-A POSTROUTING -o wan0 -s 10.10.1.0/24 -j SNAT --to-source ${ADDR.wanVip}${
        this.opts.snat === "vip-random" ? " --random-fully" : ""
      }\n`;
    return [
      "*raw",
      // The kernel's FTP helper, attached explicitly (automatic helper assignment is gone).
      `-A PREROUTING -p tcp --dport ${FTP_PORT} -j CT --helper ftp`,
      "COMMIT",
      "*nat",
      snat + "COMMIT",
      "*filter",
      ":INPUT ACCEPT [0:0]",
      ":FORWARD DROP [0:0]",
      ":OUTPUT ACCEPT [0:0]",
      "-A INPUT -m conntrack --ctstate INVALID -j DROP",
      "-A FORWARD -m conntrack --ctstate INVALID -j DROP",
      // RELATED first and alone: its counter shows the FTP data connection's admission.
      "-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT",
      "-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT",
      `-A FORWARD -i lan0 -o wan0 -p tcp --syn -m multiport --dports ${FTP_PORT},${STREAM_PORT} ` +
      "-m conntrack --ctstate NEW -j ACCEPT",
      "COMMIT",
      "",
    ].join("\n");
  }

  async loadRuleset(): Promise<void> {
    for (const fw of ["fw1", "fw2"] as const) await this.must(fw, ["iptables-restore"], this.ruleset());
  }

  /** Packets admitted by the RELATED rule so far. */
  async relatedAdmitted(fw: Fw): Promise<number> {
    const out = await this.must(fw, ["iptables", "-w", "-t", "filter", "-L", "FORWARD", "-v", "-x", "-n"]);
    const line = out.split("\n").find((l) => /ctstate RELATED\b/.test(l));
    return line ? Number(line.trim().split(/\s+/)[0]) : 0;
  }

  // ------------------------------------------------------------------ conntrackd

  conf(fw: Fw): string {
    return this.file(`${fw}.conntrackd.conf`);
  }

  conntrackdConfig(fw: Fw): string {
    const me = ADDR[fw], peer = ADDR[fw === "fw1" ? "fw2" : "fw1"];
    const ignore = [
      "127.0.0.1",
      ADDR.fw1.lan,
      ADDR.fw1.wan,
      ADDR.fw1.sync,
      ADDR.fw2.lan,
      ADDR.fw2.wan,
      ADDR.fw2.sync,
    ];
    return `General {
	HashSize 65536
	HashLimit 1048576
	LogFile ${this.file(`${fw}.conntrackd.log`)}
	Syslog off
	LockFile ${this.file(`${fw}.lock`)}
	UNIX { Path ${this.file(`${fw}.sock`)} }
	NetlinkBufferSize 8388608
	NetlinkBufferSizeMaxGrowth 268435456
	Filter From Userspace {
		Protocol Accept { TCP UDP }
		Address Ignore {
${ignore.map((a) => `\t\t\tIPv4_address ${a}`).join("\n")}
		}
	}
}
Sync {
	Mode FTFW {
		ResendQueueSize 262144
	}
	UDP {
		IPv4_address ${me.sync}
		IPv4_Destination_Address ${peer.sync}
		Port 3780
		Interface sync0
		SndSocketBuffer 24985600
		RcvSocketBuffer 24985600
		Checksum on
	}
	Options {
		ExpectationSync On
	}
}
`;
  }

  daemonBin(fw: Fw): string {
    return this.opts.daemons[fw] === "ref" ? REF_CONNTRACKD : `${CTKIT} conntrackd`;
  }

  async startConntrackd(fw: Fw): Promise<void> {
    const impl = this.opts.daemons[fw];
    if (!impl) return;
    await Deno.writeTextFile(this.conf(fw), this.conntrackdConfig(fw));
    const sock = this.file(`${fw}.sock`);
    // The child is the daemon itself: `ip netns exec` and `sh -c exec` both replace themselves.
    const child = this.spawnLogged(
      fw,
      `${this.daemonBin(fw)} -C ${this.conf(fw)}`,
      this.file(`${fw}.conntrackd.console`),
    );
    this.daemons.set(fw, child);
    for (let i = 0; i < 200; i++) {
      if ((await Deno.lstat(sock).catch(() => null))?.isSocket) return;
      await sleep(50);
    }
    const log = await Deno.readTextFile(this.file(`${fw}.conntrackd.console`)).catch(() => "");
    throw new Error(`${impl} conntrackd on ${fw} did not start:\n${log}`);
  }

  /** Kills a firewall's conntrackd with SIGKILL (its lock file and socket stay behind). */
  async crashDaemon(fw: Fw): Promise<void> {
    const child = this.daemons.get(fw);
    if (!child) return;
    this.daemons.delete(fw);
    try {
      child.kill("SIGKILL");
    } catch { /* gone already */ }
    await child.status;
  }

  /** A client request (ctkit's client; it speaks to either daemon). */
  async ctd(fw: Fw, args: string[]): Promise<string> {
    return (await this.exec(fw, [CTKIT, "conntrackd", "-C", this.conf(fw), ...args])).stdout;
  }

  /** Active entries per cache, from `-s` and `-s expect` (same text for both daemons). */
  async cacheCounts(fw: Fw): Promise<{ internal: number; external: number; expInt: number; expExt: number }> {
    const counts = (text: string) => {
      const m = new Map<string, number>();
      for (const x of text.matchAll(/cache (\w+):\s*\ncurrent active connections:\s+(\d+)/g)) {
        if (!m.has(x[1])) m.set(x[1], Number(x[2]));
      }
      return m;
    };
    const [ct, exp] = await Promise.all([this.ctd(fw, ["-s"]), this.ctd(fw, ["-s", "expect"])]);
    const c = counts(ct), e = counts(exp);
    return {
      internal: c.get("internal") ?? 0,
      external: c.get("external") ?? 0,
      expInt: e.get("internal") ?? 0,
      expExt: e.get("external") ?? 0,
    };
  }

  /** Entries and expectations in a firewall's kernel table. */
  async kernelCounts(fw: Fw): Promise<{ flows: number; expects: number }> {
    const [c, e] = await Promise.all([
      this.exec(fw, ["conntrack", "-C"]),
      this.exec(fw, ["conntrack", "-L", "expect"]),
    ]);
    return {
      flows: Number(c.stdout.trim()) || 0,
      expects: e.stdout.split("\n").filter((l) => l.trim()).length,
    };
  }

  // ------------------------------------------------------------------ keepalived

  haLog(fw: Fw): string {
    return this.file(`${fw}.ha.log`);
  }

  /** The commands keepalived runs on state changes, per driver. */
  private notifyClauses(fw: Fw): { global: string; group: string } {
    if (!this.opts.daemons[fw]) return { global: "", group: "" };
    const guard = this.opts.guard ? "" : " --no-guard";
    const ha = `${CTKIT} conntrackd -C ${this.conf(fw)} ha --log ${this.haLog(fw)}${guard}`;
    switch (this.opts.driver) {
      case "fifo":
        return {
          global: `\tvrrp_notify_fifo ${this.file(`${fw}.fifo`)}\n\tvrrp_notify_fifo_script "${ha} --fifo"\n`,
          group: "",
        };
      case "notify":
        return { global: "", group: `\tnotify "${ha}"\n` };
      case "primary-backup": {
        const w = this.file(`${fw}.primary-backup-notify.sh`);
        return {
          global: "",
          group:
            `\tnotify_master "${w} primary"\n\tnotify_backup "${w} backup"\n\tnotify_fault "${w} fault"\n`,
        };
      }
    }
  }

  /** conntrack-tools' primary-backup.sh pointed at this firewall's files, and a wrapper that logs its timing. */
  private async writePrimaryBackup(fw: Fw): Promise<void> {
    // Its conntrackd calls go through a shim that logs when each one returned (e.g. when -c was done).
    const shim = this.file(`${fw}.conntrackd-timed.sh`);
    const stamp = "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)";
    await Deno.writeTextFile(
      shim,
      `#!/bin/sh\n${REF_CONNTRACKD} "$@"\nrc=$?\necho "${stamp} conntrackd $* -> $rc" >>${
        this.haLog(fw)
      }\nexit $rc\n`,
      { mode: 0o755 },
    );
    const script = (await Deno.readTextFile(PRIMARY_BACKUP_SH))
      .replace(/^CONNTRACKD_BIN=.*$/m, `CONNTRACKD_BIN=${shim}`)
      .replace(/^CONNTRACKD_LOCK=.*$/m, `CONNTRACKD_LOCK=${this.file(`${fw}.lock`)}`)
      .replace(/^CONNTRACKD_CONFIG=.*$/m, `CONNTRACKD_CONFIG=${this.conf(fw)}`);
    const pb = this.file(`${fw}.primary-backup.sh`);
    await Deno.writeTextFile(pb, script, { mode: 0o755 });
    await Deno.writeTextFile(
      this.file(`${fw}.primary-backup-notify.sh`),
      `#!/bin/sh\necho "${stamp} primary-backup.sh $1" >>${this.haLog(fw)}\n${pb} "$1"\n` +
        `echo "${stamp} primary-backup.sh $1 done" >>${this.haLog(fw)}\n`,
      { mode: 0o755 },
    );
  }

  keepalivedConfig(fw: Fw): string {
    const prio = fw === "fw1" ? 150 : 100;
    const { global, group } = this.notifyClauses(fw);
    const instance = (name: string, iface: string, vrid: number, vip: string) =>
      `vrrp_instance ${name} {
	state BACKUP
	interface ${iface}
	virtual_router_id ${vrid}
	priority ${prio}
	advert_int ${this.opts.advertInt}
	virtual_ipaddress {
		${vip}/24 dev ${iface}
	}
}
`;
    return `global_defs {
	router_id ${fw}
	script_user root
	vrrp_version 3
	vrrp_garp_master_repeat 3
${global}}
vrrp_sync_group G {
	group {
		LAN
		WAN
	}
${group}}
${instance("LAN", "lan0", 51, ADDR.lanVip)}${instance("WAN", "wan0", 52, ADDR.wanVip)}`;
  }

  async startKeepalived(fw: Fw): Promise<void> {
    if (this.opts.driver === "primary-backup" && this.opts.daemons[fw]) await this.writePrimaryBackup(fw);
    const conf = this.file(`${fw}.keepalived.conf`);
    await Deno.writeTextFile(conf, this.keepalivedConfig(fw));
    const pid = (n: string) => this.file(`${fw}.${n}.pid`);
    this.spawnLogged(
      fw,
      `keepalived --dont-fork --log-console --log-detail --vrrp -f ${conf} -p ${pid("keepalived")} ` +
        `-r ${pid("vrrp")}`,
      this.file(`${fw}.keepalived.log`),
    );
  }

  /** Whether the firewall holds both virtual IPs. */
  async hasVips(fw: Fw): Promise<boolean> {
    const out = (await this.exec(fw, ["ip", "-4", "-o", "addr", "show"])).stdout;
    return out.includes(` ${ADDR.lanVip}/`) && out.includes(` ${ADDR.wanVip}/`);
  }

  /** Polls until `fw` holds the virtual IPs; returns the time (ms since the epoch) it saw them. */
  async waitVips(fw: Fw, timeoutMs: number, everyMs = 20): Promise<number | null> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await this.hasVips(fw)) return Date.now();
      await sleep(everyMs);
    }
    return null;
  }

  /** The ha progress lines of a firewall (timestamp in ms since the epoch, message). */
  async haLines(fw: Fw): Promise<Array<{ t: number; msg: string }>> {
    const text = await Deno.readTextFile(this.haLog(fw)).catch(() => "");
    return text.split("\n").filter((l) => l.trim()).map((l) => {
      const sp = l.indexOf(" ");
      return { t: Date.parse(l.slice(0, sp)), msg: l.slice(sp + 1) };
    });
  }

  /** Waits for an ha line matching `re` written at or after `since`. */
  async waitHa(
    fw: Fw,
    re: RegExp,
    since: number,
    timeoutMs: number,
  ): Promise<{ t: number; msg: string } | null> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = (await this.haLines(fw)).find((l) => l.t >= since - 5 && re.test(l.msg));
      if (hit || Date.now() >= end) return hit ?? null;
      await sleep(25);
    }
  }

  // ------------------------------------------------------------------ crash and cleanup

  private async pidsIn(role: Role): Promise<number[]> {
    const out = await new Deno.Command("ip", { args: ["netns", "pids", this.ns(role)], stdout: "piped" })
      .output()
      .catch(() => null);
    if (!out) return [];
    return new TextDecoder().decode(out.stdout).split("\n").map(Number).filter((p) => p > 0);
  }

  private async killAll(role: Role): Promise<number> {
    const pids = await this.pidsIn(role);
    for (const p of pids) {
      try {
        Deno.kill(p, "SIGKILL");
      } catch { /* gone already */ }
    }
    return pids.length;
  }

  /** A crash: every process of the firewall (keepalived, conntrackd, ha) gets SIGKILL, then its links go down. */
  async crash(fw: Fw): Promise<number> {
    const killed = await this.killAll(fw);
    await this.shell(
      ["lan0", "wan0", "sync0"].map((i) => `ip -n ${this.ns(fw)} link set ${i} down`).join("\n"),
    );
    return killed;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const c of this.children) {
      try {
        c.kill("SIGKILL");
      } catch { /* gone already */ }
    }
    for (const ns of [...this.created]) {
      const role = ns.slice(this.prefix.length + 1) as Role;
      await this.killAll(role);
    }
    for (const c of this.children) await c.status.catch(() => {});
    for (const ns of this.created) {
      await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).output().catch(() => {});
    }
    if (!this.opts.keepDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** On SIGINT or SIGTERM: destroy the testbed `current()` gives (if one is up) and exit 130. */
export function destroyOnSignal(current: () => Testbed | null): void {
  const onSignal = async () => {
    console.log("\ninterrupted: cleaning up");
    await current()?.destroy();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
}
