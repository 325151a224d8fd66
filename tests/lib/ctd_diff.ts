// Twin harness for differential tests of the conntrackd DAEMON.
//
// Every case gets two fresh network namespaces ("sides"), each with its own temp dir and the same
// conntrackd.conf (`{DIR}` in the template becomes the side's dir, so LockFile, UNIX Path, LogFile
// and the Stats LogFile never collide). Side A runs the reference daemon (/usr/sbin/conntrackd
// 1.4.7), side B runs ctkit's (`$CTKIT_BIN conntrackd`, by default the launcher scripts/ctkit), both
// in console mode in the background
// with stdout/stderr going to files. The case then applies the same kernel activity to both
// namespaces (conntrack -I/-U/-D, real loopback or veth traffic), waits until the daemons caught up
// (polling, never fixed sleeps), and runs the same client requests against both daemons. Read-only
// requests run four ways: the reference client and ctkit's client, each against both daemons, all
// compared with the reference client against the reference daemon — that checks the socket
// protocol in both directions. Requests that change state run once per side (alternating which
// client drives side B). At the end the daemons are stopped and their console output, log file,
// Stats flow log and leftover files (lock, socket, modes) are compared.
//
// Sync mode (TwinOptions.syncPeer): each side's namespace gets its own peer namespace behind a veth
// pair (the dedicated link: v0 10.77.0.1 in the side, v1 10.77.0.2 in the peer), and the peer runs
// the REFERENCE daemon on both sides with the same peer configuration — so only the daemon under
// test differs, and whatever the peers show (their caches, counters, logs, kernel tables after a
// commit) is what that daemon sent them. Sync traffic on the link is kept out of both kernel tables
// (nft notrack on v0/v1). The peers are stopped and their console output and log compared at the end.
//
// Normalised, and nothing else: the side's dir (`{DIR}`), the `[ctime] (pid=N) ` prefix of log
// lines and the `ctime\t` prefix of flow-log lines (both only when the time is current), the
// `[active since Ns]` age and the `[expires in Ns]` of ALARM's external cache (compared with
// ACTIVE_TOLERANCE), `daemon uptime:` (shape checked), `PID=N` of `-s process`, `<id>` of XML dumps
// (kernel ids are random per namespace), the timeout column of `conntrack -L` and `conntrack -L
// expect` (TIMEOUT_TOLERANCE), the duration in `commit has taken N seconds` (shape checked). A case
// may rewrite outputs further (CompareOptions.rewrite) for values that legitimately depend on timing,
// and declare an intentional divergence of ctkit's log (Twin.allowDivergence). `-i`/`-e` dumps and
// the flow log are compared as multisets: the reference prints in hash order, and kernel
// dumps/flushes walk per-namespace randomly seeded hash tables.
//
// Environment:
//   CTKIT_CTD_SELF=1       side B runs the reference daemon and "ctkit's client" is the reference
//                          client too: every case must pass, which proves the harness and the cases.
//   CTKIT_CTD_SELF=daemon  side B runs the reference daemon, ctkit's client is still used.
//   CTKIT_CTD_FILTER=sub   runs only the cases whose name contains sub.
//   CTKIT_CTD_JOBS=N       cases run at once (default 3).
//   CTKIT_CTD_SHOW=1       prints every reference output (for reviewing cases).
//   CTKIT_CTD_DAEMON="cmd" side B's daemon command instead of `$CTKIT_BIN conntrackd`.
//   CTKIT_BIN=/abs/path    the ctkit executable for side B and ctkit's client (tests/lib/netns.ts).
//
// Nothing here runs a daemon outside a namespace this harness created.
import { CTKIT, Netns } from "./netns.ts";
import type { Step } from "./diff.ts";

const SELF_ENV = Deno.env.get("CTKIT_CTD_SELF") ?? "";
/** Side B runs the reference daemon. */
export const SELF = SELF_ENV === "1" || SELF_ENV === "daemon";
/** "ctkit's client" is the reference client as well. */
export const SELF_CLIENT = SELF_ENV === "1";
const FILTER = Deno.env.get("CTKIT_CTD_FILTER") ?? "";
const JOBS = Math.max(1, Number(Deno.env.get("CTKIT_CTD_JOBS") ?? "3") || 3);
const SHOW = Deno.env.get("CTKIT_CTD_SHOW") === "1";

export const REF_CTD = "/usr/sbin/conntrackd";
const REF_CT = "/usr/sbin/conntrack";
/** Found through PATH, so argv[0] (printed by the usage text) is `conntrackd` for both. */
const REF_CMD = ["conntrackd"];
const CTKIT_CMD = [CTKIT, "conntrackd"];
/** Side B's daemon command line (CTKIT_CTD_DAEMON, split on blanks), e.g. a compiled ctkit. */
const DAEMON_B = (Deno.env.get("CTKIT_CTD_DAEMON") ?? "").split(/\s+/).filter((x) => x !== "");
const TRAFFIC = new URL("./traffic.py", import.meta.url).pathname;

export type Client = "ref" | "ctkit";
const CLIENT_CMD: Record<Client, string[]> = { ref: REF_CMD, ctkit: SELF_CLIENT ? REF_CMD : CTKIT_CMD };
const CLIENT_NAME: Record<Client, string> = {
  ref: "reference client",
  ctkit: SELF_CLIENT ? "reference client (self, as ctkit's)" : "ctkit client",
};
const SIDE_NAME = ["reference daemon", SELF ? "reference daemon (self, as ctkit's)" : "ctkit daemon"];
const PEER_NAME: [string, string] = [`peer of the ${SIDE_NAME[0]}`, `peer of the ${SIDE_NAME[1]}`];

/** Seconds two `[active since Ns]` ages may differ (the sides are read a moment apart). */
const ACTIVE_TOLERANCE = 3;
/** Seconds two kernel timeouts may differ in `conntrack -L`. */
const TIMEOUT_TOLERANCE = 10;
/** How long a case waits for both daemons to catch up with kernel activity. */
const SETTLE_MS = 3000;
/** A daemon must answer on its socket within this (ctkit may rebuild its bundle first). */
const START_MS = { ref: 5000, ctkit: 30000 };

// ---------------------------------------------------------------------------------------------
// configuration

/** Addresses of the veth pair to the traffic peer (own namespaces only). */
export const VETH = { local: "10.77.0.1", peer: "10.77.0.2" };

/**
 * A Stats-mode conntrackd.conf; `general`/`stats` are extra lines for the blocks. Every path lives
 * in the side's dir: lock, ctl (UNIX socket), log (LogFile), flows (Stats LogFile).
 */
export function statsConfig(general = "", stats = ""): string {
  return "General {\n\tLockFile {DIR}/lock\n\tUNIX {\n\t\tPath {DIR}/ctl\n\t}\n\tLogFile {DIR}/log\n" +
    `\tSyslog off\n${indent(general)}}\nStats {\n\tLogFile {DIR}/flows\n\tSyslog off\n${indent(stats)}}\n`;
}

