// Twin harness for differential tests of `conntrack`.
//
// Every case gets two fresh network namespaces. The same setup steps bring both
// kernel tables into the same state, then the reference tool (/usr/sbin/conntrack,
// Debian 1.4.7) runs in namespace A and ctkit (`$CTKIT_BIN conntrack`, by default the launcher
// scripts/ctkit; see tests/lib/netns.ts) in
// namespace B with the same argv and stdin. The harness then compares exit status,
// stderr, stdout and the resulting kernel tables (dumped in both namespaces with
// the reference tool). Values that cannot be identical between two runs are
// normalised only where a case asks for it (see `Norm`); the timeout column is
// always compared with a tolerance (TIME_TOLERANCE s) because it counts down, and the two
// namespaces are set up and read at slightly different moments on a loaded machine.
//
// CTKIT_DIFF_SELF=1 makes side B run the reference as well: every case must pass
// that way, which proves the harness and the cases themselves.
// CTKIT_DIFF_JOBS=N sets how many cases run at once (default 4);
// CTKIT_DIFF_FILTER=substr runs only the cases whose name contains substr;
// CTKIT_DIFF_SHOW=1 prints the reference's output of every case (for reviewing cases).
//
// Nothing here ever runs conntrack in the root namespace.
import { CTKIT, Netns } from "./netns.ts";

export const REF = "/usr/sbin/conntrack";
export const SELF = Deno.env.get("CTKIT_DIFF_SELF") === "1";
const JOBS = Math.max(1, Number(Deno.env.get("CTKIT_DIFF_JOBS") ?? "4") || 4);
const FILTER = Deno.env.get("CTKIT_DIFF_FILTER") ?? "";
const SHOW = Deno.env.get("CTKIT_DIFF_SHOW") === "1";
const TRAFFIC = new URL("./traffic.py", import.meta.url).pathname;
const WRAP_LABELS = new URL("./labelmap_wrap.sh", import.meta.url).pathname;

/**
 * The reference started with a chosen argv[0] (it prints argv[0] in its usage text), e.g.
 * `refAs("conntrack")` behaves like the reference found through PATH.
 */
export function refAs(argv0: string): string[] {
  return ["bash", "-c", 'exec -a "$0" ' + REF + ' "$@"', argv0];
}

/** The command line that side B runs: ctkit, or the reference in self mode. */
export const CTKIT_CMD: string[] = SELF ? [REF] : [CTKIT, "conntrack"];

/** A setup/action step, applied identically in both namespaces. */
export type Step =
  /** the reference conntrack with these args; must exit 0 unless `ok` lists the allowed codes */
  | { ct: string[]; stdin?: string; ok?: number[] }
  /** `conntrack -R -` fed with these lines */
  | { batch: string }
  /** a shell snippet run with sh -c inside the namespace (wrapped like the tool) */
  | { sh: string }
  /** tests/lib/traffic.py with these args */
  | { traffic: string[] }
  /** sleep (ms) */
  | { sleep: number };

/** Named normalisations; each case lists the ones it needs. */
export type Norm =
  | "id" // `id=N`, `<id>N</id>`: conntrack ids are per-namespace random
  | "delta" // `delta-time=N`, `<deltatime>`: seconds since creation (±TIME_TOLERANCE)
  | "ktime" // `[start=ctime] [stop=ctime]`, `<timestamp>…</timestamp>`, `<when>…</when>`
  | "evtime" // `-o timestamp` event prefix `[sssssss.uuuuuu]\t`
  | "use" // `use=N`/`<use>N</use>` where the reference count is racy
  | "portid" // `[USERSPACE] portid=N [progname=X]` event suffix (pids differ per side)
  | "stats"; // -S counters: per-cpu placement is racy, totals per counter must match

export interface EventSpec {
  /** actions performed (in both namespaces) while the event listener runs */
  actions: Step[];
  /** ms to wait after the last action before the signal (default 700) */
  settle?: number;
  /** the signal that ends the listener (default SIGINT) */
  signal?: "SIGINT" | "SIGTERM";
}

