// Where a conntrackd daemon's memory goes: starts daemons in throw-away network
// namespaces and prints VmRSS, RssAnon and RssFile with a breakdown of the
// mappings (the deno binary's pages, V8 heap pages, malloc arenas).
//   scripts/probe-memory [--impl ctkit|ref|both] [--entries N] [--runs R] [--cases idle,stats,sync]
//                        [--binary PATH]
// Cases: idle (Stats and FTFW Sync daemons with no flows), stats (Stats mode
// with N flows cached by the start-up dump), sync (an FTFW/UDP receiver with
// N flows in its external cache, sent by a daemon of the same implementation).
// Figures are medians of R runs. CTKIT_BIN (or --binary PATH) chooses the ctkit
// executable (default scripts/ctkit); CTKIT_PROBE_DAEMON replaces ctkit's whole
// daemon command (e.g. a deno command line with other V8 flags).
import { ctkitBin } from "./ctkit_bin.ts";
import { median } from "./bench_run.ts";

const args = Deno.args;
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const ENTRIES = Number(opt("--entries", "100000"));
const RUNS = Number(opt("--runs", "3"));
const CASES = new Set(opt("--cases", "idle,stats,sync").split(","));
type Impl = "ctkit" | "ref";
const IMPLS: Impl[] = opt("--impl", "ctkit") === "both" ? ["ref", "ctkit"] : [opt("--impl", "ctkit") as Impl];
const DAEMON: Record<Impl, string> = {
  ref: "/usr/sbin/conntrackd",
  ctkit: Deno.env.get("CTKIT_PROBE_DAEMON") ?? `${ctkitBin()} conntrackd`,
};
const TMP = Deno.makeTempDirSync({ prefix: "ctkit-probe-mem-" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sh(line: string): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command("sh", { args: ["-c", line], stdin: "null", stderr: "piped" }).output();
  return { code: o.code, out: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr) };
}

async function must(line: string): Promise<string> {
  const r = await sh(line);
  if (r.code !== 0) throw new Error(`${line}: ${r.out}`);
  return r.out;
}

const namespaces = new Set<string>();
let nsCount = 0;

async function netns(): Promise<string> {
  const name = `ctkmem-${Deno.pid}-${++nsCount}`;
  await must(`ip netns add ${name} && ip -n ${name} link set lo up`);
  namespaces.add(name);
  return name;
}

async function dropNetns(name: string): Promise<void> {
  await sh(`ip netns del ${name}`);
  namespaces.delete(name);
}

/** `conntrack -R` input of n entries (the bench's kind of flows), made once. */
function entryFile(n: number): string {
  const f = `${TMP}/entries-${n}.txt`;
  try {
    Deno.statSync(f);
    return f;
  } catch { /* make it */ }
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const proto = i % 4 === 0 ? "udp" : "tcp";
    lines.push(
      `-I -s 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} -d 192.168.${i % 7}.1 -p ${proto} ` +
        `--sport ${1024 + (i % 60000)} --dport ${80 + (i % 3)}${
          proto === "tcp" ? " --state ESTABLISHED" : ""
        }` +
        ` -t 3600 -u ASSURED -m ${i % 5}`,
    );
  }
  Deno.writeTextFileSync(f, lines.join("\n") + "\n");
  return f;
}

const load = (ns: string, n: number) => must(`ip netns exec ${ns} /usr/sbin/conntrack -R ${entryFile(n)}`);

function general(dir: string, extra: string): string {
  return `General {\n\tLockFile ${dir}/lock\n\tUNIX {\n\t\tPath ${dir}/ctl\n\t}\n\tLogFile ${dir}/log\n` +
    `\tSyslog off\n${extra}}\n`;
}

const statsConf = (dir: string) =>
  general(dir, "\tNetlinkBufferSize 8388608\n\tNetlinkBufferSizeMaxGrowth 8388608\n") +
  `Stats {\n\tLogFile ${dir}/flows\n\tSyslog off\n}\n`;

