// A test bed for conntrackd's sync mode: two network namespaces (sides a and b)
// joined by one or more veth pairs used as dedicated links, a conntrackd.conf per
// side, and either implementation's daemon (ctkit or the reference 1.4.7) started
// in console mode inside its namespace. Helpers create flows in a side's kernel
// table, read the daemons' caches and statistics through the client, and give a
// side's kernel tables in a form two sides can be compared in.
//
// The sync traffic itself is kept out of the conntrack tables (raw NOTRACK on the
// link interfaces), so each kernel table holds only the flows a test made.
import { CTKIT, Netns, type RunResult, sh } from "./netns.ts";

export const REF_CONNTRACKD = "/usr/sbin/conntrackd";
export const REF_CONNTRACK = "/usr/sbin/conntrack";
const WRAP_LABELS = new URL("./labelmap_wrap.sh", import.meta.url).pathname;
const TRAFFIC = new URL("./traffic.py", import.meta.url).pathname;

export type Impl = "ctkit" | "ref";
export type SyncModeName = "FTFW" | "NOTRACK" | "ALARM";
/** `udp6` is UDP over IPv6 link addresses. */
export type LinkKind = "udp" | "udp6" | "multicast" | "tcp";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Label map used by the label flows (bits 0, 1, 5). */
export const LABEL_MAP = "0 alpha\n1 beta\n5 gamma\n";

export interface BedSpec {
  /** Short tag for namespace names and log lines (letters/digits). */
  tag: string;
  mode: SyncModeName;
  kind: LinkKind;
  /** UDP/TCP port or multicast group port; also used for every further link. */
  port: number;
  /** Number of veth links; the first is `Default`. */
  links?: number;
  /** Clauses inside `Mode X { }`. */
  modeClauses?: string;
  /** Clauses inside `Sync { Options { } }`. */
  options?: string;
  /** Clauses added to each link block (e.g. socket buffers). */
  linkClauses?: string;
  /** Extra clauses inside `General { }`. */
  general?: string;
  /** Enable connection labels in both namespaces and run conntrack with LABEL_MAP. */
  labels?: boolean;
  /**
   * Link 0 runs through a bridge (in a namespace of its own, `bed.wire`) that also joins a third
   * host, `bed.intruder` (INTRUDER_ADDRESS on INTRUDER_IFACE): someone else on the dedicated link.
   */
  intruder?: boolean;
}

/** The third host's address on link 0 of a bed with `intruder`, and its interface. */
export const INTRUDER_ADDRESS = "192.168.100.66";
export const INTRUDER_IFACE = "sx0";
/** The bridge ports of sides a and b and of the intruder, in `bed.wire`. */
export const WIRE_PORTS = { a: "pa0", b: "pb0", x: "px0" } as const;

/** Address of side a (1) or b (2) on link i. */
export function linkAddress(i: number, side: "a" | "b"): string {
  return `192.168.${100 + i}.${side === "a" ? 1 : 2}`;
}

/** IPv6 address of side a (1) or b (2) on link i. */
export function linkAddress6(i: number, side: "a" | "b"): string {
  return `fd00:${100 + i}::${side === "a" ? 1 : 2}`;
}

/** Interface name of link i on a side. */
export function linkIface(i: number, side: "a" | "b"): string {
  return `sl${i}${side}`;
}

function linkBlock(spec: BedSpec, i: number, side: "a" | "b"): string {
  const peer = side === "a" ? "b" : "a";
  const def = i === 0 && (spec.links ?? 1) > 1 ? " Default" : "";
  const extra = spec.linkClauses ?? "";
  const iface = linkIface(i, side), local = linkAddress(i, side), remote = linkAddress(i, peer);
  if (spec.kind === "multicast") {
    return `\tMulticast${def} {\n\t\tIPv4_address 225.0.${i}.50\n\t\tGroup ${spec.port}\n` +
      `\t\tIPv4_interface ${local}\n\t\tInterface ${iface}\n\t\tChecksum on\n${extra}\t}\n`;
  }
  if (spec.kind === "udp6") {
    return `\tUDP${def} {\n\t\tIPv6_address ${linkAddress6(i, side)}\n` +
      `\t\tIPv6_Destination_Address ${linkAddress6(i, peer)}\n\t\tPort ${spec.port}\n` +
      `\t\tInterface ${iface}\n\t\tChecksum on\n${extra}\t}\n`;
  }
  const kw = spec.kind === "udp" ? "UDP" : "TCP";
  return `\t${kw}${def} {\n\t\tIPv4_address ${local}\n\t\tIPv4_Destination_Address ${remote}\n` +
    `\t\tPort ${spec.port}\n\t\tInterface ${iface}\n\t\tChecksum on\n${extra}\t}\n`;
}