/** Which dedicated link a sync twin uses between a side and its peer. */
export type SyncChannel = "udp" | "multicast" | "tcp";

export interface SyncConfigOptions {
  /** `FTFW`, `NOTRACK`, `ALARM`; undefined = no Mode clause at all */
  mode?: string;
  /** lines inside `Mode X { }` */
  modeClauses?: string;
  channel?: SyncChannel;
  /** lines inside the channel block */
  channelClauses?: string;
  /** lines inside `Sync { Options { } }` */
  options?: string;
  /** extra lines for the General block */
  general?: string;
}

/**
 * A Sync-mode conntrackd.conf for one end of the dedicated link (`role`: the side's daemon on v0 or
 * the peer on v1); paths in `{DIR}` as in statsConfig().
 */
export function syncConfig(o: SyncConfigOptions, role: "daemon" | "peer"): string {
  const [iface, local, remote] = role === "daemon"
    ? ["v0", VETH.local, VETH.peer]
    : ["v1", VETH.peer, VETH.local];
  const kind = o.channel ?? "udp";
  const link = kind === "multicast"
    ? `Multicast {\n\tIPv4_address 225.0.0.50\n\tGroup 3780\n\tIPv4_interface ${local}\n\tInterface ${iface}\n`
    : `${kind.toUpperCase()} {\n\tIPv4_address ${local}\n\tIPv4_Destination_Address ${remote}\n\tPort 3780\n` +
      `\tInterface ${iface}\n`;
  const mode = o.mode === undefined ? "" : `Mode ${o.mode} {\n${indent(o.modeClauses ?? "")}}\n`;
  const options = o.options ? `Options {\n${indent(o.options)}}\n` : "";
  return "General {\n\tLockFile {DIR}/lock\n\tUNIX {\n\t\tPath {DIR}/ctl\n\t}\n\tLogFile {DIR}/log\n" +
    `\tSyslog off\n${indent(o.general ?? "")}}\nSync {\n` +
    indent(`${mode}${link}\tChecksum on\n${indent(o.channelClauses ?? "")}}\n${options}`) + "}\n";
}

function indent(block: string): string {
  return block.split("\n").filter((l) => l.trim() !== "").map((l) => `\t${l}\n`).join("");
}

/**
 * A kernel-activity step: diff.ts's steps, plus a shell snippet in the traffic peer namespace, or
 * any step run in the peer namespace instead (`inPeer`).
 */
export type CtdStep = Step | { peer: string } | { inPeer: Step };

export interface TwinOptions {
  /** conntrackd.conf template (default statsConfig()); `{DIR}` = the side's dir */
  config?: string;
  /** more files for the side's dir (templates like config) */
  files?: Record<string, string>;
  /** a peer namespace behind a veth pair (VETH addresses) */
  peer?: boolean;
  /**
   * Sync twin: a peer namespace (as `peer`) whose reference daemon runs this conntrackd.conf template
   * (`{DIR}` = the peer's own dir; see syncConfig(…, "peer")). Started by Twin.startPeers().
   */
  syncPeer?: string;
  /**
   * net.netfilter.nf_conntrack_events (default 1: every entry reports events; the kernel's own
   * default 2 gives entries created while nobody listened no events at all, ever)
   */
  events?: 1 | 2;
}

// ---------------------------------------------------------------------------------------------
// normalisation and comparison

export interface NLine {
  /** the line with toleranced values replaced by placeholders */
  key: string;
  vals: number[];
  tol: number;
}

const PH = "\u0000";
const CTIME = String.raw`[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d [0-2]\d:[0-5]\d:[0-6]\d \d{4}`;
const LOG_PREFIX = new RegExp(String.raw`^\[(${CTIME})\] \(pid=\d+\) `);
const FLOW_PREFIX = new RegExp(String.raw`^(${CTIME})\t`);
const UPTIME = /^daemon uptime: (?:\d+ days? )?(?:\d+ h )?\d+ min$/;

/** A printed ctime that is not within a few minutes of now is a bug, so it stays visible. */
function currentCtime(s: string): boolean {
  const t = Date.parse(s);
  return Number.isFinite(t) && Math.abs(t - Date.now()) < 300_000;
}

/** The normalisation every daemon/client text gets (see the header). */
export function normLine(raw: string, tableTimeouts = false): NLine {
  const vals: number[] = [];
  let tol = ACTIVE_TOLERANCE;
  let s = raw;
  s = s.replace(LOG_PREFIX, (m, t) => currentCtime(t) ? "[TIME] (pid=N) " : m);
  s = s.replace(FLOW_PREFIX, (m, t) => currentCtime(t) ? "TIME\t" : m);
  if (UPTIME.test(s)) s = "daemon uptime: UPTIME";
  s = s.replace(/^PID=\d+ type=/, "PID=N type=");
  s = s.replace(/<id>\d+<\/id>/g, "<id>N</id>");
  s = s.replace(/ commit has taken \d+\.\d{6} seconds$/, " commit has taken N seconds");
  s = s.replace(/\[(active since|expires in) (\d+)s\]/g, (_m, what, v) => {
    vals.push(Number(v));
    return `[${what} ${PH}s]`;
  });
  if (tableTimeouts) {
    tol = TIMEOUT_TOLERANCE;
    s = s.replace(/^(\w+ +\d+ )(\d+)(?= )/, (_m, pre, v) => {
      vals.push(Number(v));
      return `${pre}${PH}`;
    });
    // `conntrack -L expect` lines start with the timeout
    s = s.replace(/^(\d+)(?= proto=)/, (_m, v) => {
      vals.push(Number(v));
      return PH;
    });
  }
  return { key: s, vals, tol };
}

function sameLine(x: NLine, y: NLine): boolean {
  if (x.key !== y.key || x.vals.length !== y.vals.length) return false;
  return x.vals.every((v, i) => Math.abs(v - y.vals[i]) <= Math.max(x.tol, y.tol));
}

function showLine(l: NLine): string {
  let i = 0;
  return l.key.replaceAll(PH, () => `~${l.vals[i++]}`);
}

function lines(text: string): string[] {
  if (text === "") return [];
  const out = text.split("\n");
  if (out[out.length - 1] === "") out.pop();
  else out[out.length - 1] += "\u23ce(no newline at end)";
  return out;
}

function byKey(x: NLine, y: NLine): number {
  if (x.key !== y.key) return x.key < y.key ? -1 : 1;
  for (let i = 0; i < Math.min(x.vals.length, y.vals.length); i++) {
    if (x.vals[i] !== y.vals[i]) return x.vals[i] - y.vals[i];
  }
  return 0;
}