export interface Case {
  name: string;
  setup?: Step[];
  /** conntrack arguments (without the program name); `{DIR}` is replaced by the case's temp dir */
  argv: string[];
  /** argv for the reference side when it must differ (intentional-divergence cases only) */
  refArgv?: string[];
  stdin?: string;
  /** `-L` filter args selecting exactly one entry; its id (per namespace) replaces `{ID}` in argv */
  idOf?: string[];
  /** files written into the case's temp dir before anything runs */
  files?: Record<string, string>;
  /** connlabel.conf content: every command of the case runs with this file at /etc/xtables/connlabel.conf */
  labels?: string;
  /** stdout line order: exact (default) or a multiset (kernel hash order) */
  order?: "exact" | "multiset";
  /** set to a reason to skip the stdout comparison (only where the reference itself is nondeterministic) */
  skipStdout?: string;
  norm?: Norm[];
  /**
   * The command must not change the table (-L, -G, -C, -S, -V, -h, rejected input): such cases
   * with identical setup share one pair of namespaces. The table is still compared after each.
   */
  readOnly?: boolean;
  /** compare the tables afterwards (default true) */
  table?: boolean;
  /** an event case: argv runs in the background while `event.actions` run */
  event?: EventSpec;
  /** which command side A runs (default the reference) */
  sideA?: string[];
  /** which command side B runs (default CTKIT_CMD) */
  sideB?: string[];
  /** set to a reason to skip the stderr comparison (divergence cases whose summary differs by design) */
  skipStderr?: string;
  /** absolute expectations on side B, checked in addition to the comparison */
  expect?: Expect;
  /** extra check on side B's namespace after the run (e.g. table contents) */
  checkB?: (run: (argv: string[]) => Promise<Run>) => Promise<string | undefined>;
  /**
   * INTENTIONAL DIVERGENCE: the reference is broken on this kernel, so the case asserts
   * ctkit's correct behaviour (side A runs `refArgv`, a working equivalent, and/or `expect`
   * holds absolute assertions). In self mode the case instead asserts that the reference
   * really shows the documented bug (`reference`), which proves the case exercises it.
   */
  divergence?: { why: string; reference: Expect };
}

export interface Expect {
  code?: number;
  stderr?: string | RegExp;
  stdout?: RegExp;
  stdoutLines?: number;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface Side {
  ns: Netns;
  wrap: string[];
  dir: string;
}

// ---------------------------------------------------------------------------------------------
// process helpers

/** Seconds a single command may run before it is killed and reported (CTKIT_DIFF_TIMEOUT). */
const TIMEOUT_S = Number(Deno.env.get("CTKIT_DIFF_TIMEOUT") ?? "30") || 30;

async function execIn(side: Side, argv: string[], stdin?: string): Promise<Run> {
  const cmd = new Deno.Command("ip", {
    args: ["netns", "exec", side.ns.name, ...side.wrap, ...argv],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, TIMEOUT_S * 1000);
  try {
    if (stdin !== undefined) {
      const wr = child.stdin.getWriter();
      await wr.write(new TextEncoder().encode(stdin)).catch(() => {});
      await wr.close().catch(() => {});
    }
    const out = await child.output();
    const dec = new TextDecoder();
    const r = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    if (timedOut) {
      throw new Error(`timed out after ${TIMEOUT_S}s: ${argv.join(" ")}\n${r.stdout}${r.stderr}`);
    }
    return r;
  } finally {
    clearTimeout(timer);
  }
}

function subst(argv: string[], dir: string): string[] {
  return argv.map((a) => a.replaceAll("{DIR}", dir));
}

async function step(side: Side, s: Step): Promise<void> {
  let r: Run;
  let what: string;
  let ok = [0];
  if ("ct" in s) {
    what = `conntrack ${s.ct.join(" ")}`;
    r = await execIn(side, [REF, ...subst(s.ct, side.dir)], s.stdin);
    ok = s.ok ?? [0];
  } else if ("batch" in s) {
    what = `conntrack -R - <<${s.batch}`;
    r = await execIn(side, [REF, "-R", "-"], s.batch);
  } else if ("sh" in s) {
    what = `sh -c ${s.sh}`;
    r = await execIn(side, ["sh", "-c", s.sh.replaceAll("{DIR}", side.dir)]);
  } else if ("traffic" in s) {
    what = `traffic ${s.traffic.join(" ")}`;
    r = await execIn(side, ["python3", TRAFFIC, ...s.traffic]);
  } else {
    await new Promise((res) => setTimeout(res, s.sleep));
    return;
  }
  if (!ok.includes(r.code)) {
    throw new Error(`setup step failed in ${side.ns.name}: ${what}\nexit ${r.code}\n${r.stdout}${r.stderr}`);
  }
}

// ---------------------------------------------------------------------------------------------
// normalisation and comparison

interface NLine {
  key: string;
  /** values compared with a tolerance, in order of appearance */
  vals: number[];
}

interface Rule {
  re: RegExp;
  /** replacement for the whole match; `$<pre>` etc. allowed */
  repl: string;
  /** if set, group `v` is kept as a value compared with this tolerance */
  tol?: number;
}

/** Seconds two aging values (timeouts, delta-time) may differ between the two sides. */
const TIME_TOLERANCE = 10;

const TIMEOUT_RULES: Rule[] = [
  // default/extended conntrack line (optionally event tag and -o timestamp prefix)
  {
    re: /^(?<pre>(?:\[[^\]\t]*\]\t)?(?: *\[[A-Z]+\] )?(?:ipv[46] +\d+ )?[a-z0-9]+ +\d+ )(?<v>\d+)(?= )/,
    repl: "$<pre><T>",
    tol: TIME_TOLERANCE,
  },
  // expectation line
  {
    re: /^(?<pre>(?:\[[^\]\t]*\]\t)?(?: *\[[A-Z]+\] )?)(?<v>\d+)(?= proto=)/,
    repl: "$<pre><T>",
    tol: TIME_TOLERANCE,
  },
  { re: /<timeout>(?<v>\d+)<\/timeout>/g, repl: "<timeout><T></timeout>", tol: TIME_TOLERANCE },
  { re: /(?<pre>(?:^| )-t )(?<v>\d+)/g, repl: "$<pre><T>", tol: TIME_TOLERANCE },
];

