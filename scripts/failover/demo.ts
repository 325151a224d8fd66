// scripts/demo: a live TCP stream and an FTP session survive a firewall crash.
// See scenario.ts for the story and testbed.ts for the network.
import { DEFAULTS, runScenario, type ScenarioOptions } from "./scenario.ts";
import { runRace } from "./race.ts";
import { Progress } from "./progress.ts";
import { destroyOnSignal, Testbed } from "./testbed.ts";

const USAGE = `Usage: scripts/demo [options]
A client keeps a TCP stream and an FTP session (passive mode) through a pair of
firewalls run by keepalived, with ctkit conntrackd syncing their state. fw1
crashes; fw2 takes over and both connections carry on. Needs root; everything
happens in network namespaces that are removed at the end.

  --no-sync             the control: no conntrackd, the connections must die
  --reference[=fw1|fw2|both]  run the reference conntrackd 1.4.7 on fw2 (default), fw1 or both
  --driver=D            how keepalived drives conntrackd: fifo (default; ctkit ha --fifo),
                        notify (ctkit ha as notify script), primary-backup (conntrack-tools' script)
  --no-guard            ha without its takeover guard
  --no-snat | --snat-random   no source NAT / source NAT with random ports (default: SNAT to the WAN VIP)
  --loose=0|1           nf_conntrack_tcp_loose on the firewalls (default 0)
  --advert=SECONDS      VRRP advertisement interval (default 0.5)
  --idle-flows=N        N idle synced flows on fw1 before the crash
  --keep                keep the directory with the configs and logs
  --race                the takeover race under load instead (see --race --help)
  --binary PATH         the ctkit executable to run (sets CTKIT_BIN; default scripts/ctkit)
`;

function parse(argv: string[]): ScenarioOptions | "race" {
  const o: ScenarioOptions = { ...DEFAULTS };
  for (const a of argv) {
    const [k, v] = a.includes("=")
      ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]
      : [a, undefined];
    switch (k) {
      case "--race":
        return "race";
      case "--no-sync":
        o.sync = false;
        break;
      case "--reference":
        if (v !== undefined && v !== "fw1" && v !== "fw2" && v !== "both") {
          throw new Error("--reference takes fw1, fw2 or both");
        }
        o.reference = (v ?? "fw2") as ScenarioOptions["reference"];
        break;
      case "--driver":
        if (v !== "fifo" && v !== "notify" && v !== "primary-backup") throw new Error(`unknown driver ${v}`);
        o.driver = v;
        break;
      case "--no-guard":
        o.guard = false;
        break;
      case "--no-snat":
        o.snat = "none";
        break;
      case "--snat-random":
        o.snat = "vip-random";
        break;
      case "--loose":
        if (v !== "0" && v !== "1") throw new Error("--loose takes 0 or 1");
        o.tcpLoose = Number(v) as 0 | 1;
        break;
      case "--advert":
        o.advertInt = Number(v);
        if (!(o.advertInt > 0)) throw new Error("--advert takes a number of seconds");
        break;
      case "--idle-flows":
        o.idleFlows = Number(v);
        if (!Number.isInteger(o.idleFlows) || o.idleFlows < 0) throw new Error("--idle-flows takes a count");
        break;
      case "--keep":
        o.keepDir = true;
        break;
      case "-h":
      case "--help":
        console.log(USAGE);
        Deno.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  return o;
}

async function main(): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error("scripts/demo needs root (it creates network namespaces)");
    return 1;
  }
  await Testbed.removeStale();
  if (Deno.args.includes("--race")) return await runRace(Deno.args.filter((a) => a !== "--race"));
  let opts: ScenarioOptions;
  try {
    opts = parse(Deno.args) as ScenarioOptions;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  let bed: Testbed | null = null;
  destroyOnSignal(() => bed);
  const progress = new Progress();
  try {
    const r = await runScenario(opts, progress, (b) => bed = b);
    if (opts.keepDir) progress.line(`configs and logs kept in ${r.dir}`);
    return r.passed ? 0 : 1;
  } catch (e) {
    progress.line(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

Deno.exit(await main());