/** Unified diff (3 lines of context) of two line lists under an equality predicate. */
export function unifiedDiff<T>(
  a: T[],
  b: T[],
  eq: (x: T, y: T) => boolean,
  show: (x: T) => string,
  labels: [string, string],
): string {
  const n = a.length, m = b.length;
  // LCS table from the end; outputs are small (hundreds of lines at most)
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = eq(a[i], b[j]) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops: [" " | "-" | "+", string][] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && eq(a[i], b[j])) {
      ops.push([" ", show(a[i])]);
      i++, j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push(["-", show(a[i++])]);
    } else {
      ops.push(["+", show(b[j++])]);
    }
  }
  const keep = ops.map(() => false);
  ops.forEach(([op], k) => {
    if (op !== " ") { for (let d = -3; d <= 3; d++) if (ops[k + d]) keep[k + d] = true; }
  });
  const out = [`--- ${labels[0]}`, `+++ ${labels[1]}`];
  let skipped = false;
  ops.forEach(([op, text], k) => {
    if (!keep[k]) {
      if (!skipped) out.push("@@ … @@");
      skipped = true;
      return;
    }
    skipped = false;
    out.push(`${op}${text}`);
  });
  return out.join("\n");
}

export interface CompareOptions {
  /** exact line order (default) or a multiset (hash order) */
  order?: "exact" | "multiset";
  /** `conntrack -L` output: compare the timeout column with a tolerance */
  tableTimeouts?: boolean;
  /** a case's own normalisation of the whole text, applied to both sides before anything else */
  rewrite?: (text: string) => string;
}

/** undefined when equal after normalisation, else a unified diff (`-` side A, `+` side B). */
export function compareTexts(
  what: string,
  a: string,
  b: string,
  labels: [string, string],
  opts: CompareOptions = {},
): string | undefined {
  if (opts.rewrite) [a, b] = [opts.rewrite(a), opts.rewrite(b)];
  let la = lines(a).map((l) => normLine(l, opts.tableTimeouts));
  let lb = lines(b).map((l) => normLine(l, opts.tableTimeouts));
  if (opts.order === "multiset") {
    la = la.sort(byKey);
    lb = lb.sort(byKey);
  }
  if (la.length === lb.length && la.every((x, k) => sameLine(x, lb[k]))) return undefined;
  const how = opts.order === "multiset" ? " (sorted: compared as a multiset)" : "";
  return `${what} differs${how}:\n${unifiedDiff(la, lb, sameLine, showLine, labels)}`;
}

/** Differences between two runs (exit status, stdout, stderr), each a message. */
function diffOut(what: string, a: Out, b: Out, labels: [string, string], opts: CompareOptions): string[] {
  const found: string[] = [];
  if (a.code !== b.code) {
    found.push(
      `${what}: exit status ${a.code} (${labels[0]}) vs ${b.code} (${labels[1]})\n` +
        `--- stderr ${labels[0]}:\n${a.stderr}--- stderr ${labels[1]}:\n${b.stderr}`,
    );
  }
  for (
    const [name, x, y, o] of [["stdout", a.stdout, b.stdout, opts], [
      "stderr",
      a.stderr,
      b.stderr,
      {},
    ]] as const
  ) {
    const d = compareTexts(`${what}: ${name}`, x, y, labels, o);
    if (d) found.push(d);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// processes

export interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** One daemon process started in a side's namespace, console output in files. */
interface Daemon {
  child: Deno.ChildProcess;
  pid: number;
  /** resolves with the exit code */
  status: Promise<number>;
  exited: boolean;
  outFile: string;
  errFile: string;
  argv: string[];
}

export interface Side {
  index: 0 | 1;
  name: string;
  ns: Netns;
  peer?: Netns;
  dir: string;
  /** sync twins: the peer daemon's dir (its `{DIR}`), config and process */
  peerDir?: string;
  peerConf?: string;
  peerDaemon?: Daemon;
  peerRuns: number;
  conf: string;
  daemonCmd: string[];
  kind: Client;
  daemon?: Daemon;
  runs: number;
}

/** Failures recorded so far are reported, nothing after this point runs. */
class CaseAbort extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dec = new TextDecoder();

async function execNs(ns: Netns, argv: string[], timeoutS = 20, stdin?: string): Promise<Out> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns.name, "timeout", "-s", "KILL", String(timeoutS), ...argv],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin)).catch(() => {});
    await w.close().catch(() => {});
  }
  const o = await child.output();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

async function readText(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

function fixDir(text: string, dir: string): string {
  return text.replaceAll(dir, "{DIR}");
}

/** Sends a request code straight to a UNIX socket and reads the answer (readiness probe). */
async function probe(path: string, code: number, timeoutMs = 2000): Promise<string | undefined> {
  let conn: Deno.UnixConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ transport: "unix", path });
    const req = new Uint8Array(4);
    new DataView(req.buffer).setInt32(0, code, true);
    await conn.write(req);
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return chunks.map((c) => dec.decode(c)).join("");
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

/** STATS_PROCESS: answered by every mode, changes no counter. */
const PROBE_CODE = 35;

// ---------------------------------------------------------------------------------------------
// the twin

export type Ready = "socket" | "console" | "exit";

export interface OnceOptions {
  /** the args hold their own -C */
  noConf?: boolean;
  /** seconds before the run is killed (a start that should have failed but runs) */
  timeoutS?: number;
  /**
   * INTENTIONAL DIVERGENCE (docs/COMPAT.md): ctkit names file and line in configuration errors.
   * Side B's stderr must be one `[ERROR] {DIR}/<file>:<line>: …` log line (the line the reference
   * gives as `in line (N)`, if it gives one); exit status and stdout are compared as usual. In self
   * mode both sides must print the reference's text, as everywhere.
   */
  configError?: boolean;
}

export interface RequestOptions {
  /** the request changes state: run once per side ([client on A, client on B]) */
  mutates?: boolean;
  clients?: [Client, Client];
  order?: "exact" | "multiset";
  /** see CompareOptions.rewrite */
  rewrite?: (text: string) => string;
  /** the output is a kernel table (e.g. `-i` without an internal cache): see CompareOptions */
  tableTimeouts?: boolean;
}

export class Twin {
  readonly failures: string[] = [];
  private mutations = 0;
  private aborted = false;

  private constructor(readonly sides: [Side, Side], private readonly opts: TwinOptions) {}

  get a(): Side {
    return this.sides[0];
  }
  get b(): Side {
    return this.sides[1];
  }

  static async create(opts: TwinOptions = {}): Promise<Twin> {
    const made: Side[] = [];
    try {
      for (const index of [0, 1] as const) made.push(await makeSide(index, opts));
    } catch (e) {
      await Promise.all(made.map(destroySide));
      throw e;
    }
    return new Twin(made as [Side, Side], opts);
  }

  /** Records a failure (the case goes on). */
  fail(msg: string): void {
    this.failures.push(msg);
  }

  /** Records a failure and stops the case (finish() then only cleans up). */
  abort(msg: string): never {
    this.failures.push(msg);
    this.aborted = true;
    throw new CaseAbort(msg);
  }

  private compare(what: string, a: string, b: string, opts: CompareOptions = {}, labels?: [string, string]) {
    const d = compareTexts(what, a, b, labels ?? [SIDE_NAME[0], SIDE_NAME[1]], opts);
    if (d) this.fail(d);
    return d === undefined;
  }