const CTIME = String.raw`\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}`;

const NORM_RULES: Record<Norm, Rule[]> = {
  id: [
    { re: /(?<=(?:^| )id=)\d+(?= |$)/g, repl: "<id>" },
    { re: /<id>\d+<\/id>/g, repl: "<id><id></id>" },
  ],
  delta: [
    { re: /(?<=(?:^| )delta-time=)(?<v>\d+)/g, repl: "<dt>", tol: TIME_TOLERANCE },
    { re: /<deltatime>(?<v>\d+)<\/deltatime>/g, repl: "<deltatime><dt></deltatime>", tol: TIME_TOLERANCE },
  ],
  ktime: [
    { re: new RegExp(String.raw`\[(start|stop)=${CTIME}\]`, "g"), repl: "[$1=<ctime>]" },
    { re: /<(start|stop)>\d+<\/\1>/g, repl: "<$1><ns></$1>" },
    { re: /<when>.*?<\/when>/g, repl: "<when><when></when>" },
  ],
  evtime: [
    { re: /^\[\d{8,}\.\d{6}\]\t/, repl: "[<ts>]\t" },
    { re: /^\[\d{8,} *\.\d+ *\]\t/, repl: "[<ts>]\t" },
    { re: /<when>.*?<\/when>/g, repl: "<when><when></when>" },
  ],
  use: [
    { re: /(?<=(?:^| )use=)\d+/g, repl: "<use>" },
    { re: /<use>\d+<\/use>/g, repl: "<use><use></use>" },
  ],
  portid: [{ re: / \[USERSPACE\] portid=\d+(?: progname=\S+)?/g, repl: " [USERSPACE] portid=<pid>" }],
  stats: [{ re: /(?<=^cpu=\d+ *\t.*=)\d+(?= )/g, repl: "<n>" }],
};

function normLine(line: string, rules: Rule[]): NLine {
  const vals: number[] = [];
  let key = line;
  for (const r of rules) {
    key = key.replace(r.re, (...args) => {
      const groups = args[args.length - 1] as Record<string, string | undefined> | undefined;
      if (r.tol !== undefined && groups && typeof groups === "object" && groups.v !== undefined) {
        vals.push(Number(groups.v));
      }
      // expand $<name> and $1 in the replacement
      return r.repl.replace(/\$<(\w+)>|\$(\d)/g, (_m, name, num) => {
        if (name) return (groups && typeof groups === "object" ? groups[name] : "") ?? "";
        return String(args[Number(num)] ?? "");
      });
    });
  }
  return { key, vals };
}