const syncConf = (local: string, peer: string, iface: string) => (dir: string) =>
  general(dir, "\tNetlinkBufferSize 2097152\n\tNetlinkBufferSizeMaxGrowth 8388608\n") +
  `Sync {\n\tMode FTFW {\n\t}\n\tUDP {\n\t\tIPv4_address ${local}\n\t\tIPv4_Destination_Address ${peer}\n` +
  `\t\tPort 3780\n\t\tInterface ${iface}\n\t\tSndSocketBuffer 1249280\n\t\tRcvSocketBuffer 1249280\n` +
  `\t\tChecksum on\n\t}\n}\n`;

class Daemon {
  exited = false;

  private constructor(
    readonly pid: number,
    readonly conf: string,
    private readonly child: Deno.ChildProcess,
  ) {
    child.status.then(() => this.exited = true);
  }

  static async start(impl: Impl, ns: string, conf: (dir: string) => string): Promise<Daemon> {
    const dir = Deno.makeTempDirSync({ dir: TMP });
    Deno.writeTextFileSync(`${dir}/conntrackd.conf`, conf(dir));
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns,
        "sh",
        "-c",
        `exec ${DAEMON[impl]} -C ${dir}/conntrackd.conf >${dir}/out 2>&1`,
      ],
      stdin: "null",
    }).spawn();
    const d = new Daemon(child.pid, `${dir}/conntrackd.conf`, child);
    for (let i = 0; i < 600 && !d.exited; i++) {
      if ((await sh(`ip netns exec ${ns} /usr/sbin/conntrackd -C ${d.conf} -s >/dev/null 2>&1`)).code === 0) {
        return d;
      }
      await sleep(50);
    }
    await d.stop();
    throw new Error(`${impl} did not start: ${Deno.readTextFileSync(`${dir}/out`)}`);
  }

  async active(ns: string, cache: string): Promise<number> {
    const out = await must(`ip netns exec ${ns} /usr/sbin/conntrackd -C ${this.conf} -s`);
    return Number(new RegExp(`cache ${cache}:\\ncurrent active connections:\\s+(\\d+)`).exec(out)?.[1] ?? -1);
  }

  async waitFor(ns: string, cache: string, n: number): Promise<void> {
    for (let i = 0; i < 1200; i++) {
      if (await this.active(ns, cache) >= n) return;
      await sleep(100);
    }
    throw new Error(`cache ${cache} did not reach ${n}`);
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.child.status;
  }
}

/** kB figures of one process: status lines and smaps grouped by what the mapping is. */
function measure(pid: number): Record<string, number> {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  const m: Record<string, number> = {
    VmRSS: kb("VmRSS"),
    RssAnon: kb("RssAnon"),
    RssFile: kb("RssFile"),
    Threads: Number(/Threads:\s+(\d+)/.exec(status)?.[1]),
  };
  const add = (k: string, v: number) => m[k] = (m[k] ?? 0) + v;
  let name = "", size = 0, start = 0;
  // The runtime's own file, whatever its name (a packaged ctkit may run a runtime extracted elsewhere).
  let exe = "";
  try {
    exe = Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch { /* gone */ }
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[3];
      start = parseInt(head[1], 16);
      size = (parseInt(head[2], 16) - start) / 1024;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss || rss[1] === "0") continue;
    const v = Number(rss[1]);
    if (name === exe || name.endsWith("/deno") || name.endsWith("/conntrackd")) add("binary", v);
    else if (name === "[heap]") add("brk heap (main malloc arena)", v);
    else if (name !== "") add("other files, stacks", v);
    // V8 allocates its heap in 256 KiB pages, each its own mapping.
    else if (size === 256 || size === 260) add("V8 heap pages", v);
    // glibc's thread arenas are 64 MiB-aligned heaps of at most 64 MiB.
    else if (start % (64 << 20) === 0 && size <= 65536) add("thread malloc arenas", v);
    // The event ring's SharedArrayBuffer (16 MiB and its control words).
    else if (size >= 16384 && size <= 16400) add("event ring", v);
    else add("other anon (V8 large objects, code, mmap'd malloc)", v);
  }
  return m;
}