  /** Compares two runs: exit status, stdout, stderr; records and returns the differences. */
  private compareOut(
    what: string,
    a: Out,
    b: Out,
    labels: [string, string],
    opts: CompareOptions = {},
  ): string[] {
    const found = diffOut(what, a, b, labels, opts);
    this.failures.push(...found);
    return found;
  }

  // -------------------------------------------------------------------------------------------
  // kernel activity

  /** Applies the same steps to both namespaces (each side in order, the sides concurrently). */
  async kernel(...steps: CtdStep[]): Promise<void> {
    for (const s of steps) await Promise.all(this.sides.map((side) => applyStep(side, s)));
  }

  /** `conntrack` with these args in both namespaces (or both peer namespaces); outputs must agree. */
  async conntrack(
    args: string[],
    opts: CompareOptions = { order: "multiset", tableTimeouts: true },
    where: "daemon" | "peer" = "daemon",
  ) {
    const [a, b] = await Promise.all(this.sides.map((s) => execNs(nsOf(s, where), [REF_CT, ...args])));
    const labels: [string, string] = where === "peer"
      ? ["peer namespace of A", "peer namespace of B"]
      : ["namespace A", "namespace B"];
    this.compareOut(`${where === "peer" ? "peer: " : ""}conntrack ${args.join(" ")}`, a, b, labels, opts);
    return [a, b];
  }

  // -------------------------------------------------------------------------------------------
  // daemons

  /**
   * Starts the daemons (console mode: `-C conf` plus `args`) and waits until both are `ready`:
   * answering on the socket, or showing `-- starting in` on the console, or exited (`exit`, for
   * starts that must fail: then the outcomes are compared). A side that does not come up stops the
   * case with its console output and a diff against the reference's.
   */
  async start(args: string[] = [], ready: Ready = "socket"): Promise<void> {
    for (const side of this.sides) {
      if (side.daemon && !side.daemon.exited) throw new Error(`${side.name}: a daemon is already running`);
      side.daemon = spawnDaemon(side, args);
    }
    const states = await Promise.all(this.sides.map((s) => waitReady(s, ready)));
    if (ready === "exit") {
      await this.compareEnded("daemon start");
      return;
    }
    if (states[0] !== "ready") {
      const o = await consoleOf(this.a);
      throw new Error(
        `the reference daemon did not become ${ready}-ready (${
          states[0]
        }): fix the case\n${o.stdout}${o.stderr}`,
      );
    }
    if (states[1] !== "ready") {
      const [a, b] = await Promise.all(this.sides.map(consoleOf));
      const why = states[1] === "exited"
        ? `exited with status ${b.code} before it was ready`
        : `was not ${ready}-ready after ${START_MS[this.b.kind] / 1000}s`;
      this.compare("console stdout of the start", a.stdout, b.stdout);
      this.compare("console stderr of the start", a.stderr, b.stderr);
      this.abort(`${SIDE_NAME[1]} ${why}: ${this.b.daemon!.argv.join(" ")}`);
    }
  }

  /** Sends a signal to both daemons and compares how they end. */
  async signal(sig: Deno.Signal): Promise<void> {
    for (const side of this.sides) {
      if (side.daemon && !side.daemon.exited) {
        try {
          Deno.kill(side.daemon.pid, sig);
        } catch { /* already gone */ }
      }
    }
    if (sig !== "SIGKILL") await this.compareEnded(`after ${sig}`);
    else await Promise.all(this.sides.map((s) => waitExit(s, 5000)));
  }

  /** Waits for both daemons to exit (e.g. after -k) and compares exit status and console output. */
  async compareEnded(what: string): Promise<void> {
    const ended = await Promise.all(this.sides.map((s) => waitExit(s, 5000)));
    if (!ended[0]) throw new Error(`${what}: the reference daemon did not exit: fix the case`);
    if (!ended[1]) this.fail(`${what}: ${SIDE_NAME[1]} did not exit within 5 s (killed)`);
    const [a, b] = await Promise.all(this.sides.map(consoleOf));
    const bOut = { ...b, stdout: this.diverged(b.stdout), stderr: this.diverged(b.stderr) };
    this.compareOut(`${what}: daemon exit and console output`, a, bOut, [SIDE_NAME[0], SIDE_NAME[1]]);
  }

  private divergence?: (text: string) => string;

  /**
   * INTENTIONAL DIVERGENCE (docs/COMPAT.md), declared by a case: `rewrite` is applied to ctkit's
   * console output and files (side B, not in self mode) before they are compared, e.g. to drop log
   * lines of work ctkit does and 1.4.7 does not. The case must check that work itself.
   */
  allowDivergence(rewrite: (text: string) => string): void {
    this.divergence = rewrite;
  }

  private diverged(text: string): string {
    return this.divergence && !SELF ? this.divergence(text) : text;
  }

  /**
   * Runs the daemon command line once on both sides with `args` (after `-C conf`, unless the args
   * hold their own -C) and compares the outcome. For starts that must fail or return at once (-d).
   */
  async once(args: string[], opts: OnceOptions = {}): Promise<[Out, Out]> {
    const outs = await Promise.all(this.sides.map(async (side) => {
      const argv = [...side.daemonCmd, ...(opts.noConf ? [] : ["-C", side.conf]), ...subst(args, side.dir)];
      const base = `${side.dir}/.once-${++side.runs}`;
      // through files: a daemon that detaches keeps no pipe of ours open
      const r = await execNs(side.ns, [
        "sh",
        "-c",
        'o=$1; shift; "$@" >"$o.out" 2>"$o.err"',
        "sh",
        base,
        ...argv,
      ], opts.timeoutS ?? 20);
      return {
        code: r.code,
        stdout: fixDir(await readText(`${base}.out`), side.dir),
        stderr: fixDir(await readText(`${base}.err`), side.dir),
      };
    }));
    if (SHOW) {
      console.error(`## once ${args.join(" ")} -> ${outs[0].code}\n${outs[0].stdout}${outs[0].stderr}`);
    }
    if (outs[0].code === 137) {
      throw new Error(`the reference did not return: ${args.join(" ")}: fix the case`);
    }
    const what = `conntrackd ${args.join(" ")}`;
    if (opts.configError && !SELF) {
      this.compareOut(what, { ...outs[0], stderr: "" }, { ...outs[1], stderr: "" }, [
        SIDE_NAME[0],
        SIDE_NAME[1],
      ]);
      const line = /in line \((\d+)\)/.exec(outs[0].stderr)?.[1] ?? "\\d+";
      const want = new RegExp(String.raw`^\[TIME\] \(pid=N\) \[ERROR\] \{DIR\}/\S+:${line}: \S.*\n$`);
      const got = normLine(outs[1].stderr.replace(/\n$/, "")).key + "\n";
      if (!want.test(got)) {
        this.fail(
          `${what}: stderr is not the configuration error form of docs/COMPAT.md (${want}):\n` +
            `reference: ${outs[0].stderr}ctkit:     ${outs[1].stderr}`,
        );
      }
    } else this.compareOut(what, outs[0], outs[1], [SIDE_NAME[0], SIDE_NAME[1]]);
    return outs as [Out, Out];
  }

