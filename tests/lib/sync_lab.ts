// A small lab for the sync wire tests: namespaces joined by a veth pair,
// reference conntrackd daemons (console mode, in the background) with UDP
// channels, a UDP listener that records every datagram it gets, a UDP sender,
// and ctkit's view of a namespace's kernel tables (tests/lib/sync_wire_kdump.ts).
import { Conntrack, Expect, newTuple, type Tuple } from "../../src/conntrack/model.ts";
import { type NetworkStats, newNetworkStats } from "../../src/conntrackd/sync/wire/mod.ts";
import { type Netns, sh } from "./netns.ts";

export const REF_CONNTRACKD = "/usr/sbin/conntrackd";
const KDUMP = new URL("./sync_wire_kdump.ts", import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Joins a and b with a veth pair: `ifA` (addrA/24) in a, `ifB` (addrB/24) in b. */
export async function vethPair(a: Netns, b: Netns, ifA: string, addrA: string, ifB: string, addrB: string) {
  await sh(["ip", "link", "add", ifA, "netns", a.name, "type", "veth", "peer", "name", ifB, "netns", b.name]);
  await must(a.exec(["ip", "addr", "add", `${addrA}/24`, "dev", ifA]));
  await must(b.exec(["ip", "addr", "add", `${addrB}/24`, "dev", ifB]));
  await must(a.exec(["ip", "link", "set", ifA, "up"]));
  await must(b.exec(["ip", "link", "set", ifB, "up"]));
}

async function must(p: Promise<{ code: number; stderr: string }>): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(r.stderr);
}

export interface SyncDaemonConfig {
  /** `NOTRACK` or `FTFW` plus the block's clauses. */
  mode: "NOTRACK" | "FTFW" | "ALARM";
  modeClauses?: string;
  /** UDP channel: bind address, peer address, port (both ways), interface. */
  local: string;
  peer: string;
  port: number;
  iface: string;
  /** Extra text inside Sync {} (e.g. an Options block). */
  syncExtra?: string;
  /** Extra text inside General {} (e.g. a Filter block). */
  generalExtra?: string;
}

/** A reference conntrackd in sync mode, started in console mode inside a namespace. */
export class RefSyncDaemon {
  private child?: Deno.ChildProcess;

  private constructor(readonly ns: Netns, readonly conf: string, readonly log: string) {}

  static async start(ns: Netns, dir: string, name: string, cfg: SyncDaemonConfig): Promise<RefSyncDaemon> {
    const conf = `${dir}/${name}.conf`, socket = `${dir}/${name}.ctl`;
    await Deno.writeTextFile(
      conf,
      `General {\n\tLockFile ${dir}/${name}.lock\n\tUNIX { Path ${socket} }\n\tSyslog off\n\tLogFile off\n` +
        `${cfg.generalExtra ?? ""}}\n` +
        `Sync {\n\tMode ${cfg.mode} {\n${cfg.modeClauses ?? ""}\n\t}\n` +
        `\tUDP {\n\t\tIPv4_address ${cfg.local}\n\t\tIPv4_Destination_Address ${cfg.peer}\n` +
        `\t\tPort ${cfg.port}\n\t\tInterface ${cfg.iface}\n\t\tChecksum on\n\t}\n` +
        `${cfg.syncExtra ?? ""}}\n`,
    );
    const d = new RefSyncDaemon(ns, conf, `${dir}/${name}.log`);
    d.child = ns.spawn(["sh", "-c", `exec ${REF_CONNTRACKD} -C "$0" >>"$1" 2>&1`, conf, d.log]);
    for (let i = 0; i < 100; i++) {
      if ((await Deno.lstat(socket).catch(() => null))?.isSocket) return d;
      await sleep(50);
    }
    await d.stop();
    throw new Error(
      `reference conntrackd ${name} did not start: ${await Deno.readTextFile(d.log).catch(() => "")}`,
    );
  }