/** The conntrackd.conf of one side. */
export function bedConfig(spec: BedSpec, side: "a" | "b", dir: string): string {
  let links = "";
  for (let i = 0; i < (spec.links ?? 1); i++) links += linkBlock(spec, i, side);
  const options = spec.options ? `\tOptions {\n\t\t${spec.options}\n\t}\n` : "";
  return `General {\n\tLockFile ${dir}/${side}.lock\n\tUNIX { Path ${dir}/${side}.sock }\n` +
    `\tLogFile ${dir}/${side}.log\n\tSyslog off\n${spec.general ?? ""}\n}\n` +
    `Sync {\n\tMode ${spec.mode} {\n\t\t${spec.modeClauses ?? ""}\n\t}\n${links}${options}}\n`;
}

/** A daemon process of either implementation running in a side's namespace. */
class DaemonProcess {
  /** True while the process has not exited. */
  running = true;

  constructor(readonly impl: Impl, private readonly child: Deno.ChildProcess) {
    child.status.then(() => this.running = false);
  }

  /** SIGTERM, then SIGKILL if it is still there after 5 s. */
  async stop(): Promise<void> {
    const exited = (ms: number) =>
      Promise.race([this.child.status.then(() => true), sleep(ms).then(() => false)]);
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    if (!(await exited(5000))) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
      await exited(3000);
    }
  }
}

/** One firewall of the pair: its namespace, config, daemon and tools. */
export class Side {
  daemon?: DaemonProcess;

  constructor(
    readonly bed: SyncBed,
    readonly name: "a" | "b",
    readonly ns: Netns,
  ) {}

  get conf(): string {
    return `${this.bed.dir}/${this.name}.conf`;
  }
  get socket(): string {
    return `${this.bed.dir}/${this.name}.sock`;
  }
  get logFile(): string {
    return `${this.bed.dir}/${this.name}.log`;
  }
  get consoleFile(): string {
    return `${this.bed.dir}/${this.name}.console`;
  }
  get impl(): Impl | undefined {
    return this.daemon?.impl;
  }

  /** Rewrites this side's config (e.g. to change the mode between runs). */
  async writeConfig(spec: BedSpec = this.bed.spec): Promise<void> {
    await Deno.writeTextFile(this.conf, bedConfig(spec, this.name, this.bed.dir));
  }

  /** Starts `impl`'s daemon in console mode and waits for its UNIX socket. */
  async start(impl: Impl): Promise<void> {
    if (this.daemon) throw new Error(`side ${this.name} already runs a daemon`);
    await Deno.remove(this.socket).catch(() => {});
    const bin = impl === "ref" ? REF_CONNTRACKD : `${CTKIT} conntrackd`;
    // `exec` twice: the child's pid is the daemon itself, so SIGTERM reaches it.
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        this.ns.name,
        "sh",
        "-c",
        `exec ${bin} -C "$0" >>"$1" 2>&1`,
        this.conf,
        this.consoleFile,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.daemon = new DaemonProcess(impl, child);
    for (let i = 0; i < 200; i++) {
      if ((await Deno.lstat(this.socket).catch(() => null))?.isSocket) return;
      if (!this.daemon.running) break;
      await sleep(50);
    }
    const log = await this.consoleText();
    await this.stop();
    throw new Error(`${impl} conntrackd on side ${this.name} did not start:\n${log}`);
  }

  async stop(): Promise<void> {
    const d = this.daemon;
    this.daemon = undefined;
    await d?.stop();
    // a killed daemon leaves its lock file behind
    await Deno.remove(`${this.bed.dir}/${this.name}.lock`).catch(() => {});
  }

  consoleText(): Promise<string> {
    return Deno.readTextFile(this.consoleFile).catch(() => "");
  }

  logText(): Promise<string> {
    return Deno.readTextFile(this.logFile).catch(() => "");
  }