  // -------------------------------------------------------------------------------------------
  // client requests

  private async client(side: Side, kind: Client, args: string[]): Promise<Out> {
    const r = await execNs(side.ns, [...CLIENT_CMD[kind], "-C", side.conf, ...subst(args, side.dir)]);
    return { code: r.code, stdout: fixDir(r.stdout, side.dir), stderr: fixDir(r.stderr, side.dir) };
  }

  /**
   * A client request on both sides. Read-only requests run with both clients against both daemons,
   * each compared with the reference client against the reference daemon. Returns that baseline.
   */
  async request(args: string[], opts: RequestOptions = {}): Promise<Out> {
    const order = opts.order ?? (args.includes("-i") || args.includes("-e") ? "multiset" : "exact");
    const { rewrite, tableTimeouts } = opts;
    const what = `conntrackd ${args.join(" ")}`;
    if (opts.mutates) {
      const clients = opts.clients ?? ["ref", this.mutations++ % 2 === 0 ? "ctkit" : "ref"];
      const [a, b] = await Promise.all([
        this.client(this.a, clients[0], args),
        this.client(this.b, clients[1], args),
      ]);
      if (SHOW) console.error(`## ${what} -> ${a.code}\n${a.stdout}${a.stderr}`);
      this.compareOut(what, a, b, [
        `${CLIENT_NAME[clients[0]]} → ${SIDE_NAME[0]}`,
        `${CLIENT_NAME[clients[1]]} → ${SIDE_NAME[1]}`,
      ], { order, rewrite, tableTimeouts });
      return a;
    }
    const base = await this.client(this.a, "ref", args);
    const others: [Side, Client][] = [[this.b, "ref"], [this.a, "ctkit"], [this.b, "ctkit"]];
    const outs = await Promise.all(others.map(([side, kind]) => this.client(side, kind, args)));
    if (SHOW) console.error(`## ${what} -> ${base.code}\n${base.stdout}${base.stderr}`);
    // the same difference seen through another client is named, not repeated
    const seen = new Map<string, string>();
    others.forEach(([side, kind], k) => {
      const label = `${CLIENT_NAME[kind]} → ${SIDE_NAME[side.index]}`;
      for (
        const d of diffOut(what, base, outs[k], [`${CLIENT_NAME.ref} → ${SIDE_NAME[0]}`, label], {
          order,
          rewrite,
          tableTimeouts,
        })
      ) {
        const body = d.split("\n").filter((l) => !/^(---|\+\+\+) /.test(l)).join("\n");
        const first = seen.get(body);
        if (first) this.fail(`${d.split("\n")[0]} (${label}: the same difference as ${first})`);
        else {
          seen.set(body, label);
          this.fail(d);
        }
      }
    });
    return base;
  }

  /** Several read-only requests in a row. */
  async requests(...list: string[][]): Promise<void> {
    for (const args of list) await this.request(args);
  }

  // -------------------------------------------------------------------------------------------
  // waiting for the daemons to catch up

  /** Polls `check` on both sides until it holds on both or `ms` passed; reports who lagged. */
  async waitUntil(
    what: string,
    check: (side: Side) => Promise<string | undefined>,
    ms = SETTLE_MS,
  ): Promise<void> {
    const deadline = Date.now() + ms;
    const last: (string | undefined)[] = ["", ""];
    const done = [false, false];
    while (Date.now() < deadline && !(done[0] && done[1])) {
      await Promise.all(this.sides.map(async (side, k) => {
        if (done[k]) return;
        last[k] = await check(side);
        done[k] = last[k] === undefined;
      }));
      if (!(done[0] && done[1])) await sleep(60);
    }
    if (!done[0]) throw new Error(`the reference never reached "${what}": fix the case\n${last[0]}`);
    if (!done[1]) this.fail(`${SIDE_NAME[1]} never reached "${what}" within ${ms} ms:\n${last[1]}`);
  }

  /** Waits until both caches hold `n` entries (`-s`: current active connections). */
  async waitActive(n: number): Promise<void> {
    await this.waitUntil(`current active connections: ${n}`, async (side) => {
      const r = await this.client(side, "ref", ["-s"]);
      const m = /current active connections:\s+(\d+)/.exec(r.stdout);
      return m && Number(m[1]) === n ? undefined : r.stdout + r.stderr;
    });
  }

  /**
   * Waits until the reference client's output of `args` matches `re` on both sides (against the
   * side's daemon, or against its sync peer).
   */
  async waitFor(
    args: string[],
    re: RegExp,
    where: "daemon" | "peer" = "daemon",
    ms = SETTLE_MS,
  ): Promise<void> {
    const prefix = where === "peer" ? "peer: " : "";
    await this.waitUntil(`${prefix}conntrackd ${args.join(" ")} =~ ${re}`, async (side) => {
      const r = where === "peer" ? await peerClient(side, args) : await this.client(side, "ref", args);
      return re.test(r.stdout) ? undefined : r.stdout + r.stderr;
    }, ms);
  }

  /** Waits until both flow logs (Stats LogFile at {DIR}/flows) have `n` lines. */
  async waitFlows(n: number, file = "flows"): Promise<void> {
    await this.waitUntil(`${n} lines in ${file}`, async (side) => {
      const text = await readText(`${side.dir}/${file}`);
      return lines(text).length === n ? undefined : text || "(empty)";
    });
  }

  /** Waits until neither daemon lists a child process (`-s process`), e.g. after -F. */
  async waitNoChildren(): Promise<void> {
    await this.waitUntil("no child processes", async (side) => {
      const r = await this.client(side, "ref", ["-s", "process"]);
      return r.stdout === "" ? undefined : r.stdout;
    });
  }

  /**
   * Waits until the daemons agree on `-s` and `-s runtime` and side A stopped changing — for real
   * traffic, whose event count the case does not spell out. Differences are left to the comparison.
   */
  async settle(): Promise<void> {
    const snap = async (side: Side) =>
      (await Promise.all([["-s"], ["-s", "runtime"]].map((a) => this.client(side, "ref", a))))
        .map((r) => r.stdout).join("");
    const deadline = Date.now() + SETTLE_MS;
    let prev = "";
    while (Date.now() < deadline) {
      const [a, b] = await Promise.all(this.sides.map(snap));
      if (a === prev && compareTexts("", a, b, ["", ""]) === undefined) return;
      prev = a;
      await sleep(100);
    }
  }

  // -------------------------------------------------------------------------------------------
  // files

  /** Compares a file of the side dirs (normalised; flow logs as multisets). */
  async compareFile(name: string, order: "exact" | "multiset" = "exact"): Promise<void> {
    const [a, b] = await Promise.all(
      this.sides.map(async (s) => fixDir(await readText(`${s.dir}/${name}`), s.dir)),
    );
    this.compare(`file {DIR}/${name}`, a, this.diverged(b), { order });
  }

  /** Compares which files the daemons left in their dirs: name, type, permission bits. */
  async compareDirs(what = "files in {DIR}"): Promise<void> {
    const [a, b] = await Promise.all(this.sides.map(listDir));
    this.compare(what, a, b);
  }

