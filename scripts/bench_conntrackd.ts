// Side-by-side benchmark of the conntrackd daemon: the reference 1.4.7 (C) and
// `ctkit conntrackd`, each case in fresh network namespaces, the two daemons
// alternating run by run. Figures are medians with the range of all runs.
//   scripts/bench-conntrackd [--entries N] [--runs R] [--cases events,paced,cache,sync,replicate,scrape,auth]
//                            [--bursts 50000,100000,200000] [--rates 25000,50000,100000,150000,200000]
//                            [--scrape-ms 100]
//                            [--pairs ref->ref,ctkit->ctkit,ref->ctkit,ctkit->ref]
//                            [--buffer BYTES] [--markdown] [--raw FILE] [--binary PATH]
// Every daemon runs in console mode inside a namespace created here; client
// requests use the reference client for both daemons (the request protocol is
// the same), so the times are the daemons' and not the clients' start-up.
// Cases: events (Stats mode, bursts of N new entries at full speed), paced (the
// same at fixed rates), cache (RSS, -i, -R with ENTRIES cached flows), sync
// (FTFW/UDP replication of ENTRIES new flows, then -c on the receiver), replicate (sync
// without the commit), scrape (ctkit only: the events case's bursts with the Prometheus endpoint
// off, on but idle, and scraped every --scrape-ms from inside the namespace; issue 15), auth (replicate
// ref->ref and ctkit->ctkit against ctkit->ctkit with the Sync section's Authentication, authenticated
// only and encrypted; issue 14).
// Environment: CTKIT_BIN (the ctkit executable, default scripts/ctkit; --binary PATH sets it),
// CTKIT_BENCH_DAEMON (ctkit's whole daemon command instead, e.g. for profiling),
// CTKIT_BENCH_ONLY=ref|ctkit, CTKIT_BENCH_TRACE=1 (log the waits' progress and
// per-thread CPU), CTKIT_BENCH_KEEP=1 (keep the daemons' configs and output).
import { type CommandResult, cpuModel, median, runCommand } from "./bench_run.ts";
import { ctkitBin } from "./ctkit_bin.ts";

const args = Deno.args;
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const nums = (s: string) => s.split(",").filter((x) => x !== "").map(Number);
const ENTRIES = Number(opt("--entries", "100000"));
const RUNS = Number(opt("--runs", "5"));
const CASES = new Set(opt("--cases", "events,paced,cache,sync").split(","));
const BURSTS = nums(opt("--bursts", "50000,100000,200000"));
const RATES = nums(opt("--rates", "25000,50000,100000,150000,200000"));
/** Event socket buffer of the Stats-mode cases (NetlinkBufferSize = MaxGrowth: no growth). */
const BUFFER = Number(opt("--buffer", "2097152"));
/** The scrape case: one GET /metrics this often during a burst. */
const SCRAPE_MS = Number(opt("--scrape-ms", "100"));
const MARKDOWN = args.includes("--markdown");
const RAW = opt("--raw", "");
const TMP = Deno.makeTempDirSync({ prefix: "ctkit-bench-ctd-" });

type Impl = "ref" | "ctkit";
/** CTKIT_BENCH_DAEMON replaces ctkit's daemon command (e.g. `deno run --cpu-prof ... cli.ts conntrackd`). */
const DAEMON: Record<Impl, string> = {
  ref: "/usr/sbin/conntrackd",
  ctkit: Deno.env.get("CTKIT_BENCH_DAEMON") ?? `${ctkitBin()} conntrackd`,
};
/** CTKIT_BENCH_ONLY=ref|ctkit runs one side only (for profiling). */
const ONLY = Deno.env.get("CTKIT_BENCH_ONLY");
/** Sender->receiver pairs of the sync case. */
const PAIRS = opt("--pairs", "ref->ref,ctkit->ctkit,ref->ctkit,ctkit->ref").split(",").map((p) =>
  p.split("->") as [Impl, Impl]
);
/** CTKIT_BENCH_TRACE=1 logs every poll of a wait (progress over time). */
const TRACE = Deno.env.get("CTKIT_BENCH_TRACE") === "1";
const IMPLS: Impl[] = (["ref", "ctkit"] as Impl[]).filter((i) => !ONLY || i === ONLY);
const CLIENT = "/usr/sbin/conntrackd";
const CONNTRACK = "/usr/sbin/conntrack";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.error(`bench: ${s}`);

// ---------------------------------------------------------------------------------------------
// processes and namespaces

type Result = CommandResult;
const run = runCommand;

async function must(argv: string[]): Promise<Result> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r;
}

let nsCounter = 0;
const liveNs = new Set<string>();

class Ns {
  private constructor(readonly name: string) {}

  static async create(): Promise<Ns> {
    const name = `ctkd-bench-${Deno.pid}-${++nsCounter}`;
    await must(["ip", "netns", "add", name]);
    liveNs.add(name);
    const ns = new Ns(name);
    await must(ns.argv(["ip", "link", "set", "lo", "up"]));
    return ns;
  }

  argv(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.name, ...cmd];
  }

  /** A shell command line in the namespace. */
  sh(line: string, stdin?: string): Promise<Result> {
    return run(this.argv(["sh", "-c", line]), stdin);
  }

  async conntrackCount(): Promise<number> {
    const r = await run(this.argv(["cat", "/proc/sys/net/netfilter/nf_conntrack_count"]));
    return Number(r.stdout.trim());
  }

  async destroy(): Promise<void> {
    await run(["ip", "netns", "del", this.name]);
    liveNs.delete(this.name);
  }
}