  /** Runs argv in the namespace; throws on a non-zero exit unless `allowFail`. */
  async run(argv: string[], opts: { stdin?: string; allowFail?: boolean } = {}): Promise<RunResult> {
    const r = await this.ns.exec(argv, { stdin: opts.stdin });
    if (r.code !== 0 && !opts.allowFail) {
      throw new Error(
        `[${this.bed.spec.tag}/${this.name}] ${argv.join(" ")} failed (${r.code}): ${r.stderr}`,
      );
    }
    return r;
  }

  /** A client request (`conntrackd -C conf ARGS`) through either implementation's client. */
  async request(args: string[], client: Impl = "ref"): Promise<string> {
    const bin = client === "ref" ? [REF_CONNTRACKD] : [CTKIT, "conntrackd"];
    const r = await this.run([...bin, "-C", this.conf, ...args]);
    return r.stdout;
  }

  /** The reference `conntrack` in this namespace, with the label map when the bed has labels. */
  conntrack(args: string[], opts: { stdin?: string; allowFail?: boolean } = {}): Promise<RunResult> {
    if (!this.bed.spec.labels) return this.run([REF_CONNTRACK, ...args], opts);
    const wrapped = [
      "unshare",
      "-m",
      "--propagation",
      "private",
      "sh",
      WRAP_LABELS,
      this.bed.mountDir,
      `${this.bed.dir}/connlabel.conf`,
      REF_CONNTRACK,
      ...args,
    ];
    return this.run(wrapped, opts);
  }

  /** One `conntrack` process per line (words split on spaces), in order. */
  async conntrackEach(lines: string[]): Promise<void> {
    for (const l of lines) await this.conntrack(l.split(" "));
  }

  /** `conntrack -R`: one command per line, in one process (the reference crashes on labels here). */
  async conntrackBatch(lines: string[]): Promise<void> {
    const file = `${this.bed.dir}/${this.name}.batch.${++this.bed.batches}`;
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    await this.conntrack(["-R", file]);
    await Deno.remove(file).catch(() => {});
  }

  /** Runs a tests/lib/traffic.py command in the namespace. */
  async traffic(words: string): Promise<void> {
    await this.run(["python3", TRAFFIC, ...words.split(" ")]);
  }

  /** The kernel conntrack table, normalised (see normaliseKernelLine), sorted. */
  async kernelTable(): Promise<string[]> {
    const args = this.bed.spec.labels ? ["-L", "-o", "labels"] : ["-L"];
    const r = await this.conntrack(args);
    return lines(r.stdout).map(normaliseKernelLine).sort();
  }

  /** The kernel expectation table, normalised (timeouts dropped), sorted. */
  async kernelExpects(): Promise<string[]> {
    const r = await this.conntrack(["-L", "expect"]);
    return lines(r.stdout).map(normaliseExpectLine).sort();
  }

  /** Flow keys of the internal (`-i`) or external (`-e`) cache. */
  async cacheKeys(which: "internal" | "external", client: Impl = "ref"): Promise<string[]> {
    const out = await this.request([which === "internal" ? "-i" : "-e"], client);
    return lines(out).map(flowKey).sort();
  }

  /** Expectation lines of a cache (`-i expect` / `-e expect`), normalised. */
  async cacheExpects(which: "internal" | "external", client: Impl = "ref"): Promise<string[]> {
    const out = await this.request([which === "internal" ? "-i" : "-e", "expect"], client);
    return lines(out).map(normaliseExpectLine).sort();
  }

  /** Flow keys of the kernel table (comparable with cacheKeys). */
  async kernelKeys(): Promise<string[]> {
    const r = await this.conntrack(["-L"]);
    return lines(r.stdout).map(flowKey).sort();
  }

  /** The text of `-s WORD`. */
  async stats(word: string): Promise<string> {
    return await this.request(["-s", word]);
  }

  /** `ip link set dev IF up|down` for link i of this side. */
  async setLink(i: number, up: boolean): Promise<void> {
    await this.run(["ip", "link", "set", "dev", linkIface(i, this.name), up ? "up" : "down"]);
  }

  /** iptables in this namespace. */
  async iptables(args: string[]): Promise<void> {
    await this.run(["iptables", ...args]);
  }
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim().length > 0);
}

/**
 * A `conntrack -L` line without what legitimately differs between two kernels
 * holding the same flow: the timeout column, `use=` and `id=`.
 */