  /** Whether a file exists in the side's dir (for absolute checks). */
  async exists(side: Side, name: string): Promise<boolean> {
    return (await Deno.lstat(`${side.dir}/${name}`).catch(() => null)) !== null;
  }

  /** A file of the side's dir ("" if missing), with the dir replaced by `{DIR}`. */
  async read(side: Side, name: string): Promise<string> {
    return fixDir(await readText(`${side.dir}/${name}`), side.dir);
  }

  /** The pid of the side's console-mode daemon (undefined if none was started). */
  daemonPid(side: Side): number | undefined {
    return side.daemon?.pid;
  }

  /** Pids of every process in the side's namespace (e.g. a daemon detached with -d). */
  async pids(side: Side): Promise<number[]> {
    const r = await new Deno.Command("ip", { args: ["netns", "pids", side.ns.name], stdout: "piped" })
      .output();
    return dec.decode(r.stdout).split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
  }

  // -------------------------------------------------------------------------------------------
  // sync peers (TwinOptions.syncPeer): the reference daemon at the other end of each side's link

  /** Starts both peers' reference daemons in console mode and waits until they answer. */
  async startPeers(): Promise<void> {
    for (const side of this.sides) {
      if (!side.peer || !side.peerConf || !side.peerDir) throw new Error("startPeers() without syncPeer");
      if (side.peerDaemon && !side.peerDaemon.exited) throw new Error(`${side.name}: its peer already runs`);
      side.peerDaemon = spawnIn(side.peer, side.peerDir, `.console-${++side.peerRuns}`, [
        ...REF_CMD,
        "-C",
        side.peerConf,
      ]);
    }
    await Promise.all(this.sides.map(async (side) => {
      const state = await waitDaemon(side.peerDaemon!, side.peerConf!, "socket", START_MS.ref);
      if (state !== "ready") {
        const o = await consoleOfDaemon(side.peerDaemon!, side.peerDir!);
        throw new Error(
          `the peer of ${side.name} did not start (${state}): fix the case\n${o.stdout}${o.stderr}`,
        );
      }
    }));
  }

  /** Stops both peers (SIGTERM) and compares how they ended: status, console output, log. */
  async stopPeers(what = "peers stopped"): Promise<void> {
    for (const side of this.sides) {
      if (side.peerDaemon && !side.peerDaemon.exited) {
        try {
          Deno.kill(side.peerDaemon.pid, "SIGTERM");
        } catch { /* already gone */ }
      }
    }
    const ended = await Promise.all(this.sides.map((s) => waitExitOf(s.peerDaemon, 5000)));
    if (!ended.every((e) => e)) this.fail(`${what}: a peer did not exit within 5 s (killed)`);
    const [a, b] = await Promise.all(this.sides.map((s) => consoleOfDaemon(s.peerDaemon!, s.peerDir!)));
    this.compareOut(`${what}: peer exit and console output`, a, b, PEER_NAME);
    await this.comparePeerLog();
  }

  /** Compares the peers' log files. */
  async comparePeerLog(): Promise<void> {
    const [a, b] = await Promise.all(
      this.sides.map(async (s) => fixDir(await readText(`${s.peerDir}/log`), s.peerDir!)),
    );
    this.compare("peer: file {DIR}/log", a, b, {}, PEER_NAME);
  }

  /**
   * A reference client request to both peers; outputs must agree. The peers run the same daemon, so
   * a difference is a difference in what the daemons under test sent them.
   */
  async peerRequest(args: string[], opts: CompareOptions = {}): Promise<[Out, Out]> {
    const order = opts.order ?? (args.includes("-i") || args.includes("-e") ? "multiset" : "exact");
    const [a, b] = await Promise.all(this.sides.map((s) => peerClient(s, args)));
    if (SHOW) console.error(`## peer: conntrackd ${args.join(" ")} -> ${a.code}\n${a.stdout}${a.stderr}`);
    this.compareOut(`peer: conntrackd ${args.join(" ")}`, a, b, PEER_NAME, { ...opts, order });
    return [a, b];
  }

  /** Several peer requests in a row. */
  async peerRequests(...list: string[][]): Promise<void> {
    for (const args of list) await this.peerRequest(args);
  }

  /** Compares log file, flow log and dir listing (the state of both sides right now). */
  async compareState(): Promise<void> {
    await this.compareFile("log");
    await this.compareFile("flows", "multiset");
    await this.compareDirs();
  }

  /** Stops running daemons (SIGTERM), compares how they ended and the files; then cleans up. */
  async finish(): Promise<void> {
    if (this.aborted) return;
    if (this.sides.some((s) => s.daemon && !s.daemon.exited)) await this.signal("SIGTERM");
    await this.compareState();
    if (this.sides.some((s) => s.peerDaemon && !s.peerDaemon.exited)) await this.stopPeers();
  }

  async destroy(): Promise<void> {
    await Promise.all(this.sides.map(destroySide));
  }
}

// ---------------------------------------------------------------------------------------------
// side set-up, steps, daemon processes

/** The side's own namespace or its peer namespace. */
function nsOf(side: Side, where: "daemon" | "peer"): Netns {
  if (where === "daemon") return side.ns;
  if (!side.peer) throw new Error("a peer namespace was asked for in a case without one");
  return side.peer;
}

/** The reference client against the side's sync peer. */
async function peerClient(side: Side, args: string[]): Promise<Out> {
  if (!side.peer || !side.peerConf || !side.peerDir) throw new Error("a peer request without syncPeer");
  const r = await execNs(side.peer, [...REF_CMD, "-C", side.peerConf, ...args]);
  return { code: r.code, stdout: fixDir(r.stdout, side.peerDir), stderr: fixDir(r.stderr, side.peerDir) };
}

function subst(args: string[], dir: string): string[] {
  return args.map((a) => a.replaceAll("{DIR}", dir));
}

