// scripts/bench-failover: the failover scenario with 10 000 and 100 000 idle
// synced flows, several runs each, ctkit (ha on keepalived's notify FIFO)
// against the reference conntrackd driven by primary-backup.sh. Reports, per
// case, the time from the crash to fw2 being VRRP master, from master to the
// commit being complete, the commit alone, and the stream's longest stall.
import { DEFAULTS, runScenario, type ScenarioResult } from "./scenario.ts";
import { Progress } from "./progress.ts";
import type { Testbed } from "./testbed.ts";

interface Case {
  name: string;
  impl: "ctkit" | "ref";
  flows: number;
}

function parse(argv: string[]): { runs: number; sizes: number[]; impls: Array<"ctkit" | "ref"> } {
  let runs = 3, sizes = [10_000, 100_000], impls: Array<"ctkit" | "ref"> = ["ctkit", "ref"];
  for (const a of argv) {
    const [k, v] = a.split("=");
    if (k === "--runs") runs = Number(v);
    else if (k === "--flows") sizes = v.split(",").map(Number);
    else if (k === "--impl") impls = v === "both" ? ["ctkit", "ref"] : [v as "ctkit" | "ref"];
    else throw new Error(`unknown option ${a} (--runs=N --flows=N,N --impl=ctkit|ref|both --binary=PATH)`);
  }
  return { runs, sizes, impls };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function cell(xs: Array<number | null>, unit: "ms" | "s"): string {
  const v = xs.filter((x): x is number => x !== null);
  if (!v.length) return "?";
  const f = (x: number) => (unit === "s" ? (x / 1000).toFixed(2) : x.toFixed(x < 100 ? 1 : 0));
  return `${f(median(v))} (${f(Math.min(...v))}–${f(Math.max(...v))})`;
}

async function main(): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error("scripts/bench-failover needs root");
    return 1;
  }
  const plan = parse(Deno.args);
  let bed: Testbed | null = null;
  const onSignal = async () => {
    await bed?.destroy();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const cases: Case[] = [];
  for (const flows of plan.sizes) {
    for (const impl of plan.impls) {
      const name = impl === "ctkit" ? "ctkit, ha --fifo" : "reference, primary-backup.sh";
      cases.push({ name, impl, flows });
    }
  }
  const results = new Map<Case, ScenarioResult[]>();
  for (let run = 1; run <= plan.runs; run++) {
    // Cases alternate within a round, so a change in the machine's load hits them alike.
    for (const c of cases) {
      const r = await runScenario(
        {
          ...DEFAULTS,
          reference: c.impl === "ref" ? "both" : null,
          driver: c.impl === "ref" ? "primary-backup" : "fifo",
          idleFlows: c.flows,
        },
        new Progress(true),
        (b) => bed = b,
      );
      console.error(
        `run ${run} ${c.name} ${c.flows}: ${
          r.passed ? "survived" : "FAILED"
        }, master ${r.crashToMaster} ms, ` +
          `commit complete ${r.masterToCommit} ms after (commit ${r.commitMs?.toFixed(1)} ms), ` +
          `stall ${r.stream?.max_stall} s`,
      );
      results.set(c, [...(results.get(c) ?? []), r]);
    }
  }
  console.log(
    `${plan.runs} runs per case, median (min–max); load average at the end ` +
      Deno.loadavg().map((x) => x.toFixed(2)).join(" ") + "\n",
  );
  console.log(
    "| case | synced flows | survived | crash -> fw2 master (s) | master -> commit complete (ms) | commit alone (ms) | longest stall (s) |",
  );
  console.log("| --- | --: | --: | --: | --: | --: | --: |");
  for (const c of cases) {
    const rs = results.get(c) ?? [];
    console.log(
      `| ${c.name} | ${c.flows} | ${rs.filter((r) => r.passed).length}/${rs.length} | ` +
        `${cell(rs.map((r) => r.crashToMaster), "s")} | ${cell(rs.map((r) => r.masterToCommit), "ms")} | ` +
        `${cell(rs.map((r) => r.commitMs), "ms")} | ${
          cell(rs.map((r) => r.stream ? r.stream.max_stall * 1000 : null), "s")
        } |`,
    );
  }
  return 0;
}

Deno.exit(await main());