function rulesFor(norms: Norm[] = []): Rule[] {
  return [...TIMEOUT_RULES, ...norms.flatMap((n) => NORM_RULES[n])];
}

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

const STRUCTURAL = /^(<\?xml .*|<\/?(conntrack|expect)>)$/;

/** Compares two texts; returns undefined when equal, else a description. */
export function compareText(
  what: string,
  a: string,
  b: string,
  opts: { order?: "exact" | "multiset"; norm?: Norm[]; tol?: number } = {},
): string | undefined {
  const rules = rulesFor(opts.norm);
  const r = compareLines(what, a, b, rules, opts);
  if (r) return r;
  // a missing final newline must match too
  if (a.endsWith("\n") !== b.endsWith("\n")) {
    return `${what}: trailing newline differs\n--- reference\n${JSON.stringify(a)}\n--- ctkit\n${
      JSON.stringify(b)
    }`;
  }
  if (opts.norm?.includes("stats")) return compareStatTotals(what, a, b);
  return undefined;
}

function compareLines(
  what: string,
  a: string,
  b: string,
  rules: Rule[],
  opts: { order?: "exact" | "multiset" },
): string | undefined {
  const tol = TIME_TOLERANCE;
  const la = splitLines(a).map((l) => normLine(l, rules));
  const lb = splitLines(b).map((l) => normLine(l, rules));
  const show = () => `\n--- reference (${what})\n${a}--- ctkit (${what})\n${b}`;
  if (la.length !== lb.length) return `${what}: ${la.length} lines vs ${lb.length} lines${show()}`;
  const valsOk = (x: NLine, y: NLine) =>
    x.vals.length === y.vals.length && x.vals.every((v, i) => Math.abs(v - y.vals[i]) <= tol);
  if ((opts.order ?? "exact") === "exact") {
    for (let i = 0; i < la.length; i++) {
      if (la[i].key !== lb[i].key || !valsOk(la[i], lb[i])) {
        return `${what}: line ${i + 1} differs\n  ref:   ${splitLines(a)[i]}\n  ctkit: ${
          splitLines(b)[i]
        }${show()}`;
      }
    }
    return undefined;
  }
  // multiset: structural lines (XML header/footer) keep their positions
  for (let i = 0; i < la.length; i++) {
    const sa = STRUCTURAL.test(la[i].key), sb = STRUCTURAL.test(lb[i].key);
    if ((sa || sb) && la[i].key !== lb[i].key) return `${what}: line ${i + 1} differs${show()}`;
  }
  const sortKey = (x: NLine) => `${x.key}\u0000${x.vals.join(",")}`;
  const cmp = (x: NLine, y: NLine) => {
    if (x.key !== y.key) return x.key < y.key ? -1 : 1;
    for (let i = 0; i < Math.min(x.vals.length, y.vals.length); i++) {
      if (x.vals[i] !== y.vals[i]) return x.vals[i] - y.vals[i];
    }
    return 0;
  };
  const sa = [...la].sort(cmp), sb = [...lb].sort(cmp);
  for (let i = 0; i < sa.length; i++) {
    if (sa[i].key !== sb[i].key || !valsOk(sa[i], sb[i])) {
      return `${what}: line multisets differ (first difference: ${sortKey(sa[i])} vs ${
        sortKey(sb[i])
      })${show()}`;
    }
  }
  return undefined;
}

/** -S: the per-cpu placement of counters is racy, but the totals must agree. */
function compareStatTotals(what: string, a: string, b: string): string | undefined {
  const totals = (t: string) => {
    const m = new Map<string, number>();
    for (const [, k, v] of t.matchAll(/(\w+)=(\d+)(?= )/g)) m.set(k, (m.get(k) ?? 0) + Number(v));
    return JSON.stringify([...m].sort());
  };
  const ta = totals(a), tb = totals(b);
  return ta === tb ? undefined : `${what}: counter totals differ\n  ref:   ${ta}\n  ctkit: ${tb}`;
}

// ---------------------------------------------------------------------------------------------
// table snapshot