/** Namespaces a and b joined by a veth pair (10.78.0.1 in a on `ctkA`, 10.78.0.2 in b on `ctkB`). */
async function vethPair(a: Ns, b: Ns): Promise<void> {
  await must([
    "ip",
    "link",
    "add",
    "ctkA",
    "netns",
    a.name,
    "type",
    "veth",
    "peer",
    "name",
    "ctkB",
    "netns",
    b.name,
  ]);
  await must(a.argv(["ip", "addr", "add", "10.78.0.1/24", "dev", "ctkA"]));
  await must(b.argv(["ip", "addr", "add", "10.78.0.2/24", "dev", "ctkB"]));
  await must(a.argv(["ip", "link", "set", "ctkA", "up"]));
  await must(b.argv(["ip", "link", "set", "ctkB", "up"]));
}

// ---------------------------------------------------------------------------------------------
// kernel entries: `conntrack -R` files of -I lines, like scripts/bench_conntrack.ts

function entryLines(n: number, offset = 0): string[] {
  const lines: string[] = [];
  for (let j = 0; j < n; j++) {
    const i = j + offset;
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const proto = i % 4 === 0 ? "udp" : "tcp";
    const state = proto === "tcp" ? " --state ESTABLISHED" : "";
    lines.push(
      `-I -s ${a} -d 192.168.${i % 7}.1 -p ${proto} --sport ${1024 + (i % 60000)} --dport ${
        80 + (i % 3)
      }${state} -t 3600 -u ASSURED -m ${i % 5}`,
    );
  }
  return lines;
}

const entryFiles = new Map<number, string>();

/** A file of n `-I` lines for `conntrack -R` (made once per size). */
function entryFile(n: number): string {
  let f = entryFiles.get(n);
  if (!f) {
    f = `${TMP}/entries-${n}.txt`;
    Deno.writeTextFileSync(f, entryLines(n).join("\n") + "\n");
    entryFiles.set(n, f);
  }
  return f;
}

/** Creates n entries at full speed (one `conntrack -R`). */
async function load(ns: Ns, n: number): Promise<number> {
  const r = await ns.sh(`exec ${CONNTRACK} -R ${entryFile(n)}`);
  if (r.code !== 0) throw new Error(`conntrack -R: ${r.stderr}`);
  return r.ms;
}

// The event generator: n conntracks like entryLines() (the same tuples, status, timeout, mark and TCP
// state), built in advance as raw ctnetlink IPCTNL_MSG_CT_NEW messages and sent 64 to a datagram
// without ACKs, in 10 ms slices at `rate` per second (0: as fast as the kernel takes them).
// `conntrack -R` cannot be paced: it parses its whole input before it sends anything.
const GENERATOR = `
import socket, struct, sys, time
n, rate = int(sys.argv[1]), float(sys.argv[2])
NESTED = 0x8000
def attr(t, payload):
    l = 4 + len(payload)
    return struct.pack("=HH", l, t) + payload + b"\\0" * ((4 - l % 4) % 4)
def nest(t, *parts):
    return attr(t | NESTED, b"".join(parts))
def tup(src, dst, proto, sp, dp):
    return nest(1, attr(1, src), attr(2, dst)) + nest(2, attr(1, bytes([proto])),
        attr(2, struct.pack(">H", sp)), attr(3, struct.pack(">H", dp)))
msgs = []
for i in range(n):
    s = bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
    d = bytes([192, 168, i % 7, 1])
    udp = i % 4 == 0
    proto, sp, dp = (17 if udp else 6), 1024 + i % 60000, 80 + i % 3
    body = nest(1, tup(s, d, proto, sp, dp)) + nest(2, tup(d, s, proto, dp, sp))
    # status ASSURED|CONFIRMED (as conntrack -I -u ASSURED), timeout 3600, mark, TCP ESTABLISHED
    body += attr(3, struct.pack(">I", 12)) + attr(7, struct.pack(">I", 3600)) + attr(8, struct.pack(">I", i % 5))
    if not udp:
        body += nest(4, nest(1, attr(1, bytes([3]))))
    payload = struct.pack("=BBH", 2, 0, 0) + body
    msgs.append(struct.pack("=IHHII", 16 + len(payload), 0x100, 0x1 | 0x400 | 0x200, i + 1, 0) + payload)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((0, 0))
errors = 0
def drain():
    global errors
    while True:
        try:
            d = s.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        off = 0
        while off + 20 <= len(d):
            l, t = struct.unpack_from("=IH", d, off)
            if t == 2 and struct.unpack_from("=i", d, off + 16)[0] != 0:
                errors += 1
            off += (l + 3) & ~3
sys.stdout.write("ready\\n")
sys.stdout.flush()
sys.stdin.readline()
t0 = time.monotonic()
step = max(1, int(rate / 100)) if rate > 0 else 64
sent = 0
while sent < n:
    k = min(step, n - sent)
    for j in range(sent, sent + k, 64):
        s.send(b"".join(msgs[j:min(j + 64, sent + k)]))
    sent += k
    drain()
    if rate > 0:
        wait = t0 + sent / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
dt = time.monotonic() - t0
time.sleep(0.05)
drain()
print(f"{sent} {dt:.6f} {errors}")
`;

