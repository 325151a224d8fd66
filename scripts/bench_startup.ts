// Start-up-bound commands side by side: the reference tools (Debian's conntrack-tools 1.4.7, C) and
// ctkit, with two baselines: the bare runtime running an empty script (`deno run empty.js`, the floor
// of any ctkit command; ctkit's target is at most 1.25 times that) and `true` (the process spawn
// floor). Usage:
//   scripts/bench-startup [--runs R] [--markdown] [--binary PATH]
// Everything runs in a throw-away network namespace. The conntrackd rows are clients only: ONE
// reference conntrackd (Sync mode, FTFW over UDP on the namespace's loopback) serves both the
// reference client and ctkit's, so only the client differs. Every run is timed the same way: from
// spawning `ip netns exec NS CMD…` to its exit (performance.now()), output discarded; runs alternate
// (the rows' order rotates, the two sides of a row take turns going first) after one untimed warm-up
// run of each command. Figures are medians of R runs (default 30). CTKIT_BIN (or --binary PATH)
// chooses the ctkit executable (default scripts/ctkit). The namespace, the daemon and the temporary
// files are removed on every exit path (Ctrl-C too).
import { cpuModel, median, runCommand } from "./bench_run.ts";
import { ctkitBin, ROOT } from "./ctkit_bin.ts";

const args = Deno.args;
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
for (const a of args) {
  if (a === "-h" || a === "--help") {
    console.log("Usage: scripts/bench-startup [--runs R] [--markdown] [--binary PATH]");
    Deno.exit(0);
  }
}
const RUNS = Number(opt("--runs", "30"));
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error("bench-startup: --runs takes a positive count");
  Deno.exit(2);
}
const MARKDOWN = args.includes("--markdown");
const CTKIT = ctkitBin();
const DENO = `${ROOT}/.tools/bin/deno`;
const REF_CT = "/usr/sbin/conntrack";
const REF_CTD = "/usr/sbin/conntrackd";
const REF_NFCT = "/usr/sbin/nfct";
const NS = `ctk-startup-${Deno.pid}`;
const TMP = Deno.makeTempDirSync({ prefix: "ctkit-bench-startup-" });
const EMPTY_JS = `${TMP}/empty.js`;
const CONF = `${TMP}/conntrackd.conf`;