async function snapshot(side: Side, labels: boolean): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const dumps: [string, string[]][] = [
    ["table (-L -o save)", ["-L", "-o", "save"]],
    ["table (-L -o extended)", ["-L", "-o", labels ? "extended,labels" : "extended"]],
    ["expect table (-L expect)", ["-L", "expect"]],
  ];
  for (const [name, argv] of dumps) {
    const r = await execIn(side, [REF, ...argv]);
    if (r.code !== 0) throw new Error(`snapshot ${argv.join(" ")} failed in ${side.ns.name}: ${r.stderr}`);
    out[name] = r.stdout;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// one case

async function makeSide(c: Case): Promise<Side> {
  const dir = await Deno.makeTempDir({ prefix: `ctkit-diff-${Deno.pid}-` });
  const ns = await Netns.create("ctd");
  const side: Side = { ns, wrap: [], dir };
  for (const [name, text] of Object.entries(c.files ?? {})) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  if (c.labels !== undefined) {
    await Deno.writeTextFile(`${dir}/connlabel.conf`, c.labels);
    await Deno.mkdir(`${dir}/mnt`);
    // private mount namespace + overlay on /etc: the host's /etc is never modified
    side.wrap = [
      "unshare",
      "-m",
      "--propagation",
      "private",
      WRAP_LABELS,
      `${dir}/mnt`,
      `${dir}/connlabel.conf`,
    ];
  }
  return side;
}

async function destroySide(side: Side | undefined): Promise<void> {
  if (!side) return;
  await side.ns.destroy();
  await Deno.remove(side.dir, { recursive: true }).catch(() => {});
}

/** Waits until the listener joined its event groups; false if it exited first (e.g. rejected options). */
async function waitSubscribed(side: Side, exited: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const r = await execIn({ ...side, wrap: [] }, ["cat", "/proc/net/netlink"]);
    // sk Eth Pid Groups ...: a NETLINK_NETFILTER (12) socket with event groups joined
    const subscribed = splitLines(r.stdout).slice(1).some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === "12" && parseInt(f[3], 16) !== 0;
    });
    if (subscribed) return true;
    if (exited()) return false;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`event listener never subscribed in ${side.ns.name}`);
}

async function runEvent(side: Side, tool: string[], c: Case, argv: string[]): Promise<Run> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", side.ns.name, ...side.wrap, ...tool, ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let done = false;
  const output = child.output().finally(() => done = true);
  try {
    await waitSubscribed(side, () => done);
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    const o = await output;
    const dec = new TextDecoder();
    throw new Error(`${(e as Error).message}\n${dec.decode(o.stdout)}${dec.decode(o.stderr)}`);
  }
  // the actions run even if the listener already exited, so both tables stay comparable
  for (const s of c.event!.actions) await step(side, s);
  await new Promise((res) => setTimeout(res, c.event!.settle ?? 700));
  // ip netns exec, unshare, the label wrapper and the ctkit executable (launcher or packaged file)
  // all exec: pid is the tool itself
  if (!done) Deno.kill(child.pid, c.event!.signal ?? "SIGINT");
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 8000);
  const out = await output;
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function idOf(side: Side, filter: string[]): Promise<string> {
  const r = await execIn(side, [REF, "-L", "-o", "id", ...filter]);
  const ids = [...r.stdout.matchAll(/ id=(\d+)/g)].map((m) => m[1]);
  if (ids.length !== 1) throw new Error(`idOf ${filter.join(" ")}: expected one entry, got ${r.stdout}`);
  return ids[0];
}

function checkExpect(r: Run, x: Expect): string[] {
  const f: string[] = [];
  if (x.code !== undefined && r.code !== x.code) {
    f.push(`expected exit ${x.code}, got ${r.code}: ${r.stderr}`);
  }
  if (typeof x.stderr === "string" && r.stderr !== x.stderr) {
    f.push(`expected stderr ${JSON.stringify(x.stderr)}, got ${JSON.stringify(r.stderr)}`);
  }
  if (x.stderr instanceof RegExp && !x.stderr.test(r.stderr)) {
    f.push(`stderr ${JSON.stringify(r.stderr)} does not match ${x.stderr}`);
  }
  if (x.stdout && !x.stdout.test(r.stdout)) f.push(`stdout does not match ${x.stdout}:\n${r.stdout}`);
  if (x.stdoutLines !== undefined && splitLines(r.stdout).length !== x.stdoutLines) {
    f.push(`expected ${x.stdoutLines} stdout lines, got ${splitLines(r.stdout).length}:\n${r.stdout}`);
  }
  return f;
}

export interface CaseResult {
  name: string;
  failures: string[];
  ms: number;
}