/**
 * Creates n entries at `rate` per second (0: full speed) with the generator; resolves with the
 * sending time in ms once the messages are built and sent (`t0` is set when sending starts).
 */
async function generate(ns: Ns, n: number, rate: number, started: (t0: number) => void): Promise<number> {
  const p = new Deno.Command("ip", {
    args: ns.argv(["python3", "-c", GENERATOR, String(n), String(rate)]).slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("ready\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`generator: ${await new Response(p.stderr).text()}`);
    out += value;
  }
  started(performance.now());
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode("go\n"));
  await w.close();
  out = "";
  for (;;) {
    const { value, done } = await lines.read();
    if (done) break;
    out += value;
  }
  const err = await new Response(p.stderr).text();
  const [sent, secs, errors] = out.trim().split(" ").map(Number);
  if ((await p.status).code !== 0 || sent !== n || errors !== 0) {
    throw new Error(`generator: sent ${sent}, ${errors} errors: ${err}`);
  }
  return secs * 1000;
}

// ---------------------------------------------------------------------------------------------
// daemons

interface Memory {
  rss: number;
  hwm: number;
  /** Anonymous memory only: without the mapped executable (Deno's is ~33 MB). */
  anon: number;
}

const MB = (kb: number) => kb / 1024;

/** Daemons still running, stopped on Ctrl-C. */
const liveDaemons = new Set<Daemon>();

class Daemon {
  private constructor(
    readonly impl: Impl,
    readonly ns: Ns,
    readonly conf: string,
    readonly dir: string,
    private readonly child: Deno.ChildProcess,
    /** The client of request(): the reference's, unless the config has ctkit's Metrics clause. */
    private readonly client = CLIENT,
  ) {}

  /**
   * Starts `impl` in console mode in ns with the config `text`; resolves once it answers `-s`.
   * `client` runs the requests (ctkit's for a config the reference's client does not read).
   */
  static async start(
    impl: Impl,
    ns: Ns,
    name: string,
    text: (dir: string) => string,
    client = CLIENT,
  ): Promise<Daemon> {
    const dir = `${TMP}/${ns.name}-${name}`;
    Deno.mkdirSync(dir, { recursive: true });
    const conf = `${dir}/conntrackd.conf`;
    Deno.writeTextFileSync(conf, text(dir));
    const child = new Deno.Command("ip", {
      args: ns.argv(["sh", "-c", `exec ${DAEMON[impl]} -C ${conf} >>${dir}/console 2>&1`]).slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const d = new Daemon(impl, ns, conf, dir, child, client);
    liveDaemons.add(d);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if ((await d.request("-s")).code === 0) return d;
      await sleep(50);
    }
    await d.stop();
    throw new Error(`${impl} daemon did not start: ${Deno.readTextFileSync(`${dir}/console`)}`);
  }

  /** `ip netns exec`, sh and the ctkit executable (launcher or packaged) exec: the child's pid is the daemon's. */
  get pid(): number {
    return this.child.pid;
  }

  /** A client request (reference client) with stdout to /dev/null when `quiet`; timed. */
  request(...flags: string[]): Promise<Result> {
    return this.ns.sh(`exec ${this.client} -C ${this.conf} ${flags.join(" ")}`);
  }

  async timed(flags: string, client = CLIENT): Promise<number> {
    const r = await this.ns.sh(`exec ${client} -C ${this.conf} ${flags} >/dev/null`);
    if (r.code !== 0) throw new Error(`${this.impl}: ${flags}: ${r.stderr}`);
    return r.ms;
  }

  async cacheActive(cache: string): Promise<number> {
    const text = (await this.request("-s")).stdout;
    const m = new RegExp(`cache ${cache}:\\ncurrent active connections:\\s+(\\d+)`).exec(text);
    return m ? Number(m[1]) : -1;
  }

  async runtime(): Promise<{ received: number; overrun: number; buffer: number }> {
    const text = (await this.request("-s", "runtime")).stdout;
    const n = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(text)?.[1] ?? NaN);
    return {
      received: n("events received"),
      overrun: n("netlink overrun"),
      buffer: n("current buffer size \\(in bytes\\)"),
    };
  }

  memory(): Memory {
    const s = Deno.readTextFileSync(`/proc/${this.pid}/status`);
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
    return { rss: kb("VmRSS"), hwm: kb("VmHWM"), anon: kb("RssAnon") };
  }

  /** User + system CPU time of the daemon so far (all its threads), in ms. */
  cpuMs(): number {
    const stat = Deno.readTextFileSync(`/proc/${this.pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 (utime, stime) in clock ticks of 10 ms.
    return (Number(f[11]) + Number(f[12])) * 10;
  }

  /** CPU ms per thread name (tracing). */
  threadCpu(): string {
    const by = new Map<string, number>();
    for (const t of Deno.readDirSync(`/proc/${this.pid}/task`)) {
      const stat = Deno.readTextFileSync(`/proc/${this.pid}/task/${t.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      by.set(name, (by.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) * 10);
    }
    return [...by].map(([k, v]) => `${k}=${v}`).join(" ");
  }

  logText(): string {
    try {
      return Deno.readTextFileSync(`${this.dir}/log`);
    } catch {
      return "";
    }
  }

  async stop(): Promise<void> {
    liveDaemons.delete(this);
    const exited = (ms: number) =>
      Promise.race([this.child.status.then(() => true), sleep(ms).then(() => false)]);
    try {
      this.child.kill("SIGTERM");
    } catch { /* gone */ }
    if (!(await exited(10_000))) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
      await exited(5000);
    }
  }
}

function general(dir: string, extra: string): string {
  return `General {\n\tLockFile ${dir}/lock\n\tUNIX {\n\t\tPath ${dir}/ctl\n\t}\n\tLogFile ${dir}/log\n` +
    `\tSyslog off\n${extra}}\n`;
}

/** Stats mode; the event buffer is fixed at `buffer` bytes (no growth) and overruns are not resynced. */
function statsConfig(buffer: number, metrics = false): (dir: string) => string {
  return (dir) =>
    general(
      dir,
      `\tNetlinkBufferSize ${buffer}\n\tNetlinkBufferSizeMaxGrowth ${buffer}\n\tNetlinkOverrunResync off\n` +
        (metrics ? "\tMetrics {\n\t\tAddress 127.0.0.1\n\t\tPort 9595\n\t}\n" : ""),
    ) + `Stats {\n\tLogFile ${dir}/flows\n\tSyslog off\n}\n`;
}

/** FTFW over UDP on the veth, the buffers of Debian's FTFW example configuration; `auth`: ctkit's clause. */
function syncConfig(local: string, peer: string, iface: string, auth?: AuthVariant): (dir: string) => string {
  const clause = auth
    ? `\tAuthentication {\n\t\tKeyFile ${authKey()}\n\t\tEncrypt ${auth.encrypt ? "on" : "off"}\n\t}\n`
    : "";
  return (dir) =>
    general(dir, "\tNetlinkBufferSize 2097152\n\tNetlinkBufferSizeMaxGrowth 8388608\n") +
    `Sync {\n\tMode FTFW {\n\t}\n\tUDP {\n\t\tIPv4_address ${local}\n\t\tIPv4_Destination_Address ${peer}\n` +
    `\t\tPort 3780\n\t\tInterface ${iface}\n\t\tSndSocketBuffer 1249280\n\t\tRcvSocketBuffer 1249280\n` +
    `\t\tChecksum on\n\t}\n${clause}}\n`;
}

/** The auth case's ctkit variants: the column name and whether the records are encrypted. */
interface AuthVariant {
  column: string;
  encrypt: boolean;
}

/** The auth case's columns, in the order of the table. */
const AUTH_COLUMNS = ["ref->ref", "ctkit->ctkit", "ctkit auth", "ctkit auth+encrypt"];

let keyFile: string | undefined;
/** One key file for every authenticated daemon of the run (root-only); their state files beside it. */
function authKey(): string {
  if (keyFile) return keyFile;
  keyFile = `${TMP}/sync.key`;
  Deno.writeFileSync(keyFile, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
  Deno.chmodSync(keyFile, 0o600);
  Deno.env.set("CTKIT_STATE_DIR", `${TMP}/state`);
  return keyFile;
}

/** Polls `probe` every `every` ms until it returns true; false once nothing changed for `idleMs`. */
async function waitUntil(
  probe: () => Promise<{ done: boolean; progress: number }>,
  every: number,
  idleMs: number,
): Promise<{ done: boolean; at: number }> {
  const start = performance.now();
  let last = -1, lastChange = start;
  for (;;) {
    const { done, progress } = await probe();
    const t = performance.now();
    if (TRACE) log(`  ${(t - start).toFixed(0)} ms: ${progress}`);
    if (done) return { done, at: t };
    if (progress !== last) last = progress, lastChange = t;
    else if (t - lastChange > idleMs) return { done: false, at: lastChange };
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------------------
// samples

/** Samples per case row and implementation (or pair, for the sync cases). */
const samples = new Map<string, Map<string, number[]>>();

function record(row: string, who: string, v: number): void {
  recordRow(row, who, v);
}

function recordRow(row: string, who: string, v: number): void {
  let r = samples.get(row);
  if (!r) samples.set(row, r = new Map());
  let s = r.get(who);
  if (!s) r.set(who, s = []);
  s.push(v);
}

/** Runs `body` for each implementation in the order of run i (alternating which goes first). */
async function alternate(i: number, body: (impl: Impl) => Promise<void>): Promise<void> {
  for (const impl of i % 2 === 0 ? IMPLS : [...IMPLS].reverse()) await body(impl);
}

// ---------------------------------------------------------------------------------------------
// cases

/** Stats mode: n new entries at `rate` events/s (0: as fast as the kernel takes them). */
async function eventBurst(impl: Impl, n: number, rate: number): Promise<void> {
  const ns = await Ns.create();
  try {
    const d = await Daemon.start(impl, ns, impl, statsConfig(BUFFER));
    try {
      await sleep(300);
      let t0 = 0;
      const cpu0 = d.cpuMs();
      const sendMs = await generate(ns, n, rate, (t) => t0 = t);
      let rt = await d.runtime();
      const end = await waitUntil(
        async () => {
          rt = await d.runtime();
          return { done: rt.received >= n, progress: rt.received };
        },
        50,
        600,
      );
      // Until the last event was taken: the sending time if the daemon had them all by then.
      const secs = Math.max(end.at - t0 - 50, sendMs) / 1000;
      const row = rate ? `paced ${rate}/s` : `burst ${n}`;
      record(`${row}: events received`, impl, rt.received);
      record(`${row}: netlink overruns`, impl, rt.overrun);
      if (!rate) record(`${row}: events/s taken`, impl, rt.received / secs);
      record(`${row}: daemon CPU µs per event`, impl, (d.cpuMs() - cpu0) * 1000 / rt.received);
      if (!rate) record(`${row}: events/s sent`, impl, n / (sendMs / 1000));
      if (!rate) record(`${row}: VmHWM (MB)`, impl, MB(d.memory().hwm));
      if (TRACE) log(`threads: ${d.threadCpu()}`);
      log(
        `${row} ${impl}: ${rt.received} received, ${rt.overrun} overruns, ${
          (rt.received / secs).toFixed(0)
        }/s`,
      );
    } finally {
      await d.stop();
    }
  } finally {
    await ns.destroy();
  }
}

// The scraper: GET /metrics every `ms` over one kept-alive connection (as Prometheus does), from
// inside the namespace, until SIGTERM; prints the count, the failures and the latencies.
const SCRAPER = `
import http.client, signal, sys, time
ms = float(sys.argv[1]) / 1000
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
conn = http.client.HTTPConnection("127.0.0.1", 9595, timeout=5)
lat, errors, size = [], 0, 0
sys.stdout.write("ready\\n")
sys.stdout.flush()
nxt = time.monotonic()
while not stop:
    t = time.monotonic()
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            errors += 1
        size = len(body)
        lat.append(time.monotonic() - t)
    except Exception:
        errors += 1
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", 9595, timeout=5)
    nxt += ms
    time.sleep(max(0, nxt - time.monotonic()))
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
print(len(lat), errors, size, f"{q(0.5):.3f}", f"{q(0.99):.3f}", f"{(lat[-1] * 1000 if lat else 0):.3f}")
`;

/** Variants of the scrape case: the endpoint off, on and idle, on and scraped. */
type ScrapeVariant = "no endpoint" | "endpoint, idle" | "scraped";

/** A ctkit Stats-mode event burst of n with the Prometheus endpoint as `variant` says. */
async function scrapeBurst(variant: ScrapeVariant, n: number): Promise<void> {
  const ns = await Ns.create();
  const col = variant === "scraped" ? `scraped every ${SCRAPE_MS} ms` : variant;
  try {
    // ctkit's client for all three (the reference's refuses the Metrics clause)
    const d = await Daemon.start(
      "ctkit",
      ns,
      "ctkit",
      statsConfig(BUFFER, variant !== "no endpoint"),
      `${ctkitBin()} conntrackd`,
    );
    let scraper: Deno.ChildProcess | null = null;
    let reader: ReadableStreamDefaultReader<string> | null = null;
    try {
      if (variant === "scraped") {
        scraper = new Deno.Command("ip", {
          args: ns.argv(["python3", "-c", SCRAPER, String(SCRAPE_MS)]).slice(1),
          stdin: "null",
          stdout: "piped",
          stderr: "null",
        }).spawn();
        reader = scraper.stdout.pipeThrough(new TextDecoderStream()).getReader();
        const first = await reader.read();
        if (!first.value?.includes("ready")) throw new Error("scraper did not start");
      }
      await sleep(300);
      let t0 = 0;
      const cpu0 = d.cpuMs();
      const sendMs = await generate(ns, n, 0, (t) => t0 = t);
      let rt = await d.runtime();
      const end = await waitUntil(
        async () => {
          rt = await d.runtime();
          return { done: rt.received >= n, progress: rt.received };
        },
        50,
        600,
      );
      const secs = Math.max(end.at - t0 - 50, sendMs) / 1000;
      const cpu = d.cpuMs() - cpu0;
      const row = `scrape ${n}`;
      record(`${row}: events received`, col, rt.received);
      record(`${row}: netlink overruns`, col, rt.overrun);
      record(`${row}: events/s taken`, col, rt.received / secs);
      record(`${row}: daemon CPU µs per event`, col, cpu * 1000 / rt.received);
      let note = "";
      if (scraper && reader) {
        scraper.kill("SIGTERM");
        let text = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
        }
        await scraper.status;
        const [count, errors, size, p50, p99, max] = text.trim().split(" ").map(Number);
        record(`${row}: scrapes during the burst and its wait`, col, count);
        record(`${row}: scrape errors`, col, errors);
        record(`${row}: scrape latency p50 (ms)`, col, p50);
        record(`${row}: scrape latency p99 (ms)`, col, p99);
        record(`${row}: scrape latency max (ms)`, col, max);
        record(`${row}: exposition size (bytes)`, col, size);
        scraper = null;
        note = `, ${count} scrapes (${errors} failed), latency p50 ${p50} ms, max ${max} ms`;
      }
      log(
        `${row} ${col}: ${rt.received} received, ${rt.overrun} overruns, ${
          (rt.received / secs).toFixed(0)
        }/s${note}`,
      );
    } finally {
      if (scraper) {
        try {
          scraper.kill("SIGKILL");
        } catch { /* gone */ }
        await scraper.status;
      }
      await d.stop();
    }
  } finally {
    await ns.destroy();
  }
}

/** Stats mode with ENTRIES flows cached at start-up: RSS, `-i` and `-R`. */
async function cachedFlows(impl: Impl): Promise<void> {
  const ns = await Ns.create();
  try {
    // The daemon's own footprint first: no flows at all.
    const idle = await Daemon.start(impl, ns, `${impl}-idle`, statsConfig(8 << 20));
    await sleep(1000);
    const m0 = idle.memory();
    await idle.stop();
    record("VmRSS, no flows (MB)", impl, MB(m0.rss));
    record("RssAnon, no flows (MB)", impl, MB(m0.anon));
    await load(ns, ENTRIES);
    const t0 = performance.now();
    // A buffer big enough that nothing is lost; the cache is filled by the start-up dump.
    const d = await Daemon.start(impl, ns, impl, statsConfig(8 << 20));
    try {
      const ready = await waitUntil(
        async () => {
          const n = await d.cacheActive("stats");
          return { done: n >= ENTRIES, progress: n };
        },
        50,
        5000,
      );
      if (!ready.done) throw new Error(`${impl}: start-up dump did not cache ${ENTRIES} flows`);
      record("start-up until all flows cached (ms)", impl, ready.at - t0);
      await sleep(500);
      const m = d.memory();
      record("VmRSS, stats cache (MB)", impl, MB(m.rss));
      record("RssAnon, stats cache (MB)", impl, MB(m.anon));
      record("-i (ms)", impl, await d.timed("-i"));
      if (impl === "ctkit") record("-i (ms)", "ctkit client", await d.timed("-i", DAEMON.ctkit));
      record("VmHWM after -i (MB)", impl, MB(d.memory().hwm));
      record("-R (ms)", impl, await d.timed("-R"));
      if (await d.cacheActive("stats") !== ENTRIES) throw new Error(`${impl}: -R changed the cache`);
      record("VmHWM after -i, then -R (MB)", impl, MB(d.memory().hwm));
      log(`cache ${impl}: RSS ${MB(m.rss).toFixed(1)} MB`);
    } finally {
      await d.stop();
    }
  } finally {
    await ns.destroy();
  }
}

/**
 * FTFW/UDP from `tx` (namespace a) to `rx` (b): replication of ENTRIES new flows, then commit on b.
 * With `auth` (the auth case) both are ctkit with the Authentication clause; its rows start with "auth ".
 */
async function syncPair(
  tx: Impl,
  rx: Impl,
  commit: boolean,
  opts: { auth?: AuthVariant; rows?: string } = {},
): Promise<void> {
  const auth = opts.auth;
  const pair = auth?.column ?? `${tx}->${rx}`;
  const record = (row: string, who: string, v: number) => recordRow(`${opts.rows ?? ""}${row}`, who, v);
  const a = await Ns.create(), b = await Ns.create();
  const ds: Daemon[] = [];
  // the reference's client refuses the Authentication clause
  const requests = auth ? `${ctkitBin()} conntrackd` : CLIENT;
  try {
    await vethPair(a, b);
    const dr = await Daemon.start(
      rx,
      b,
      `rx-${rx}`,
      syncConfig("10.78.0.2", "10.78.0.1", "ctkB", auth),
      requests,
    );
    ds.push(dr);
    const dt = await Daemon.start(
      tx,
      a,
      `tx-${tx}`,
      syncConfig("10.78.0.1", "10.78.0.2", "ctkA", auth),
      requests,
    );
    ds.push(dt);
    await sleep(500);
    const cpu0 = [dt.cpuMs(), dr.cpuMs()];
    const t0 = performance.now();
    await load(a, ENTRIES);
    let ext = 0;
    const end = await waitUntil(
      async () => {
        ext = await dr.cacheActive("external");
        return { done: ext >= ENTRIES, progress: ext };
      },
      50,
      45_000, // covers a resync after an overrun (NetlinkOverrunResync: 30 s by default)
    );
    const rt = await dt.runtime();
    if (TRACE) log(`threads: tx ${dt.threadCpu()} / rx ${dr.threadCpu()}`);
    record("replicate: sender CPU time (ms)", pair, dt.cpuMs() - cpu0[0]);
    record("replicate: receiver CPU time (ms)", pair, dr.cpuMs() - cpu0[1]);
    const net = (await dr.request("-s", "network")).stdout;
    const lost = Number(/Packets lost:\s+(\d+)/.exec(net)?.[1] ?? NaN);
    record("replicate: receiver 'Packets lost' (-s network)", pair, lost);
    const traffic = /(\d+) Bytes sent\s+\d+ Bytes recv\n\s*(\d+) Pckts sent/.exec(
      (await dt.request("-s")).stdout,
    );
    record("replicate: sender datagrams sent", pair, Number(traffic?.[2] ?? NaN));
    record("replicate: sender bytes sent", pair, Number(traffic?.[1] ?? NaN));
    const queues = (await dt.request("-s", "queue")).stdout;
    const rsq = Number(/queue rsqueue:\ncurrent elements:\s+(\d+)/.exec(queues)?.[1] ?? NaN);
    record("replicate: sender resend queue length after (-s queue)", pair, rsq);
    log(`sync ${pair}: ${ext} external after ${(end.at - t0).toFixed(0)} ms, ${rt.overrun} overruns`);
    record("replicate: last flow in the peer's external cache (ms)", pair, end.done ? end.at - t0 : NaN);
    record("replicate: flows in the external cache", pair, ext);
    record("replicate: sender netlink overruns", pair, rt.overrun);
    const mt = dt.memory(), mr = dr.memory();
    record("sender VmRSS, all flows in the internal cache (MB)", pair, MB(mt.rss));
    record("sender RssAnon, all flows in the internal cache (MB)", pair, MB(mt.anon));
    record("receiver VmRSS, all flows in the external cache (MB)", pair, MB(mr.rss));
    record("receiver RssAnon, all flows in the external cache (MB)", pair, MB(mr.anon));
    if (!commit || !end.done) return;
    const before = await b.conntrackCount();
    const cpuC = dr.cpuMs();
    const c0 = performance.now();
    const client = await dr.timed("-c");
    const full = await waitUntil(
      async () => {
        const n = await b.conntrackCount() - before;
        return { done: n >= ENTRIES, progress: n };
      },
      20,
      5000,
    );
    record("commit: client -c returns (ms)", pair, client);
    record("commit: receiver CPU time (ms)", pair, dr.cpuMs() - cpuC);
    record("commit: kernel holds all flows (ms)", pair, full.done ? full.at - c0 : NaN);
    const taken = [...dr.logText().matchAll(/commit has taken (\d+\.\d+) seconds/g)].pop();
    record("commit: 'commit has taken' (ms)", pair, taken ? Number(taken[1]) * 1000 : NaN);
    await sleep(300);
    record("receiver VmHWM after commit (MB)", pair, MB(dr.memory().hwm));
    log(`commit ${pair}: client ${client.toFixed(0)} ms, complete ${(full.at - c0).toFixed(0)} ms`);
    // The kernel's share of any commit: the same number of entries created by a burst of pre-built
    // requests (no ACKs, nothing else running in a fresh namespace), measured in the same run.
    const bare = await Ns.create();
    try {
      record(
        "commit: the kernel alone creating as many entries (ms)",
        pair,
        await generate(bare, ENTRIES, 0, () => {}),
      );
    } finally {
      await bare.destroy();
    }
  } finally {
    for (const d of ds.reverse()) await d.stop();
    await a.destroy();
    await b.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// report

function fmt(v: number): string {
  if (!Number.isFinite(v)) return "—";
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function cell(xs: number[] | undefined): string {
  if (!xs?.length) return "";
  const ok = xs.filter((x) => !Number.isNaN(x));
  const fails = xs.length - ok.length;
  const m = fmt(median(xs));
  const range = ok.length > 1 ? ` (${fmt(Math.min(...ok))}–${fmt(Math.max(...ok))})` : "";
  return m + range + (fails ? ` [${fails} of ${xs.length} never done]` : "");
}

function table(
  title: string,
  rows: string[],
  cols: string[],
  ratio?: [string, string] | [string, string][],
): string[] {
  const out: string[] = [];
  const ratios: [string, string][] = !ratio
    ? []
    : typeof ratio[0] === "string"
    ? [ratio as [string, string]]
    : ratio as [string, string][];
  const head = ["case", ...cols, ...ratios.map((r) => ratios.length > 1 ? `${r[1]} / ${r[0]}` : "ratio")];
  if (MARKDOWN) {
    out.push(
      `${title}`,
      "",
      `| ${head.join(" | ")} |`,
      `|---|${cols.map(() => "---:").join("|")}|${ratios.map(() => "---:|").join("")}`,
    );
  } else out.push(title, head.join("\t"));
  for (const row of rows) {
    const r = samples.get(row);
    if (!r) continue;
    const cells = [row, ...cols.map((c) => cell(r.get(c)))];
    for (const [x, y] of ratios) cells.push(fmt(median(r.get(y) ?? []) / median(r.get(x) ?? [])));
    out.push(MARKDOWN ? `| ${cells.join(" | ")} |` : cells.join("\t"));
  }
  out.push("");
  return out;
}

function report(): void {
  const rows = (prefix: string) => [...samples.keys()].filter((k) => k.startsWith(prefix));
  const lines = [
    `${new Date().toISOString().slice(0, 10)}, ${cpuModel()}, ${navigator.hardwareConcurrency} cores, ` +
    `kernel ${Deno.osRelease()}, ${ENTRIES} entries, ${RUNS} alternating runs per case, ` +
    `median (min–max); load average at the end ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
    "",
  ];
  if (CASES.has("events") || CASES.has("paced")) {
    lines.push(
      ...table(
        `Stats mode, NetlinkBufferSize = MaxGrowth = ${BUFFER} bytes, no overrun resync: NEW events from ` +
          "ctnetlink creates (burst = as fast as the kernel takes them; paced = offered events/s)",
        [...rows("burst"), ...rows("paced")],
        ["ref", "ctkit"],
        ["ref", "ctkit"],
      ),
    );
  }
  if (CASES.has("scrape")) {
    lines.push(
      ...table(
        `ctkit in Stats mode, NetlinkBufferSize = MaxGrowth = ${BUFFER} bytes, no overrun resync: event bursts ` +
          `with the Prometheus endpoint off, on but idle, and scraped every ${SCRAPE_MS} ms from inside the namespace`,
        rows("scrape"),
        ["no endpoint", "endpoint, idle", `scraped every ${SCRAPE_MS} ms`],
        ["no endpoint", `scraped every ${SCRAPE_MS} ms`],
      ),
    );
  }
  if (CASES.has("cache")) {
    lines.push(
      ...table(
        `Stats mode with ${ENTRIES} flows cached by the start-up dump (reference client for both daemons)`,
        [
          "start-up until all flows cached (ms)",
          "VmRSS, no flows (MB)",
          "RssAnon, no flows (MB)",
          "VmRSS, stats cache (MB)",
          "RssAnon, stats cache (MB)",
          "-i (ms)",
          "VmHWM after -i (MB)",
          "-R (ms)",
          "VmHWM after -i, then -R (MB)",
        ],
        ["ref", "ctkit", "ctkit client"],
        ["ref", "ctkit"],
      ),
    );
  }
  if (CASES.has("auth")) {
    lines.push(
      ...table(
        `FTFW over UDP on a veth, ${ENTRIES} new flows created on the sender by one \`conntrack -R\`: ` +
          "ctkit->ctkit with the Sync section's Authentication (authenticated; encrypted) against without, " +
          "and the reference (ratios: each authenticated column over ctkit->ctkit)",
        rows("auth "),
        AUTH_COLUMNS,
        [["ctkit->ctkit", "ctkit auth"], ["ctkit->ctkit", "ctkit auth+encrypt"]],
      ),
    );
  }
  if (CASES.has("sync") || CASES.has("replicate")) {
    lines.push(
      ...table(
        `FTFW over UDP on a veth, ${ENTRIES} new flows created on the sender by one \`conntrack -R\`, then ` +
          "`-c` on the receiver (sender->receiver)",
        [...rows("replicate"), ...rows("sender"), ...rows("receiver"), ...rows("commit")],
        ["ref->ref", "ctkit->ctkit", "ref->ctkit", "ctkit->ref"],
        ["ref->ref", "ctkit->ctkit"],
      ),
    );
  }
  console.log(lines.join("\n"));
  if (RAW) {
    Deno.writeTextFileSync(
      RAW,
      JSON.stringify(Object.fromEntries([...samples].map(([k, v]) => [k, Object.fromEntries(v)])), null, 1),
    );
  }
}

async function main(): Promise<void> {
  if (Deno.uid() !== 0) throw new Error("needs root (network namespaces)");
  log(`${RUNS} runs per case, temp dir ${TMP}`);
  if (CASES.has("events")) {
    for (const n of BURSTS) {
      for (let i = 0; i < RUNS; i++) await alternate(i, (impl) => eventBurst(impl, n, 0));
    }
  }
  if (CASES.has("paced")) {
    for (const rate of RATES) {
      for (let i = 0; i < RUNS; i++) await alternate(i, (impl) => eventBurst(impl, ENTRIES, rate));
    }
  }
  if (CASES.has("scrape")) {
    const variants: ScrapeVariant[] = ["no endpoint", "endpoint, idle", "scraped"];
    for (const n of BURSTS) {
      for (let i = 0; i < RUNS; i++) {
        // rotate which variant goes first
        for (let k = 0; k < variants.length; k++) await scrapeBurst(variants[(i + k) % variants.length], n);
      }
    }
  }
  if (CASES.has("cache")) {
    for (let i = 0; i < RUNS; i++) await alternate(i, cachedFlows);
  }
  if (CASES.has("auth")) {
    // ref->ref, ctkit->ctkit, authenticated, encrypted: the order rotates from run to run
    const variants: (() => Promise<void>)[] = [
      () => syncPair("ref", "ref", false, { rows: "auth " }),
      () => syncPair("ctkit", "ctkit", false, { rows: "auth " }),
      () =>
        syncPair("ctkit", "ctkit", false, { rows: "auth ", auth: { column: "ctkit auth", encrypt: false } }),
      () =>
        syncPair("ctkit", "ctkit", false, {
          rows: "auth ",
          auth: { column: "ctkit auth+encrypt", encrypt: true },
        }),
    ];
    for (let i = 0; i < RUNS; i++) {
      for (let k = 0; k < variants.length; k++) await variants[(i + k) % variants.length]();
    }
  }
  if (CASES.has("sync") || CASES.has("replicate")) {
    const commit = CASES.has("sync");
    const same = PAIRS.filter(([tx, rx]) => tx === rx), mixed = PAIRS.filter(([tx, rx]) => tx !== rx);
    for (let i = 0; i < RUNS; i++) {
      for (const [tx, rx] of i % 2 === 0 ? same : [...same].reverse()) await syncPair(tx, rx, commit);
      // Mixed pairs, for information: two runs.
      if (i < 2) { for (const [tx, rx] of mixed) await syncPair(tx, rx, commit); }
    }
  }
  report();
}

async function cleanUp(): Promise<void> {
  for (const d of [...liveDaemons]) await d.stop();
  for (const ns of liveNs) await run(["ip", "netns", "del", ns]);
  // CTKIT_BENCH_KEEP=1 keeps the daemons' files (console output, logs) for a look afterwards.
  if (Deno.env.get("CTKIT_BENCH_KEEP") === "1") log(`kept ${TMP}`);
  else await Deno.remove(TMP, { recursive: true }).catch(() => {});
}

Deno.addSignalListener("SIGINT", () => cleanUp().finally(() => Deno.exit(130)));
try {
  await main();
} finally {
  await cleanUp();
}
