// Side-by-side benchmark of `conntrack` (reference, C) and `ctkit conntrack`.
// Runs alternate between the tools; each case reports the median wall time,
// the ratio ctkit/reference and the peak RSS (GNU time). Usage:
//   scripts/bench-conntrack [--sizes 1000,20000,100000] [--runs R] [--markdown] [--binary PATH]
// One throw-away namespace is filled up to each size in turn (smallest first,
// with `conntrack -R -`). At every size: -L, -C, and the bare runtime's start-up
// (`deno run` of an empty script, timed the same way) for comparison; at the
// largest size also the other outputs, the filters, -D of every entry and the
// -E event rate. `--entries N` is `--sizes N`. CTKIT_BIN (or --binary PATH)
// chooses the ctkit executable (default scripts/ctkit).
import { cpuModel, median, runCommand } from "./bench_run.ts";
import { ctkitBin, ROOT } from "./ctkit_bin.ts";

const args = Deno.args;
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const SIZES = [
  ...new Set(
    opt("--sizes", opt("--entries", "1000,20000,100000")).split(",").filter((x) => x !== "").map(Number),
  ),
].sort((a, b) => a - b);
if (SIZES.length === 0 || SIZES.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error("bench: --sizes takes entry counts, e.g. 1000,20000,100000");
  Deno.exit(2);
}
const LARGEST = SIZES[SIZES.length - 1];
const RUNS = Number(opt("--runs", "7"));
const MARKDOWN = args.includes("--markdown");
const CTKIT = ctkitBin();
const DENO = `${ROOT}/.tools/bin/deno`;
const NS = `ctk-bench-${Deno.pid}`;
const TMP = Deno.makeTempDirSync({ prefix: "ctkit-bench-ct-" });
/** The bare runtime's start-up: an empty script. */
const EMPTY_JS = `${TMP}/empty.js`;
Deno.writeTextFileSync(EMPTY_JS, "");
const BARE = `${DENO} run ${EMPTY_JS}`;

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
    `exec ${cmd} >/dev/null 2>${TMP}/err`,
  ]);
  const wall = performance.now() - t0;
  const rss = Number(r.stderr.trim().split("\n").pop());
  return { wall, rss, out: r.stdout };
}

/** Creates entries number `from` to `to - 1` (the same entries whatever the steps). */
async function fill(from: number, to: number) {
  const lines: string[] = [];
  for (let i = from; i < to; i++) {
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

/** One table row; a row of the bare runtime has no reference samples. */
interface Row {
  name: string;
  ref: Sample[];
  ct: Sample[];
}

type Who = "ref" | "ct" | "bare";

/** Runs the commands RUNS times each, rotating which goes first so none profits from warm caches. */
async function rotate(
  cmds: Array<[Who, string]>,
  before?: () => Promise<void>,
): Promise<Record<Who, Sample[]>> {
  const out: Record<Who, Sample[]> = { ref: [], ct: [], bare: [] };
  for (let i = 0; i < RUNS; i++) {
    for (let j = 0; j < cmds.length; j++) {
      const [who, cmd] = cmds[(i + j) % cmds.length];
      if (before) await before();
      out[who].push(await timed(cmd));
    }
  }
  return out;
}

async function compare(name: string, refCmd: string, ctCmd: string): Promise<Row> {
  const s = await rotate([["ref", refCmd], ["ct", ctCmd]]);
  return { name, ref: s.ref, ct: s.ct };
}

const BARE_ROW = "`deno run empty.js` (bare runtime)";

/** -C, alternating with the bare runtime's empty script: two rows. */
async function countAndBare(refCmd: string, ctCmd: string): Promise<Row[]> {
  const s = await rotate([["ref", refCmd], ["ct", ctCmd], ["bare", BARE]]);
  return [{ name: "-C", ref: s.ref, ct: s.ct }, { name: BARE_ROW, ref: [], ct: s.bare }];
}

/** -E throughput: a listener runs while N entries are created; events shown per second. */
async function eventRate(tool: string, n: number): Promise<{ rate: number; shown: number; wall: number }> {
  await run(["ip", "netns", "exec", NS, "conntrack", "-F"]);
  const out = `${TMP}/events`;
  const listener = new Deno.Command("ip", {
    args: ["netns", "exec", NS, "sh", "-c", `exec ${tool} -E -e NEW -b 8388608 >${out} 2>/dev/null`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 700));
  const t0 = performance.now();
  await fill(0, n);
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

interface Table {
  entries: number;
  rows: Row[];
  events?: { ref: { rate: number; shown: number }; ct: { rate: number; shown: number } };
}

let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await run(["ip", "netns", "del", NS]).catch(() => {});
  await Deno.remove(TMP, { recursive: true }).catch(() => {});
}

async function main() {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, async () => {
      console.error("bench: interrupted, cleaning up");
      await cleanup();
      Deno.exit(130);
    });
  }
  const tables: Table[] = [];
  try {
    const add = await run(["ip", "netns", "add", NS]);
    if (add.code !== 0) throw new Error(`ip netns add: ${add.stderr}`);
    await run(["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"]);
    // nf_conntrack_max is global (one value for every namespace): never raised here.
    const max = Number(
      (await run(["ip", "netns", "exec", NS, "cat", "/proc/sys/net/netfilter/nf_conntrack_max"]))
        .stdout.trim(),
    );
    if (max > 0 && LARGEST > max) {
      throw new Error(
        `nf_conntrack_max is ${max}, below ${LARGEST} entries (it is not raised: it is global)`,
      );
    }
    const C = "conntrack", K = CTKIT + " conntrack";
    let filled = 0;
    for (const size of SIZES) {
      await fill(filled, size);
      filled = size;
      const have = await count();
      console.error(`bench: ${have} entries in ${NS}, ${RUNS} runs per case`);
      const t: Table = { entries: size, rows: [] };
      tables.push(t);
      t.rows.push(await compare("-L", `${C} -L`, `${K} -L`));
      console.error(`bench: ${size}: -L done`);
      if (size !== LARGEST) {
        t.rows.push(...await countAndBare(`${C} -C`, `${K} -C`));
        console.error(`bench: ${size}: -C and the bare runtime done`);
        continue;
      }
      const cases: Array<[string, string, string]> = [
        ["-L -o extended", "-L -o extended", "-L -o extended"],
        ["-L -o xml", "-L -o xml", "-L -o xml"],
        ["-L -o json (ref: -L)", "-L", "-L -o json"],
        ["-L -p tcp --dport 81 -m 3", "-L -p tcp --dport 81 -m 3", "-L -p tcp --dport 81 -m 3"],
        ["-L -s 10.0.0.0/16", "-L -s 10.0.0.0/16", "-L -s 10.0.0.0/16"],
      ];
      for (const [name, a, b] of cases) {
        t.rows.push(await compare(name, `${C} ${a}`, `${K} ${b}`));
        console.error(`bench: ${size}: ${name} done`);
      }
      t.rows.push(...await countAndBare(`${C} -C`, `${K} -C`));
      console.error(`bench: ${size}: -C and the bare runtime done`);
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
          await fill(0, size);
          del[who].push(await timed(`${cmd} -D`));
        }
      }
      t.rows.push(del);
      console.error(`bench: ${size}: -D done`);
      t.events = { ref: await eventRate(C, size), ct: await eventRate(K, size) };
      console.error(`bench: ${size}: -E done`);
    }
  } finally {
    await cleanup();
  }
  report(tables);
}