async function prepare(c: Case): Promise<[Side, Side]> {
  const made = await Promise.allSettled([makeSide(c), makeSide(c)]);
  const sides = made.flatMap((m) => m.status === "fulfilled" ? [m.value] : []);
  if (sides.length !== 2) {
    await Promise.all(sides.map(destroySide));
    throw (made.find((m) => m.status === "rejected") as PromiseRejectedResult).reason;
  }
  const [A, B] = sides;
  try {
    for (const s of c.setup ?? []) await Promise.all([step(A, s), step(B, s)]);
  } catch (e) {
    await Promise.all([destroySide(A), destroySide(B)]);
    throw e;
  }
  return [A, B];
}

/** Runs one case on prepared sides; returns the failures (empty = pass). */
async function execute(c: Case, A: Side, B: Side): Promise<string[]> {
  const failures: string[] = [];
  const toolA = c.sideA ?? [REF];
  const toolB = c.sideB ?? CTKIT_CMD;
  let argvA = subst(c.refArgv ?? c.argv, A.dir);
  let argvB = subst(c.argv, B.dir);
  if (c.idOf) {
    const [ia, ib] = await Promise.all([idOf(A, c.idOf), idOf(B, c.idOf)]);
    argvA = argvA.map((x) => x.replaceAll("{ID}", ia));
    argvB = argvB.map((x) => x.replaceAll("{ID}", ib));
  }
  let ra: Run, rb: Run;
  if (c.event) {
    [ra, rb] = await Promise.all([runEvent(A, toolA, c, argvA), runEvent(B, toolB, c, argvB)]);
  } else {
    [ra, rb] = await Promise.all([
      execIn(A, [...toolA, ...argvA], c.stdin),
      execIn(B, [...toolB, ...argvB], c.stdin),
    ]);
  }
  // temp dirs differ per side: make paths in the output comparable
  const fixDir = (r: Run, dir: string): Run => ({
    code: r.code,
    stdout: r.stdout.replaceAll(dir, "{DIR}"),
    stderr: r.stderr.replaceAll(dir, "{DIR}"),
  });
  ra = fixDir(ra, A.dir);
  rb = fixDir(rb, B.dir);
  if (SHOW) {
    console.error(`## ${c.name}: conntrack ${argvA.join(" ")} -> ${ra.code}\n${ra.stdout}${ra.stderr}`);
  }
  if (SELF && c.divergence) {
    // self mode: side B ran the reference with argv; it must show the documented bug
    return checkExpect(rb, c.divergence.reference);
  }
  if (c.divergence && !c.refArgv) {
    // no working reference equivalent: only the absolute assertions on ctkit apply
    failures.push(...checkExpect(rb, c.expect ?? {}));
    if (c.checkB) {
      const msg = await c.checkB((argv) => execIn(B, [REF, ...argv]));
      if (msg) failures.push(msg);
    }
    return failures;
  }
  if (ra.code !== rb.code) {
    failures.push(
      `exit status: reference ${ra.code}, ctkit ${rb.code}\n--- ref stderr\n${ra.stderr}--- ctkit stderr\n${rb.stderr}`,
    );
  }
  if (!c.skipStderr) {
    const e = compareText("stderr", ra.stderr, rb.stderr, { norm: c.norm });
    if (e) failures.push(e);
  }
  if (!c.skipStdout) {
    const o = compareText("stdout", ra.stdout, rb.stdout, { order: c.order, norm: c.norm });
    if (o) failures.push(o);
  }
  if (c.expect) failures.push(...checkExpect(rb, c.expect));
  if (c.table !== false) {
    const labels = c.labels !== undefined;
    const [sa, sb] = await Promise.all([snapshot(A, labels), snapshot(B, labels)]);
    for (const k of Object.keys(sa)) {
      // delta-time appears when the namespace records timestamps; it ages like the timeout
      const d = compareText(k, sa[k], sb[k], { order: "multiset", norm: ["delta"] });
      if (d) failures.push(d);
    }
  }
  if (c.checkB) {
    const msg = await c.checkB((argv) => execIn(B, [REF, ...argv]));
    if (msg) failures.push(msg);
  }
  return failures;
}

export async function runCase(c: Case): Promise<CaseResult> {
  return (await runGroup([c]))[0];
}

/**
 * Runs cases that share one pair of namespaces (read-only cases with the same setup).
 * After a failing case the namespaces are rebuilt, so one bad case cannot spoil the next.
 */