async function makeSide(index: 0 | 1, opts: TwinOptions): Promise<Side> {
  const dir = await Deno.makeTempDir({ prefix: `ctkit-ctdd-${Deno.pid}-` });
  const side: Side = {
    index,
    name: SIDE_NAME[index],
    ns: undefined as unknown as Netns,
    dir,
    conf: `${dir}/conntrackd.conf`,
    daemonCmd: index === 0 || SELF ? REF_CMD : DAEMON_B.length ? DAEMON_B : CTKIT_CMD,
    kind: index === 0 || SELF ? "ref" : "ctkit",
    runs: 0,
    peerRuns: 0,
  };
  try {
    side.ns = await Netns.create("ctdd");
    await Deno.writeTextFile(side.conf, (opts.config ?? statsConfig()).replaceAll("{DIR}", dir));
    for (const [name, text] of Object.entries(opts.files ?? {})) {
      await Deno.writeTextFile(`${dir}/${name}`, text.replaceAll("{DIR}", dir));
    }
    const must = async (ns: Netns, argv: string[], stdin?: string) => {
      const r = await execNs(ns, argv, 20, stdin);
      if (r.code !== 0) throw new Error(`${argv.join(" ")} in ${ns.name}: ${r.stderr}`);
    };
    // the sysctl exists once nf_conntrack is loaded: it is, the reference conntrack tests need it
    await must(side.ns, ["sysctl", "-qw", `net.netfilter.nf_conntrack_events=${opts.events ?? 1}`]);
    if (opts.peer || opts.syncPeer !== undefined) {
      side.peer = await Netns.create("ctdd");
      const v = `ctdv${index}${crypto.randomUUID().slice(0, 6)}`;
      await must(side.ns, ["ip", "link", "add", "v0", "type", "veth", "peer", "name", v]);
      await must(side.ns, ["ip", "link", "set", v, "netns", side.peer.name]);
      await must(side.peer, ["ip", "link", "set", v, "name", "v1"]);
      await must(side.ns, ["ip", "addr", "add", `${VETH.local}/24`, "dev", "v0"]);
      await must(side.peer, ["ip", "addr", "add", `${VETH.peer}/24`, "dev", "v1"]);
      await must(side.ns, ["ip", "link", "set", "v0", "up"]);
      await must(side.peer, ["ip", "link", "set", "v1", "up"]);
    }
    if (opts.syncPeer !== undefined) {
      const peerDir = await Deno.makeTempDir({ prefix: `ctkit-ctdd-${Deno.pid}-` });
      side.peerDir = peerDir;
      side.peerConf = `${peerDir}/conntrackd.conf`;
      await Deno.writeTextFile(side.peerConf, opts.syncPeer.replaceAll("{DIR}", peerDir));
      await must(side.peer!, ["sysctl", "-qw", `net.netfilter.nf_conntrack_events=${opts.events ?? 1}`]);
      // the sync messages themselves never become conntrack entries, whatever rules a case adds
      for (const [ns, dev] of [[side.ns, "v0"], [side.peer!, "v1"]] as const) {
        await must(ns, ["nft", "-f", "-"], linkNotrack(dev));
      }
    }
  } catch (e) {
    await destroySide(side);
    throw e;
  }
  return side;
}

/** nft ruleset that keeps every packet on the dedicated link `dev` untracked. */
function linkNotrack(dev: string): string {
  return `table inet ctdlink {\n  chain pre { type filter hook prerouting priority raw; iifname "${dev}" notrack; }\n` +
    `  chain out { type filter hook output priority raw; oifname "${dev}" notrack; }\n}\n`;
}

/** Kills what still runs in the side's namespaces (by pid), removes them and the dir. */
async function destroySide(side: Side): Promise<void> {
  if (side.daemon && !side.daemon.exited) {
    try {
      Deno.kill(side.daemon.pid, "SIGKILL");
    } catch { /* gone */ }
    await waitExit(side, 2000);
  }
  for (const ns of [side.ns, side.peer]) {
    if (!ns) continue;
    await killNetnsPids(ns.name);
    await ns.destroy();
  }
  await Deno.remove(side.dir, { recursive: true }).catch(() => {});
  if (side.peerDir) await Deno.remove(side.peerDir, { recursive: true }).catch(() => {});
}

/** Processes left in a namespace of ours (e.g. a daemon that detached with -d). */
async function killNetnsPids(name: string): Promise<void> {
  const r = await new Deno.Command("ip", { args: ["netns", "pids", name], stdout: "piped", stderr: "null" })
    .output();
  for (const pid of dec.decode(r.stdout).split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch { /* gone */ }
  }
}

async function applyStep(side: Side, s: CtdStep, ns = side.ns): Promise<void> {
  let r: Out;
  let what: string;
  let ok = [0];
  if ("inPeer" in s) {
    if (!side.peer) throw new Error("inPeer step in a case without a peer namespace");
    return await applyStep(side, s.inPeer, side.peer);
  } else if ("peer" in s) {
    if (!side.peer) throw new Error("peer step in a case without peer: true");
    what = `peer: sh -c ${s.peer}`;
    r = await execNs(side.peer, ["sh", "-c", s.peer]);
  } else if ("ct" in s) {
    what = `conntrack ${s.ct.join(" ")}`;
    r = await execNs(ns, [REF_CT, ...subst(s.ct, side.dir)], 20, s.stdin);
    ok = s.ok ?? [0];
  } else if ("batch" in s) {
    what = `conntrack -R - <<${s.batch}`;
    r = await execNs(ns, [REF_CT, "-R", "-"], 20, s.batch);
  } else if ("sh" in s) {
    what = `sh -c ${s.sh}`;
    r = await execNs(ns, ["sh", "-c", s.sh.replaceAll("{DIR}", side.dir)]);
  } else if ("traffic" in s) {
    what = `traffic ${s.traffic.join(" ")}`;
    r = await execNs(ns, ["python3", TRAFFIC, ...s.traffic]);
  } else {
    await sleep(s.sleep);
    return;
  }
  if (!ok.includes(r.code)) {
    throw new Error(`kernel step failed in ${ns.name}: ${what}\nexit ${r.code}\n${r.stdout}${r.stderr}`);
  }
}

function spawnDaemon(side: Side, args: string[]): Daemon {
  const argv = [...side.daemonCmd, "-C", side.conf, ...subst(args, side.dir)];
  return spawnIn(side.ns, side.dir, `.console-${++side.runs}`, argv);
}

/** Starts argv in the background in `ns`, console output in `dir`/`base`.out and .err. */
function spawnIn(ns: Netns, dir: string, base: string, argv: string[]): Daemon {
  const outFile = `${dir}/${base}.out`;
  const errFile = `${dir}/${base}.err`;
  // `ip netns exec`, sh and the ctkit executable (launcher or packaged file) all exec: the child's
  // pid is the daemon's
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns.name,
      "sh",
      "-c",
      'o=$1; e=$2; shift 2; exec "$@" >"$o" 2>"$e"',
      "sh",
      outFile,
      errFile,
      ...argv,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const d: Daemon = {
    child,
    pid: child.pid,
    status: child.status.then((s) => s.signal ? 128 + signalNumber(s.signal) : s.code),
    exited: false,
    outFile,
    errFile,
    argv: argv.map((a) => fixDir(a, dir)),
  };
  d.status.then(() => d.exited = true);
  return d;
}

function signalNumber(sig: Deno.Signal): number {
  return ({ SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGABRT: 6 } as Record<string, number>)[sig] ??
    0;
}

async function consoleOf(side: Side): Promise<Out> {
  return await consoleOfDaemon(side.daemon!, side.dir);
}

async function consoleOfDaemon(d: Daemon, dir: string): Promise<Out> {
  return {
    code: d.exited ? await d.status : -1,
    stdout: fixDir(await readText(d.outFile), dir),
    stderr: fixDir(await readText(d.errFile), dir),
  };
}

async function waitReady(side: Side, ready: Ready): Promise<"ready" | "exited" | "timeout"> {
  return await waitDaemon(side.daemon!, side.conf, ready, START_MS[side.kind]);
}

