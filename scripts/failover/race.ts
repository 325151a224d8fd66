// `scripts/demo --race`: the takeover race under load (keepalived issue #2254).
// 40 busy echo streams are source-NATed to the WAN VIP with random ports and
// 150 000 idle flows are synced, so fw2's commit takes a while after its VIPs
// are up. Packets that reach fw2 before their state is committed are mis-NATed
// or answered by fw2's own stack, and the streams are reset — unless ctkit's
// guard drops them until the commit is complete. Each run counts the streams
// that survived; ctkit (ha --fifo, guard on) against the reference conntrackd
// driven by primary-backup.sh, with nf_conntrack_tcp_loose 1 and 0.
import { ADDR, destroyOnSignal, type Impl, Testbed } from "./testbed.ts";
import { startServers, Streams, type StreamSummary } from "./flows.ts";
import { fillIdleFlows } from "./idle_flows.ts";
import { ms, waitSynced, watchCommit } from "./observe.ts";
import { bold, green, Progress, red, sleep } from "./progress.ts";

export interface RaceOptions {
  impl: Impl;
  guard: boolean;
  tcpLoose: 0 | 1;
  streams: number;
  idleFlows: number;
  advertInt: number;
  keepDir?: boolean;
}

export interface RaceResult {
  opts: RaceOptions;
  survived: number;
  resets: number;
  otherErrors: number;
  crashToMaster: number | null;
  masterToCommit: number | null;
  commitMs: number | null;
  longestStall: number;
  streams: StreamSummary[];
}

const USAGE = `Usage: scripts/demo --race [options]
  --impl=ctkit|ref|both   ctkit (ha --fifo with its guard) and/or the reference with primary-backup.sh (default both)
  --loose=0|1|both        nf_conntrack_tcp_loose on the firewalls (default both)
  --no-guard              ctkit's ha without the guard (shows the race with ctkit too)
  --streams=N             busy streams (default 40)
  --idle-flows=N          idle synced flows (default 150000)
`;

/** One run of the race; `bedHook` sees the testbed for cleanup on signals. */
export async function raceOnce(
  o: RaceOptions,
  p: Progress,
  bedHook: (bed: Testbed | null) => void = () => {},
): Promise<RaceResult> {
  const bed = await Testbed.create({
    daemons: { fw1: o.impl, fw2: o.impl },
    driver: o.impl === "ctkit" ? "fifo" : "primary-backup",
    guard: o.guard,
    snat: "vip-random",
    tcpLoose: o.tcpLoose,
    advertInt: o.advertInt,
    keepDir: o.keepDir,
  });
  bedHook(bed);
  try {
    return await race(bed, o, p);
  } finally {
    if (o.keepDir) p.line(`configs and logs kept in ${bed.dir}`);
    await bed.destroy();
    bedHook(null);
  }
}

async function race(bed: Testbed, o: RaceOptions, p: Progress): Promise<RaceResult> {
  const who = o.impl === "ctkit"
    ? `ctkit conntrackd, ha --fifo${o.guard ? " with its guard" : " --no-guard"}`
    : "reference conntrackd 1.4.7, primary-backup.sh";
  p.step(`Race: ${who}, nf_conntrack_tcp_loose=${o.tcpLoose}, SNAT with random ports`);
  await bed.buildNetwork();
  await bed.loadRuleset();
  await bed.startConntrackd("fw1");
  await bed.startConntrackd("fw2");
  await startServers(bed);
  await bed.startKeepalived("fw1");
  if (!(await bed.waitVips("fw1", 20_000))) throw new Error("fw1 did not become master");
  const fw2Start = Date.now();
  await bed.startKeepalived("fw2");
  if (!(await bed.waitHa("fw2", /backup done|primary-backup\.sh backup done/, fw2Start, 30_000))) {
    throw new Error("fw2 never completed its backup transition");
  }
  p.line("fw1 MASTER, fw2 BACKUP");
  // The idle flows first: the streams' entries then come late in fw2's caches, as in a busy firewall.
  const t = Date.now();
  await fillIdleFlows(bed, o.idleFlows);
  p.line(`fw1: ${o.idleFlows} idle flows created (${((Date.now() - t) / 1000).toFixed(1)} s); syncing`);
  await waitSynced(bed, p, { flows: o.idleFlows, expects: 0, timeoutMs: 300_000 });
  const streams = await Streams.open(bed, { count: o.streams, userTimeout: 20, chunk: 512, interval: 0.01 });
  p.line(`${o.streams} echo streams ${ADDR.client} -> ${ADDR.server}:5001, each 50 KiB/s both ways`);
  await waitSynced(bed, p, { flows: o.idleFlows + o.streams, expects: 0, timeoutMs: 300_000 });
  await sleep(1000);

  const crashAt = Date.now();
  await bed.crash("fw1");
  p.line(bold(`fw1 crashed (SIGKILL, links down) at ${new Date(crashAt).toISOString()}`), crashAt);
  const masterAt = await bed.waitVips("fw2", 20_000, 10);
  if (masterAt) p.line(`fw2 MASTER after ${ms(masterAt - crashAt)}`, masterAt);
  const commit = await watchCommit(bed, crashAt, p, 120_000);
  // Let every stream that can come back do so, then count.
  const settle = Date.now() + 8000;
  while (Date.now() < settle) {
    await sleep(250);
    const errs = streams.errors().length;
    const alive = streams.lastRx().length - errs;
    if (alive === 0) break;
  }
  const summaries = await streams.stop();
  const resets = summaries.filter((s) => s.error === "reset").length;
  const otherErrors = summaries.filter((s) => s.error !== null && s.error !== "reset").length;
  const survived = summaries.filter((s) => s.error === null).length;
  const longestStall = Math.max(0, ...summaries.filter((s) => s.error === null).map((s) => s.max_stall));
  const told = await bed.waitHa("fw2", /-> primary$|primary-backup\.sh primary$/, crashAt, 0);
  const master = told && masterAt ? Math.min(told.t, masterAt) : masterAt ?? told?.t ?? null;
  const r: RaceResult = {
    opts: o,
    survived,
    resets,
    otherErrors,
    crashToMaster: master ? master - crashAt : null,
    masterToCommit: master && commit ? commit.t - master : null,
    commitMs: commit?.ms ?? null,
    longestStall,
    streams: summaries,
  };
  const line = `${survived}/${o.streams} streams survived, ${resets} reset, ${otherErrors} other errors; ` +
    `master -> commit complete ${r.masterToCommit === null ? "?" : ms(r.masterToCommit)}, ` +
    `longest stall of a surviving stream ${longestStall.toFixed(2)} s`;
  p.line(survived === o.streams ? green(line) : red(line));
  const lost = summaries.map((s, i) => s.error ? `#${i + 1} ${s.error}` : "").filter(Boolean);
  if (lost.length) p.line(`streams lost: ${lost.join(", ")}`);
  return r;
}