const log = (s: string) => console.error(`bench-startup: ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A row: both tools, or a baseline (one command). */
interface RowDef {
  /** The command as the reference is called (CFG: the daemon's config). */
  name: string;
  note?: string;
  ref?: string[];
  ct?: string[];
  base?: string[];
}

const ROWS: RowDef[] = [
  { name: "conntrack -C", note: "empty table", ref: [REF_CT, "-C"], ct: [CTKIT, "conntrack", "-C"] },
  {
    name: "conntrackd -C CFG -s",
    note: "client",
    ref: [REF_CTD, "-C", CONF, "-s"],
    ct: [CTKIT, "conntrackd", "-C", CONF, "-s"],
  },
  {
    name: "conntrackd -C CFG -c",
    note: "client; commit of an empty external cache",
    ref: [REF_CTD, "-C", CONF, "-c"],
    ct: [CTKIT, "conntrackd", "-C", CONF, "-c"],
  },
  { name: "nfct list timeout", ref: [REF_NFCT, "list", "timeout"], ct: [CTKIT, "nfct", "list", "timeout"] },
  { name: "deno run empty.js", note: "baseline: the bare runtime", base: [DENO, "run", EMPTY_JS] },
  { name: "true", note: "baseline: process spawn", base: ["/usr/bin/true"] },
];

/** Spawn to exit of `ip netns exec NS argv…`, output discarded, in ms. Throws if it fails. */
async function timed(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const st = await new Deno.Command("ip", {
    args: ["netns", "exec", NS, ...argv],
    cwd: TMP,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn().status;
  const ms = performance.now() - t0;
  if (st.code !== 0) throw new Error(`${argv.join(" ")} exited ${st.code}`);
  return ms;
}

/** An untimed run that shows what went wrong. */
async function warmUp(argv: string[]): Promise<void> {
  const r = await runCommand(["ip", "netns", "exec", NS, ...argv]);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
}

// ---------------------------------------------------------------------------------------------
// the namespace and the daemon

let daemon: Deno.ChildProcess | null = null;
let daemonExited = false;

/** The reference daemon's config: FTFW over UDP on the namespace's loopback, files in TMP. */
function config(): string {
  return `General {
\tLockFile ${TMP}/conntrackd.lock
\tUNIX { Path ${TMP}/conntrackd.sock }
\tLogFile ${TMP}/conntrackd.log
\tSyslog off
}
Sync {
\tMode FTFW {
\t}
\tUDP {
\t\tIPv4_address 127.0.0.1
\t\tIPv4_Destination_Address 127.0.0.2
\t\tPort 3780
\t\tInterface lo
\t\tChecksum on
\t}
}
`;
}

async function startDaemon(): Promise<void> {
  Deno.writeTextFileSync(CONF, config());
  // `ip netns exec` execs: the child's pid is the daemon's.
  daemon = new Deno.Command("ip", {
    args: ["netns", "exec", NS, REF_CTD, "-C", CONF],
    cwd: TMP,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  daemon.status.then(() => daemonExited = true);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !daemonExited) {
    const r = await runCommand(["ip", "netns", "exec", NS, REF_CTD, "-C", CONF, "-s"]);
    if (r.code === 0) return;
    await sleep(50);
  }
  const logText = await Deno.readTextFile(`${TMP}/conntrackd.log`).catch(() => "");
  throw new Error(`the reference conntrackd did not start:\n${logText}`);
}

async function stopDaemon(): Promise<void> {
  const d = daemon;
  daemon = null;
  if (!d || daemonExited) return;
  const exited = (ms: number) => Promise.race([d.status.then(() => true), sleep(ms).then(() => false)]);
  try {
    d.kill("SIGTERM");
  } catch { /* gone */ }
  if (!(await exited(5000))) {
    try {
      d.kill("SIGKILL");
    } catch { /* gone */ }
    await exited(3000);
  }
}

let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await stopDaemon();
  await runCommand(["ip", "netns", "del", NS]).catch(() => {});
  await Deno.remove(TMP, { recursive: true }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------

interface Result {
  def: RowDef;
  ref: number[];
  ct: number[];
}

async function measure(): Promise<Result[]> {
  const results: Result[] = ROWS.map((def) => ({ def, ref: [], ct: [] }));
  for (const r of ROWS) {
    for (const argv of [r.ref, r.ct, r.base]) if (argv) await warmUp(argv);
  }
  for (let i = 0; i < RUNS; i++) {
    for (let j = 0; j < results.length; j++) {
      const res = results[(i + j) % results.length];
      const { ref, ct, base } = res.def;
      if (base) {
        res.ct.push(await timed(base));
        continue;
      }
      const sides: Array<["ref" | "ct", string[]]> = [["ref", ref!], ["ct", ct!]];
      if (i % 2 === 1) sides.reverse();
      for (const [who, argv] of sides) res[who].push(await timed(argv));
    }
    if ((i + 1) % 10 === 0 || i + 1 === RUNS) log(`${i + 1}/${RUNS} runs`);
  }
  return results;
}

function report(results: Result[]): void {
  const date = new Date().toISOString().slice(0, 10);
  const head = `${date}, ${cpuModel()}, ${navigator.hardwareConcurrency} cores, median of ${RUNS} ` +
    `alternating runs, ctkit ${CTKIT}, kernel ${Deno.osRelease()}`;
  const empty = median(results.find((r) => r.def.base?.[0] === DENO)!.ct);
  const f = (x: number) => Number.isFinite(x) ? x.toFixed(1) : "";
  const q = (x: number) => Number.isFinite(x) ? x.toFixed(2) : "";
  const lines: string[] = [];
  const cols = ["command", "reference (ms)", "ctkit (ms)", "ctkit ÷ empty script", "ctkit ÷ reference"];
  if (MARKDOWN) {
    lines.push(`Measured ${head}.`, "");
    lines.push(`| ${cols.join(" | ")} |`, "|---|---:|---:|---:|---:|");
  } else lines.push(head, cols.join("\t"));
  for (const r of results) {
    const a = r.ref.length ? median(r.ref) : NaN, b = median(r.ct);
    const note = r.def.note ? ` (${r.def.note})` : "";
    const name = MARKDOWN ? `\`${r.def.name}\`${note}` : r.def.name + note;
    const row = [name, f(a), f(b), q(b / empty), q(b / a)];
    lines.push(MARKDOWN ? `| ${row.join(" | ")} |` : row.join("\t"));
  }
  const foot = "Baselines show their own time in the ctkit column. Target: ctkit ÷ empty script ≤ 1.25.";
  lines.push(MARKDOWN ? `\n${foot}` : foot);
  console.log(lines.join("\n"));
}

async function main(): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error("scripts/bench-startup needs root (it creates a network namespace)");
    return 1;
  }
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, async () => {
      log("interrupted, cleaning up");
      await cleanup();
      Deno.exit(130);
    });
  }
  let results: Result[];
  try {
    Deno.writeTextFileSync(EMPTY_JS, "");
    const add = await runCommand(["ip", "netns", "add", NS]);
    if (add.code !== 0) throw new Error(`ip netns add ${NS}: ${add.stderr.trim()}`);
    await warmUp(["ip", "link", "set", "lo", "up"]);
    await startDaemon();
    log(`${NS}: reference conntrackd running, ctkit ${CTKIT}, ${RUNS} runs`);
    results = await measure();
    const left = (await runCommand(["ip", "netns", "exec", NS, REF_CT, "-C"])).stdout.trim();
    if (left !== "0") log(`note: the namespace's table held ${left} entries at the end`);
  } catch (e) {
    console.error(`bench-startup: ${(e as Error).message}`);
    return 1;
  } finally {
    await cleanup();
  }
  report(results);
  return 0;
}

Deno.exit(await main());