async function waitDaemon(
  d: Daemon,
  conf: string,
  ready: Ready,
  startMs: number,
): Promise<"ready" | "exited" | "timeout"> {
  const deadline = Date.now() + (ready === "exit" ? 10000 : startMs);
  const socket = /(?:^|[\s{])Path\s+(\/[^\s}]+)/m.exec(await Deno.readTextFile(conf))?.[1];
  while (Date.now() < deadline) {
    if (ready === "exit") {
      if (d.exited) return "ready";
    } else {
      if (d.exited) return "exited";
      if (ready === "console" && (await readText(d.outFile)).includes("-- starting in")) return "ready";
      if (ready === "socket" && socket && (await Deno.lstat(socket).catch(() => null))?.isSocket) {
        if ((await probe(socket, PROBE_CODE)) !== undefined) return "ready";
      }
    }
    await sleep(40);
  }
  return "timeout";
}

/** Waits for the daemon to exit; kills it after `ms`. True if it exited by itself. */
async function waitExit(side: Side, ms: number): Promise<boolean> {
  return await waitExitOf(side.daemon, ms);
}

async function waitExitOf(d: Daemon | undefined, ms: number): Promise<boolean> {
  if (!d || d.exited) return true;
  const ok = await Promise.race([d.status.then(() => true), sleep(ms).then(() => false)]);
  if (!ok) {
    try {
      Deno.kill(d.pid, "SIGKILL");
    } catch { /* gone */ }
    await d.status;
  }
  return ok;
}

async function listDir(side: Side): Promise<string> {
  const rows: string[] = [];
  for await (const e of Deno.readDir(side.dir)) {
    if (e.name.startsWith(".") || e.name === "conntrackd.conf") continue;
    const st = await Deno.lstat(`${side.dir}/${e.name}`).catch(() => null);
    if (!st) continue;
    const type = st.isSocket ? "socket" : st.isDirectory ? "dir" : st.isFile ? "file" : "other";
    const mode = ((st.mode ?? 0) & 0o7777).toString(8).padStart(4, "0");
    rows.push(`${e.name} ${type} ${mode}${st.isFile && st.size === 0 ? " empty" : ""}`);
  }
  return rows.sort().map((r) => r + "\n").join("");
}

// ---------------------------------------------------------------------------------------------
// suites

export interface CtdCase {
  name: string;
  opts?: TwinOptions;
  /** the case body; finish() (stop, compare console/log/flows/files) runs after it */
  run: (t: Twin) => Promise<void>;
}

export interface CaseResult {
  name: string;
  failures: string[];
  ms: number;
}

export async function runCase(c: CtdCase): Promise<CaseResult> {
  const t0 = Date.now();
  let twin: Twin | undefined;
  const failures: string[] = [];
  try {
    twin = await Twin.create(c.opts);
    try {
      await c.run(twin);
    } catch (e) {
      if (!(e instanceof CaseAbort)) throw e;
    }
    try {
      await twin.finish();
    } catch (e) {
      if (!(e instanceof CaseAbort)) throw e;
    }
    failures.push(...twin.failures);
  } catch (e) {
    failures.push(...(twin?.failures ?? []), `harness error: ${(e as Error).stack ?? e}`);
  } finally {
    await twin?.destroy().catch(() => {});
  }
  return { name: c.name, failures, ms: Date.now() - t0 };
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Removes namespaces, processes in them and temp dirs left by a run of this harness that was killed. */
async function sweepStale(): Promise<void> {
  const r = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped", stderr: "null" })
    .output();
  for (const line of dec.decode(r.stdout).split("\n")) {
    const m = /^(ctdd-(\d+)-\d+-[0-9a-f]+)(?:\s|$)/.exec(line);
    if (m && Number(m[2]) !== Deno.pid && !alive(Number(m[2]))) {
      await killNetnsPids(m[1]);
      await new Deno.Command("ip", { args: ["netns", "del", m[1]], stdout: "null", stderr: "null" }).output();
    }
  }
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  for (const e of Deno.readDirSync(tmp)) {
    const m = /^ctkit-ctdd-(\d+)-/.exec(e.name);
    if (e.isDirectory && m && Number(m[1]) !== Deno.pid && !alive(Number(m[1]))) {
      await Deno.remove(`${tmp}/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
}

/** Registers one Deno test running `cases` concurrently (CTKIT_CTD_JOBS), one step per case. */
export function ctdSuite(name: string, cases: CtdCase[]): void {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name: ${c.name}`);
    names.add(c.name);
  }
  const selected = cases.filter((c) => c.name.includes(FILTER));
  const mode = SELF_CLIENT ? " [self]" : SELF ? " [self daemon]" : "";
  Deno.test({
    name: `${name}${mode}`,
    ignore: selected.length === 0,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      await sweepStale();
      const results: CaseResult[] = new Array(selected.length);
      let next = 0;
      const worker = async () => {
        while (next < selected.length) {
          const k = next++;
          results[k] = await runCase(selected[k]);
        }
      };
      await Promise.all(Array.from({ length: Math.min(JOBS, selected.length) }, worker));
      for (const r of results) {
        await t.step(`${r.name} (${(r.ms / 1000).toFixed(1)}s)`, () => {
          if (r.failures.length) throw new Error(`case ${r.name}:\n\n${r.failures.join("\n\n")}`);
        });
      }
    },
  });
}

// ---------------------------------------------------------------------------------------------
// kernel steps used by the cases

/** Makes the namespace track local traffic (conntrack hooks register only when a rule uses them). */
export const TRACK: Step = {
  sh: "nft -f - <<'EOF'\ntable inet ctdtrack {\n" +
    "  chain out { type filter hook output priority 0; ct state new counter; }\n" +
    "  chain in { type filter hook input priority 0; ct state new counter; }\n}\nEOF",
};

/** `conntrack -I` of a TCP entry. */
export function tcp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  state = "ESTABLISHED",
  extra = "",
): Step {
  return {
    ct: w(
      `-I -s ${src} -d ${dst} -p tcp --sport ${sport} --dport ${dport} --state ${state} -t 300 ${extra}`,
    ),
  };
}

/** `conntrack -I` of a UDP entry. */
export function udp(src: string, dst: string, sport: number, dport: number, extra = ""): Step {
  return { ct: w(`-I -s ${src} -d ${dst} -p udp --sport ${sport} --dport ${dport} -t 300 ${extra}`) };
}

/** `conntrack -I` of an ICMP echo entry. */
export function icmp(src: string, dst: string, id: number, extra = ""): Step {
  return {
    ct: w(`-I -s ${src} -d ${dst} -p icmp --icmp-type 8 --icmp-code 0 --icmp-id ${id} -t 300 ${extra}`),
  };
}

/** `conntrack` with these args (split on blanks). */
export function ct(args: string, ok?: number[]): Step {
  return { ct: w(args), ok };
}

/** Splits a command line on whitespace (no quoting). */
export function w(s: string): string[] {
  return s.trim().split(/\s+/).filter((x) => x !== "");
}
