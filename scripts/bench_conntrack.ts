// Side-by-side benchmark of `conntrack` (reference, C) and `ctkit conntrack`.
// Runs alternate between the two tools; each case reports the median wall time,
// the ratio ctkit/reference and the peak RSS (GNU time). Usage:
//   scripts/bench-conntrack [--entries N] [--runs R] [--markdown]
import { runCommand } from "./bench_run.ts";

const args = Deno.args;
const opt = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const ENTRIES = opt("--entries", 100_000);
const RUNS = opt("--runs", 7);
const MARKDOWN = args.includes("--markdown");
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CTKIT = `${ROOT}/scripts/ctkit`;
const NS = `ctk-bench-${Deno.pid}`;

interface Sample {
  wall: number;
  rss: number;
  out: string;
}

const run = runCommand;

/** Runs a command in the namespace under GNU time, stdout discarded. */
async function timed(cmd: string): Promise<Sample> {
  const t0 = performance.now();
  const r = await run([
    "ip",
    "netns",
    "exec",
    NS,
    "/usr/bin/time",
    "-f",
    "%M",
    "sh",
    "-c",
    `exec ${cmd} >/dev/null 2>/tmp/${NS}.err`,
  ]);
  const wall = performance.now() - t0;
  const rss = Number(r.stderr.trim().split("\n").pop());
  return { wall, rss, out: r.stdout };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function fill(n: number) {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const proto = i % 4 === 0 ? "udp" : "tcp";
    const state = proto === "tcp" ? " --state ESTABLISHED" : "";
    lines.push(
      `-I -s ${a} -d 192.168.${i % 7}.1 -p ${proto} --sport ${1024 + (i % 60000)} --dport ${
        80 + (i % 3)
      }${state} -t 3600 -u ASSURED -m ${i % 5}`,
    );
  }
  const r = await run(["ip", "netns", "exec", NS, "conntrack", "-R", "-"], lines.join("\n") + "\n");
  if (r.code !== 0) throw new Error(`fill failed: ${r.stderr}`);
}

async function count(): Promise<number> {
  const r = await run(["ip", "netns", "exec", NS, "conntrack", "-C"]);
  return Number(r.stdout.trim());
}

interface Row {
  name: string;
  ref: Sample[];
  ct: Sample[];
}

async function compare(
  name: string,
  refCmd: string,
  ctCmd: string,
  before?: () => Promise<void>,
): Promise<Row> {
  const row: Row = { name, ref: [], ct: [] };
  for (let i = 0; i < RUNS; i++) {
    // Alternate which tool goes first so neither profits from warm caches.
    const order: Array<["ref" | "ct", string]> = i % 2 === 0
      ? [["ref", refCmd], ["ct", ctCmd]]
      : [["ct", ctCmd], ["ref", refCmd]];
    for (const [who, cmd] of order) {
      if (before) await before();
      row[who].push(await timed(cmd));
    }
  }
  return row;
}

/** -E throughput: a listener runs while N entries are created; events shown per second. */
async function eventRate(tool: string, n: number): Promise<{ rate: number; shown: number; wall: number }> {
  await run(["ip", "netns", "exec", NS, "conntrack", "-F"]);
  const out = `/tmp/${NS}.events`;
  const listener = new Deno.Command("ip", {
    args: ["netns", "exec", NS, "sh", "-c", `exec ${tool} -E -e NEW -b 8388608 >${out} 2>/dev/null`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 700));
  const t0 = performance.now();
  await fill(n);
  // Wait until the listener has written every event (or stops making progress).
  let last = -1, lines = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      lines = (await Deno.readTextFile(out)).split("\n").length - 1;
    } catch { /* not yet created */ }
    if (lines >= n || lines === last) break;
    last = lines;
  }
  const wall = (performance.now() - t0) / 1000;
  listener.kill("SIGINT");
  await listener.status;
  await Deno.remove(out).catch(() => {});
  return { rate: lines / wall, shown: lines, wall };
}