function report(tables: Table[]) {
  const date = new Date().toISOString().slice(0, 10);
  const head = `${date}, ${cpuModel()}, ${navigator.hardwareConcurrency} cores, ctkit ${CTKIT}, ` +
    `median of ${RUNS} alternating runs (-D: ${Math.min(RUNS, 3)})`;
  const lines: string[] = [];
  lines.push(MARKDOWN ? `Measured ${head}.` : head);
  const fmtRss = (xs: Sample[]) => xs.length ? (Math.max(...xs.map((s) => s.rss)) / 1024).toFixed(1) : "";
  for (const t of tables) {
    const bare = t.rows.find((r) => r.name === BARE_ROW);
    const bareMs = bare ? median(bare.ct.map((s) => s.wall)).toFixed(0) : "?";
    const title = `${t.entries} entries (bare runtime ${bareMs} ms)`;
    if (MARKDOWN) {
      lines.push("", `**${title}**`, "");
      lines.push("| case | reference (ms) | ctkit (ms) | ratio | ref peak RSS (MB) | ctkit peak RSS (MB) |");
      lines.push("|---|---:|---:|---:|---:|---:|");
    } else lines.push("", `== ${title}`);
    for (const r of t.rows) {
      const b = median(r.ct.map((s) => s.wall));
      const a = r.ref.length ? median(r.ref.map((s) => s.wall)) : NaN;
      const cols = [
        r.name,
        r.ref.length ? a.toFixed(0) : "",
        b.toFixed(0),
        r.ref.length ? (b / a).toFixed(2) : "",
        fmtRss(r.ref),
        fmtRss(r.ct),
      ];
      lines.push(MARKDOWN ? `| ${cols.join(" | ")} |` : cols.join("\t"));
    }
    if (t.events) {
      const { ref, ct } = t.events;
      const ev = [
        "-E events/s while loading",
        ref.rate.toFixed(0) + ` (${ref.shown} shown)`,
        ct.rate.toFixed(0) + ` (${ct.shown} shown)`,
        (ref.rate / ct.rate).toFixed(2),
        "",
        "",
      ];
      lines.push(MARKDOWN ? `| ${ev.join(" | ")} |` : ev.join("\t"));
    }
  }
  console.log(lines.join("\n"));
}

await main();