async function runGroup(group: Case[]): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  let sides: [Side, Side] | undefined;
  try {
    for (const c of group) {
      const t0 = Date.now();
      let failures: string[];
      try {
        sides ??= await prepare(c);
        failures = await execute(c, ...sides);
      } catch (e) {
        failures = [`harness error: ${(e as Error).stack ?? e}`];
      }
      if (failures.length && sides) {
        await Promise.all(sides.map(destroySide));
        sides = undefined;
      }
      out.push({ name: c.name, failures, ms: Date.now() - t0 });
    }
  } finally {
    if (sides) await Promise.all(sides.map(destroySide));
  }
  return out;
}

const GROUP_MAX = 10;

/** Runs cases with bounded concurrency; read-only cases with identical setup share namespaces. */
export async function runCases(cases: Case[], jobs = JOBS): Promise<CaseResult[]> {
  const groups: number[][] = [];
  const open = new Map<string, number[]>();
  cases.forEach((c, i) => {
    if (!c.readOnly || c.event) {
      groups.push([i]);
      return;
    }
    const key = JSON.stringify([c.setup ?? [], c.labels, c.files]);
    let g = open.get(key);
    if (!g || g.length >= GROUP_MAX) {
      g = [];
      groups.push(g);
      open.set(key, g);
    }
    g.push(i);
  });
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const g = groups[next++];
      const rs = await runGroup(g.map((i) => cases[i]));
      g.forEach((i, k) => results[i] = rs[k]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, groups.length) }, worker));
  return results;
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes namespaces (`ctd-<pid>-…`) and temp dirs (`ctkit-diff-<pid>-…`) that this harness
 * left behind in a run that was killed (its pid no longer exists). Live runs are untouched.
 */
async function sweepStale(): Promise<void> {
  const r = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped", stderr: "null" })
    .output();
  for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
    const m = /^(ctd-(\d+)-\d+(?:-[0-9a-f]+)?)(?:\s|$)/.exec(line);
    if (m && Number(m[2]) !== Deno.pid && !alive(Number(m[2]))) {
      await new Deno.Command("ip", { args: ["netns", "del", m[1]], stdout: "null", stderr: "null" }).output();
    }
  }
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  for (const e of Deno.readDirSync(tmp)) {
    const m = /^ctkit-diff-(\d+)-/.exec(e.name);
    if (e.isDirectory && m && Number(m[1]) !== Deno.pid && !alive(Number(m[1]))) {
      await Deno.remove(`${tmp}/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
}

/** Registers one Deno test that runs `cases` in parallel and reports each as a step. */
export function diffSuite(name: string, cases: Case[]): void {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name: ${c.name}`);
    names.add(c.name);
  }
  const selected = cases.filter((c) => c.name.includes(FILTER));
  Deno.test({
    name: `${name}${SELF ? " [self]" : ""}`,
    ignore: selected.length === 0,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      await sweepStale();
      const results = await runCases(selected);
      for (const r of results) {
        await t.step(r.name, () => {
          if (r.failures.length) throw new Error(`case ${r.name}:\n${r.failures.join("\n\n")}`);
        });
      }
    },
  });
}

// ---------------------------------------------------------------------------------------------
// common setup steps

/** Makes the namespace track locally generated/received traffic (hooks register on use). */
export const TRACK: Step = {
  sh: "nft -f - <<'EOF'\n" +
    "table inet ctktrack {\n" +
    "  chain out { type filter hook output priority 0; ct state new counter; }\n" +
    "  chain in { type filter hook input priority 0; ct state new counter; }\n" +
    "}\nEOF",
};

/** A TCP entry created with -I (ESTABLISHED, SEEN_REPLY). */
export function tcpEntry(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  extra: string[] = [],
): Step {
  return {
    ct: [
      "-I",
      "-s",
      src,
      "-d",
      dst,
      "-p",
      "tcp",
      "--sport",
      String(sport),
      "--dport",
      String(dport),
      "--state",
      "ESTABLISHED",
      "-u",
      "SEEN_REPLY",
      "-t",
      "100",
      ...extra,
    ],
  };
}

/** Splits a command line on whitespace (no quoting) — for readable case tables. */
export function w(s: string): string[] {
  return s.trim().split(/\s+/).filter((x) => x !== "");
}