function parse(
  argv: string[],
): { impls: Impl[]; looses: Array<0 | 1>; base: Omit<RaceOptions, "impl" | "tcpLoose"> } {
  let impls: Impl[] = ["ctkit", "ref"], looses: Array<0 | 1> = [1, 0];
  const base = { guard: true, streams: 40, idleFlows: 150_000, advertInt: 0.5, keepDir: false };
  for (const a of argv) {
    const [k, v] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, ""];
    if (k === "--impl") impls = v === "both" ? ["ctkit", "ref"] : [v as Impl];
    else if (k === "--loose") looses = v === "both" ? [1, 0] : [Number(v) as 0 | 1];
    else if (k === "--no-guard") base.guard = false;
    else if (k === "--streams") base.streams = Number(v);
    else if (k === "--idle-flows") base.idleFlows = Number(v);
    else if (k === "--advert") base.advertInt = Number(v);
    else if (k === "--keep") base.keepDir = true;
    else if (k === "-h" || k === "--help") {
      console.log(USAGE);
      Deno.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (impls.some((i) => i !== "ctkit" && i !== "ref")) throw new Error("--impl takes ctkit, ref or both");
  if (looses.some((l) => l !== 0 && l !== 1)) throw new Error("--loose takes 0, 1 or both");
  return { impls, looses, base };
}

/** The whole comparison, with a table at the end; exit 0 when ctkit kept every stream. */
export async function runRace(argv: string[]): Promise<number> {
  let plan;
  try {
    plan = parse(argv);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  let bed: Testbed | null = null;
  destroyOnSignal(() => bed);
  const p = new Progress();
  const results: RaceResult[] = [];
  for (const tcpLoose of plan.looses) {
    for (const impl of plan.impls) {
      try {
        results.push(await raceOnce({ ...plan.base, impl, tcpLoose }, p, (b) => bed = b));
      } catch (e) {
        p.line(red(`error: ${e instanceof Error ? e.message : String(e)}`));
        return 1;
      }
    }
  }
  p.step("Summary");
  console.log(
    `| implementation | tcp_loose | streams survived | reset | crash -> master | master -> commit complete | commit | longest stall |`,
  );
  console.log("| --- | --: | --: | --: | --: | --: | --: | --: |");
  for (const r of results) {
    const o = r.opts;
    const name = o.impl === "ctkit"
      ? `ctkit ha${o.guard ? " (guard)" : " --no-guard"}`
      : "reference + primary-backup.sh";
    const f = (n: number | null) => (n === null ? "?" : ms(n));
    console.log(
      `| ${name} | ${o.tcpLoose} | ${r.survived}/${o.streams} | ${r.resets} | ${f(r.crashToMaster)} | ` +
        `${f(r.masterToCommit)} | ${f(r.commitMs)} | ${r.longestStall.toFixed(2)} s |`,
    );
  }
  console.log(
    `(${plan.base.idleFlows} idle synced flows, ${plan.base.streams} streams, SNAT with random ports)`,
  );
  const ctkitOk = results.filter((r) => r.opts.impl === "ctkit" && r.opts.guard)
    .every((r) => r.survived === r.opts.streams);
  return ctkitOk ? 0 : 1;
}