export function normaliseKernelLine(line: string): string {
  return line
    .replace(/^(\S+\s+\d+\s+)\d+ /, "$1")
    .replace(/ use=\d+/, "")
    .replace(/ id=\d+$/, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** An expectation line without its timeout and the `[active since]` suffix. */
export function normaliseExpectLine(line: string): string {
  return line
    .replace(/ \[(active since|expires in) -?\d+s\]/g, "")
    .replace(/^\s*-?\d+ /, "")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * What a cache entry and a kernel entry of the same flow have in common:
 * protocol, TCP state, the original tuple, status tags, mark, zone and helper. The
 * external cache has no reply tuple (it is not on the wire), so only the first
 * address/port group counts.
 */
export function flowKey(line: string): string {
  const text = line.replace(/\[(active since|expires in) [^\]]*\]/g, "");
  const tokens = text.split(/\s+/).filter((t) => t.length > 0);
  const out: string[] = [tokens[0]];
  const seen = new Set<string>();
  const tags: string[] = [];
  for (const t of tokens.slice(2)) {
    const kv = t.match(/^([a-z-]+)=(.*)$/);
    if (kv) {
      // the kernel omits a zero mark from NEW events, so caches may not know it: absent = 0
      if (kv[1] === "use" || seen.has(kv[1]) || t === "mark=0") continue;
      seen.add(kv[1]);
      out.push(t);
    } else if (t.startsWith("[")) tags.push(t);
    else if (/^[A-Z_]+$/.test(t)) out.push(t); // TCP/SCTP/DCCP state
  }
  return [...out, ...tags.sort()].join(" ");
}

/** Two namespaces, their links and configs; `destroy()` removes everything. */
export class SyncBed {
  readonly a: Side;
  readonly b: Side;
  batches = 0;
  /** With `intruder`: the namespace of link 0's bridge, and the third host's. */
  wire?: Netns;
  intruder?: Netns;

  private constructor(readonly spec: BedSpec, readonly dir: string, nsA: Netns, nsB: Netns) {
    this.a = new Side(this, "a", nsA);
    this.b = new Side(this, "b", nsB);
  }

  get mountDir(): string {
    return `${this.dir}/mnt`;
  }

  side(name: "a" | "b"): Side {
    return name === "a" ? this.a : this.b;
  }

  static async create(spec: BedSpec): Promise<SyncBed> {
    const dir = await Deno.makeTempDir({ prefix: `ctksb-${spec.tag}-` });
    const made: Netns[] = [];
    try {
      made.push(await Netns.create(`sb${spec.tag}a`));
      made.push(await Netns.create(`sb${spec.tag}b`));
      const bed = new SyncBed(spec, dir, made[0], made[1]);
      if (spec.intruder) {
        made.push(bed.wire = await Netns.create(`sb${spec.tag}w`));
        made.push(bed.intruder = await Netns.create(`sb${spec.tag}x`));
      }
      await bed.setUp();
      return bed;
    } catch (e) {
      for (const ns of made) await ns.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  private async setUp(): Promise<void> {
    const spec = this.spec;
    for (let i = 0; i < (spec.links ?? 1); i++) {
      const ia = linkIface(i, "a"), ib = linkIface(i, "b");
      if (i === 0 && this.wire && this.intruder) await this.bridgedLink(ia, ib, this.wire, this.intruder);
      else {
        await sh([
          "ip",
          "link",
          "add",
          ia,
          "netns",
          this.a.ns.name,
          "type",
          "veth",
          "peer",
          "name",
          ib,
          "netns",
          this.b.ns.name,
        ]);
      }
      for (const s of [this.a, this.b]) {
        const iface = linkIface(i, s.name);
        await s.run(["ip", "addr", "add", `${linkAddress(i, s.name)}/24`, "dev", iface]);
        await s.run(["ip", "addr", "add", `${linkAddress6(i, s.name)}/64`, "dev", iface, "nodad"]);
        await s.run(["ip", "link", "set", iface, "up"]);
        // the dedicated link's own packets stay out of the conntrack table
        for (const tool of ["iptables", "ip6tables"]) {
          await s.run([tool, "-t", "raw", "-A", "PREROUTING", "-i", iface, "-j", "NOTRACK"]);
          await s.run([tool, "-t", "raw", "-A", "OUTPUT", "-o", iface, "-j", "NOTRACK"]);
        }
      }
    }
    for (const s of [this.a, this.b]) {
      // a rule that needs conntrack makes the kernel track the namespace's IPv4 and IPv6 traffic
      for (const tool of ["iptables", "ip6tables"]) {
        await s.run([tool, "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW"]);
      }
    }
    if (spec.labels) {
      await Deno.mkdir(this.mountDir);
      await Deno.writeTextFile(`${this.dir}/connlabel.conf`, LABEL_MAP);
      // any rule using ct labels makes the kernel keep labels for new entries
      const rule =
        "table ip ctklabel {\n  chain o { type filter hook output priority 0; ct label 127 counter; }\n}\n";
      for (const s of [this.a, this.b]) await s.run(["nft", "-f", "-"], { stdin: rule });
    }
    await this.a.writeConfig();
    await this.b.writeConfig();
  }

  /** Link 0 through a bridge in `wire`, with a port for the intruder's host. */
  private async bridgedLink(ia: string, ib: string, wire: Netns, x: Netns): Promise<void> {
    const run = async (ns: Netns, argv: string[]) => {
      const r = await ns.exec(argv);
      if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
    };
    await run(wire, ["ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
    const ports: [string, string, Netns][] = [
      [ia, WIRE_PORTS.a, this.a.ns],
      [ib, WIRE_PORTS.b, this.b.ns],
      [INTRUDER_IFACE, WIRE_PORTS.x, x],
    ];
    for (const [inner, port, ns] of ports) {
      await sh([
        "ip",
        "link",
        "add",
        inner,
        "netns",
        ns.name,
        "type",
        "veth",
        "peer",
        "name",
        port,
        "netns",
        wire.name,
      ]);
      await run(wire, ["ip", "link", "set", port, "master", "br0", "up"]);
    }
    await run(wire, ["ip", "link", "set", "br0", "up"]);
    await run(x, ["ip", "addr", "add", `${INTRUDER_ADDRESS}/24`, "dev", INTRUDER_IFACE]);
    await run(x, ["ip", "link", "set", INTRUDER_IFACE, "up"]);
  }

  /** Starts a daemon on each side (b first: it listens before a sends). */
  async start(implA: Impl, implB: Impl): Promise<void> {
    await Promise.all([this.b.start(implB), this.a.start(implA)]);
  }

  /** Both daemons' logs and console output, for failure messages. */
  async logs(): Promise<string> {
    let out = "";
    for (const s of [this.a, this.b]) {
      out += `--- ${this.spec.tag} side ${s.name} (${s.impl ?? "stopped"}) log:\n${await s.logText()}`;
      out += `--- console:\n${await s.consoleText()}`;
    }
    return out;
  }

  async destroy(): Promise<void> {
    await Promise.all([this.a.stop(), this.b.stop()]);
    await this.a.ns.destroy();
    await this.b.ns.destroy();
    await this.wire?.destroy();
    await this.intruder?.destroy();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Runs `fn` on a fresh bed and always tears it down. */
export async function withBed<T>(spec: BedSpec, fn: (bed: SyncBed) => Promise<T>): Promise<T> {
  const bed = await SyncBed.create(spec);
  try {
    return await fn(bed);
  } finally {
    await bed.destroy();
  }
}

/** Polls `probe` until it returns true; the elapsed ms, or -1 after `ms`. */
export async function pollUntil(probe: () => Promise<boolean>, ms: number, every = 100): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await probe().catch(() => false)) return performance.now() - start;
    if (performance.now() - start > ms) return -1;
    await sleep(every);
  }
}

/** Runs at most `n` of the given async jobs at a time. */
export function limiter(n: number): <T>(job: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    while (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await job();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** Sorted-list difference for messages: what only `a` has and what only `b` has. */
export function listDiff(a: string[], b: string[]): string {
  const onlyA = a.filter((x) => !b.includes(x)), onlyB = b.filter((x) => !a.includes(x));
  return `only in first (${onlyA.length}):\n  ${onlyA.join("\n  ")}\nonly in second (${onlyB.length}):\n  ${
    onlyB.join("\n  ")
  }`;
}

/** Same multiset of lines. */
export function sameLines(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Makes sure the ctkit launcher's bundle is built before daemons start concurrently. */
export async function warmCtkit(): Promise<void> {
  await sh([CTKIT, "conntrackd", "-v"]);
}