const results = new Map<string, Map<string, number[]>>();

function record(row: string, m: Record<string, number>): void {
  let r = results.get(row);
  if (!r) results.set(row, r = new Map());
  for (const [k, v] of Object.entries(m)) {
    let s = r.get(k);
    if (!s) r.set(k, s = []);
    s.push(v);
  }
}

async function idle(impl: Impl): Promise<void> {
  const a = await netns(), b = await netns();
  try {
    await must(`ip link add ctkM0 netns ${a} type veth peer name ctkM1 netns ${b}`);
    await must(`ip -n ${b} addr add 10.79.0.2/24 dev ctkM1 && ip -n ${b} link set ctkM1 up`);
    const stats = await Daemon.start(impl, a, statsConf);
    const sync = await Daemon.start(impl, b, syncConf("10.79.0.2", "10.79.0.1", "ctkM1"));
    await sleep(3000);
    record(`${impl} idle Stats`, measure(stats.pid));
    record(`${impl} idle Sync FTFW`, measure(sync.pid));
    await stats.stop();
    await sync.stop();
  } finally {
    await dropNetns(a);
    await dropNetns(b);
  }
}

async function statsCached(impl: Impl): Promise<void> {
  const ns = await netns();
  try {
    await load(ns, ENTRIES);
    const d = await Daemon.start(impl, ns, statsConf);
    await d.waitFor(ns, "stats", ENTRIES);
    await sleep(3000);
    record(`${impl} Stats, ${ENTRIES} cached`, measure(d.pid));
    await d.stop();
  } finally {
    await dropNetns(ns);
  }
}

async function syncReceiver(impl: Impl): Promise<void> {
  const a = await netns(), b = await netns();
  try {
    await must(`ip link add ctkM0 netns ${a} type veth peer name ctkM1 netns ${b}`);
    await must(`ip -n ${a} addr add 10.78.0.1/24 dev ctkM0 && ip -n ${a} link set ctkM0 up`);
    await must(`ip -n ${b} addr add 10.78.0.2/24 dev ctkM1 && ip -n ${b} link set ctkM1 up`);
    const rx = await Daemon.start(impl, b, syncConf("10.78.0.2", "10.78.0.1", "ctkM1"));
    const tx = await Daemon.start(impl, a, syncConf("10.78.0.1", "10.78.0.2", "ctkM0"));
    await sleep(500);
    await load(a, ENTRIES);
    await rx.waitFor(b, "external", ENTRIES);
    await sleep(3000);
    record(`${impl} Sync receiver, ${ENTRIES} external`, measure(rx.pid));
    record(`${impl} Sync sender, ${ENTRIES} internal`, measure(tx.pid));
    await tx.stop();
    await rx.stop();
  } finally {
    await dropNetns(a);
    await dropNetns(b);
  }
}

try {
  for (let i = 0; i < RUNS; i++) {
    for (const impl of IMPLS) {
      if (CASES.has("idle")) await idle(impl);
      if (CASES.has("stats")) await statsCached(impl);
      if (CASES.has("sync")) await syncReceiver(impl);
    }
  }
  for (const [row, r] of results) {
    const parts = [...r].map(([k, v]) =>
      k === "Threads"
        ? `${k} ${median(v)}`
        : `${k} ${(median(v) / 1024).toFixed(1)}${
          v.length > 1 ? ` (${(Math.min(...v) / 1024).toFixed(1)}-${(Math.max(...v) / 1024).toFixed(1)})` : ""
        }`
    );
    console.log(`${row} (MB):\n  ${parts.join("\n  ")}`);
  }
} finally {
  for (const ns of namespaces) await sh(`ip netns del ${ns}`);
  Deno.removeSync(TMP, { recursive: true });
}