  /** Runs `conntrackd -C conf <args>` (a client request) in the namespace; its stdout. */
  async request(...args: string[]): Promise<string> {
    const r = await this.ns.exec([REF_CONNTRACKD, "-C", this.conf, ...args]);
    if (r.code !== 0) throw new Error(`conntrackd ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  /** The receive counters of `-s network`. */
  async networkStats(): Promise<NetworkStats> {
    return parseNetworkStats(await this.request("-s", "network"));
  }

  logText(): Promise<string> {
    return Deno.readTextFile(this.log).catch(() => "");
  }

  /** SIGTERM, then SIGKILL if it is still there after 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    await stopChild(child);
  }
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  const exited = (ms: number) => Promise.race([child.status.then(() => true), sleep(ms).then(() => false)]);
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  if (!(await exited(5000))) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await exited(2000);
  }
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel().catch(() => {});
}

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
f = open(sys.argv[3], "a")
open(sys.argv[3] + ".ready", "w").close()
while True:
    d, _ = s.recvfrom(65535)
    f.write(d.hex() + "\\n")
    f.flush()
`;

/** Records every datagram sent to addr:port, one hex line each. */
export class UdpCapture {
  private constructor(private readonly child: Deno.ChildProcess, readonly file: string) {}

  static async start(ns: Netns, addr: string, port: number, file: string): Promise<UdpCapture> {
    const child = ns.spawn(["python3", "-c", LISTENER, addr, String(port), file]);
    const cap = new UdpCapture(child, file);
    for (let i = 0; i < 100; i++) {
      if (await Deno.lstat(`${file}.ready`).catch(() => null)) return cap;
      await sleep(50);
    }
    await cap.stop();
    throw new Error(`UDP listener on ${addr}:${port} did not start`);
  }

  /** The datagrams received so far. */
  async datagrams(): Promise<Uint8Array[]> {
    const text = await Deno.readTextFile(this.file).catch(() => "");
    return text.split("\n").filter((l) => l.length > 0).map(unhex);
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }
}

const SENDER = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for line in sys.stdin:
    line = line.strip()
    if line:
        s.sendto(bytes.fromhex(line), (sys.argv[2], int(sys.argv[3])))
        time.sleep(0.002)
`;

/** Sends each datagram from `from` (an address of ns) to to:port. */
export async function udpSend(ns: Netns, from: string, to: string, port: number, datagrams: Uint8Array[]) {
  const r = await ns.exec(["python3", "-c", SENDER, from, to, String(port)], {
    stdin: datagrams.map(hex).join("\n") + "\n",
  });
  if (r.code !== 0) throw new Error(`UDP sender: ${r.stderr}`);
}

export const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
export const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));

/** Polls `probe` until it returns a value that is not undefined, or fails after `ms`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const STAT_LINES: [string, keyof NetworkStats][] = [
  ["Malformed messages", "malformed"],
  ["Wrong protocol version", "badVersion"],
  ["Malformed header", "badHeader"],
  ["Malformed payload", "badPayload"],
  ["Bad message type", "badType"],
  ["Truncated message", "truncated"],
  ["Bad message size", "badSize"],
  ["Packets lost", "lost"],
  ["Packets before", "before"],
];

/** `-s network` text to counters (the first "Malformed messages" line is the receive one). */
export function parseNetworkStats(text: string): NetworkStats {
  const s = newNetworkStats();
  const seen = new Set<string>();
  for (const line of text.split("\n")) {
    for (const [label, key] of STAT_LINES) {
      const m = line.match(new RegExp(`^\\s*${label}:\\s+(\\d+)$`));
      if (m && !seen.has(label)) seen.add(label), s[key] = Number(m[1]);
    }
  }
  if (seen.size !== STAT_LINES.length) throw new Error(`unexpected -s network output:\n${text}`);
  return s;
}

function tupleFrom(x: Partial<Tuple> | undefined): Tuple {
  return Object.assign(newTuple(), x ?? {});
}

/** The conntracks and expectations in ns's kernel tables, decoded by ctkit. */
export async function kernelObjects(ns: Netns): Promise<{ cts: Conntrack[]; exps: Expect[] }> {
  const r = await ns.exec([Deno.execPath(), "run", "-A", "--no-check", KDUMP]);
  if (r.code !== 0) throw new Error(`kernel dump: ${r.stderr}`);
  const cts: Conntrack[] = [], exps: Expect[] = [];
  for (const line of r.stdout.split("\n")) {
    if (!line) continue;
    const o = JSON.parse(line);
    if (o.ct) {
      const ct = Object.assign(new Conntrack(), o.ct);
      ct.orig = tupleFrom(o.ct.orig), ct.reply = tupleFrom(o.ct.reply);
      ct.master = o.ct.master ? tupleFrom(o.ct.master) : undefined;
      if (o.ct.labels) ct.labels = Uint8Array.from(o.ct.labels);
      cts.push(ct);
    } else {
      const e = Object.assign(new Expect(), o.exp);
      e.master = tupleFrom(o.exp.master), e.tuple = tupleFrom(o.exp.tuple), e.mask = tupleFrom(o.exp.mask);
      if (o.exp.nat) e.nat = { dir: o.exp.nat.dir, tuple: tupleFrom(o.exp.nat.tuple) };
      exps.push(e);
    }
  }
  return { cts, exps };
}