function cpuModel(): string {
  try {
    const m = /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"));
    return m ? m[1] : "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

async function main() {
  await run(["ip", "netns", "add", NS]);
  try {
    await run(["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"]);
    await run(["ip", "netns", "exec", NS, "sysctl", "-qw", `net.netfilter.nf_conntrack_max=${ENTRIES * 2}`]);
    await fill(ENTRIES);
    const have = await count();
    console.error(`bench: ${have} entries in ${NS}, ${RUNS} runs per case`);
    const rows: Row[] = [];
    const C = "conntrack", K = CTKIT + " conntrack";
    const cases: Array<[string, string, string]> = [
      ["-L", "-L", "-L"],
      ["-L -o extended", "-L -o extended", "-L -o extended"],
      ["-L -o xml", "-L -o xml", "-L -o xml"],
      ["-L -o json (ref: -L)", "-L", "-L -o json"],
      ["-L -p tcp --dport 81 -m 3", "-L -p tcp --dport 81 -m 3", "-L -p tcp --dport 81 -m 3"],
      ["-L -s 10.0.0.0/16", "-L -s 10.0.0.0/16", "-L -s 10.0.0.0/16"],
      ["-C", "-C", "-C"],
    ];
    // What a compiled binary would start: the launcher's exec line without its bash preamble.
    const bundle = `${ROOT}/.tools/ctkit.bundle.js`;
    const direct =
      `env CTKIT_ARGV0=conntrack DENO_NO_UPDATE_CHECK=1 DENO_DIR=${ROOT}/.tools/deno_dir ${ROOT}/.tools/bin/deno run ` +
      `--allow-all --no-check --no-prompt --quiet --no-config --no-remote --no-npm --cached-only ` +
      `--v8-flags=--max-semi-space-size=2,--min-semi-space-size=2 ${bundle}`;
    for (const [name, a, b] of cases) {
      rows.push(await compare(name, `${C} ${a}`, `${K} ${b}`));
      console.error(`bench: ${name} done`);
    }
    rows.push(await compare("-C (bundle run directly, no launcher)", `${C} -C`, `${direct} -C`));
    // -D of everything: refill before every run (not timed).
    const deleteRuns = Math.min(RUNS, 3);
    const del: Row = { name: "-D (all entries)", ref: [], ct: [] };
    for (let i = 0; i < deleteRuns; i++) {
      for (
        const [who, cmd] of (i % 2 === 0 ? [["ref", C], ["ct", K]] : [["ct", K], ["ref", C]]) as Array<
          ["ref" | "ct", string]
        >
      ) {
        await run(["ip", "netns", "exec", NS, "conntrack", "-F"]);
        await fill(ENTRIES);
        del[who].push(await timed(`${cmd} -D`));
      }
    }
    rows.push(del);
    const evRef = await eventRate(C, ENTRIES);
    const evCt = await eventRate(K, ENTRIES);
    report(rows, evRef, evCt);
  } finally {
    await run(["ip", "netns", "del", NS]);
  }
}

function report(rows: Row[], evRef: { rate: number; shown: number }, evCt: { rate: number; shown: number }) {
  const date = new Date().toISOString().slice(0, 10);
  const head =
    `${date}, ${cpuModel()}, ${navigator.hardwareConcurrency} cores, ${ENTRIES} entries, median of ${RUNS} alternating runs (-D: 3)`;
  const lines: string[] = [];
  if (MARKDOWN) {
    lines.push(`Measured ${head}.`, "");
    lines.push("| case | reference (ms) | ctkit (ms) | ratio | ref peak RSS (MB) | ctkit peak RSS (MB) |");
    lines.push("|---|---:|---:|---:|---:|---:|");
  } else lines.push(head);
  for (const r of rows) {
    const a = median(r.ref.map((s) => s.wall)), b = median(r.ct.map((s) => s.wall));
    const ra = Math.max(...r.ref.map((s) => s.rss)) / 1024, rb = Math.max(...r.ct.map((s) => s.rss)) / 1024;
    const cols = [r.name, a.toFixed(0), b.toFixed(0), (b / a).toFixed(2), ra.toFixed(1), rb.toFixed(1)];
    lines.push(MARKDOWN ? `| ${cols.join(" | ")} |` : cols.join("\t"));
  }
  const ev = [
    "-E events/s while loading",
    evRef.rate.toFixed(0) + ` (${evRef.shown} shown)`,
    evCt.rate.toFixed(0) + ` (${evCt.shown} shown)`,
    (evRef.rate / evCt.rate).toFixed(2),
    "",
    "",
  ];
  lines.push(MARKDOWN ? `| ${ev.join(" | ")} |` : ev.join("\t"));
  console.log(lines.join("\n"));
}

await main();
