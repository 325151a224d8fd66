// The failover scenario: a TCP stream and an FTP session in passive mode go
// through fw1; fw1 crashes; fw2 takes over. With state sync the stream carries
// on and the FTP data connection is admitted as RELATED through fw2; without it
// (the control) both die. Used by scripts/demo, the test and the benchmark.
import { ADDR, type Driver, type Fw, type Impl, type Snat, Testbed } from "./testbed.ts";
import { FtpSession, startServers, Streams, type StreamSummary } from "./flows.ts";
import { bold, green, human, Progress, red, sleep } from "./progress.ts";
import { fillIdleFlows } from "./idle_flows.ts";
import { fmtKernel, ms, waitSynced, watchCommit } from "./observe.ts";

export interface ScenarioOptions {
  /** false: no conntrackd at all (the control run). */
  sync: boolean;
  /** Run the reference conntrackd 1.4.7 on this firewall (or both) instead of ctkit's. */
  reference: Fw | "both" | null;
  driver: Driver;
  guard: boolean;
  snat: Snat;
  tcpLoose: 0 | 1;
  advertInt: number;
  /** Idle synced flows created on fw1 before the crash (for the commit figures). */
  idleFlows: number;
  keepDir: boolean;
}

export const DEFAULTS: ScenarioOptions = {
  sync: true,
  reference: null,
  driver: "fifo",
  guard: true,
  snat: "vip",
  tcpLoose: 0,
  advertInt: 0.5,
  idleFlows: 0,
  keepDir: false,
};

export interface ScenarioResult {
  /** What this run had to show: survival with sync, death without. */
  expected: "survive" | "die";
  passed: boolean;
  verdict: string;
  /** Milliseconds; null when it did not happen. */
  crashToMaster: number | null;
  masterToCommit: number | null;
  /** The commit alone, as the daemon (ctkit) or the client (reference, around `-c`) measured it. */
  commitMs: number | null;
  crashToResume: number | null;
  stream: StreamSummary | null;
  rxAfterCrash: number;
  ftp: { ok: boolean; bytes: number; error?: string };
  relatedPackets: number;
  dir: string;
}

/** Sets the run up, crashes fw1, watches fw2 take over; `bedHook` sees the testbed for cleanup on signals. */
export async function runScenario(
  o: ScenarioOptions,
  progress: Progress,
  bedHook: (bed: Testbed | null) => void = () => {},
): Promise<ScenarioResult> {
  const impl = (
    fw: Fw,
  ): Impl | null => (!o.sync ? null : o.reference === fw || o.reference === "both" ? "ref" : "ctkit");
  const bed = await Testbed.create({
    daemons: { fw1: impl("fw1"), fw2: impl("fw2") },
    driver: o.driver,
    guard: o.guard,
    snat: o.snat,
    tcpLoose: o.tcpLoose,
    advertInt: o.advertInt,
    keepDir: o.keepDir,
  });
  bedHook(bed);
  try {
    return await scenario(bed, o, progress);
  } finally {
    await bed.destroy();
    bedHook(null);
  }
}

function implName(i: Impl | null): string {
  return i === "ref" ? "reference conntrackd 1.4.7" : i === "ctkit" ? "ctkit conntrackd" : "no conntrackd";
}

async function scenario(bed: Testbed, o: ScenarioOptions, p: Progress): Promise<ScenarioResult> {
  const d = bed.opts.daemons;
  p.step("Building the testbed");
  await bed.buildNetwork();
  p.line(
    `namespaces client, server, fw1, fw2 (+ lan and wan holding one bridge each), prefix ${bed.prefix}; ` +
      `sync link fw1 ${ADDR.fw1.sync} <-> fw2 ${ADDR.fw2.sync}`,
  );
  await bed.loadRuleset();
  p.line(
    `ruleset on fw1 and fw2: drop INVALID, accept RELATED and ESTABLISHED, NEW only tcp/21 and tcp/5001 ` +
      `from the LAN; nf_conntrack_tcp_loose=${o.tcpLoose}; FTP helper (-j CT --helper ftp)` +
      (o.snat === "none"
        ? ""
        : `; SNAT to the WAN VIP ${ADDR.wanVip}${o.snat === "vip-random" ? " (random ports)" : ""}`),
  );
  for (const fw of ["fw1", "fw2"] as const) {
    await bed.startConntrackd(fw);
    if (d[fw]) p.line(`${fw}: ${implName(d[fw])} started (FTFW over UDP on sync0, ExpectationSync On)`);
  }
  if (!o.sync) p.line(bold("control run: no conntrackd on either firewall"));
  await startServers(bed);
  p.line(`server ${ADDR.server}: echo service on tcp/5001, FTP on tcp/21`);

  const driverText = !o.sync
    ? "no notify scripts"
    : o.driver === "primary-backup"
    ? "notify_master/backup/fault run primary-backup.sh"
    : o.driver === "fifo"
    ? `vrrp_notify_fifo read by \`ctkit conntrackd ha --fifo\`${o.guard ? "" : " --no-guard"}`
    : `notify runs \`ctkit conntrackd ha\`${o.guard ? "" : " --no-guard"}`;
  p.step("Starting keepalived (VRRPv3, sync group G = LAN + WAN virtual IPs)");
  await bed.startKeepalived("fw1");
  const fw1Master = await bed.waitVips("fw1", 20_000);
  if (!fw1Master) throw new Error("fw1 did not become master");
  p.line(`fw1 is MASTER: holds ${ADDR.lanVip} (LAN) and ${ADDR.wanVip} (WAN); ${driverText}`);
  const fw2Start = Date.now();
  await bed.startKeepalived("fw2");
  if (d.fw2) {
    const b = await bed.waitHa("fw2", /backup done|primary-backup\.sh backup done/, fw2Start, 20_000);
    if (!b) throw new Error("fw2 never completed its backup transition");
    p.line(`fw2 is BACKUP: ${b.msg}`);
  } else {
    await sleep(o.advertInt * 3000);
    p.line("fw2 is BACKUP");
  }

  p.step("Traffic through fw1");
  const streams = await Streams.open(bed, { count: 1, userTimeout: 10 });
  p.line(`stream: client ${ADDR.client} -> ${ADDR.server}:5001 via the VIPs (echoed, 100 KiB/s each way)`);
  const ftp = await FtpSession.open(bed, 6);
  p.line(
    `FTP: control connection to ${ADDR.server}:21, logged in, PASV -> server announced port ${ftp.port}`,
  );
  if (o.idleFlows) {
    const t = Date.now();
    await fillIdleFlows(bed, o.idleFlows);
    p.line(
      `fw1: ${o.idleFlows} idle flows created with conntrack -R (${((Date.now() - t) / 1000).toFixed(1)} s)`,
    );
  }
  if (o.sync) {
    await waitSynced(bed, p, {
      flows: 2 + o.idleFlows,
      expects: 1,
      timeoutMs: o.idleFlows ? 180_000 : 15_000,
    });
  } else p.line(`fw1 kernel: ${fmtKernel(await bed.kernelCounts("fw1"))}; fw2 knows nothing of them`);
  await sleep(1500);
  const now = Date.now();
  p.line(`stream: ${human(streams.rxAt(now) - streams.rxAt(now - 1000))}/s echoed through fw1`);

  p.step("fw1 crashes");
  const crashAt = Date.now();
  const killed = await bed.crash("fw1");
  const victims = o.sync ? "keepalived, conntrackd, ha" : "keepalived";
  p.line(`fw1: all ${killed} processes (${victims}) killed with SIGKILL, lan0/wan0/sync0 down`, crashAt);

  // Watch the takeover: VIPs on fw2, the commit, the stream moving again.
  // Filled in by the watchers below as the takeover happens.
  const seen = {
    masterAt: null as number | null,
    commitAt: null as number | null,
    commitMs: null as number | null,
  };
  let resumedAt: number | null = null, errorSeen = 0;
  const deadline = crashAt + (o.sync ? 25_000 : 20_000);
  const vipWatch = bed.waitVips("fw2", 20_000, 10).then((t) => {
    seen.masterAt = t;
    if (t) p.line(`fw2 is MASTER: VIPs up ${((t - crashAt) / 1000).toFixed(2)} s after the crash`, t);
  });
  const commitWatch = d.fw2 ? watchCommit(bed, crashAt, p) : Promise.resolve(null);
  commitWatch.then((c) => {
    if (c) [seen.commitAt, seen.commitMs] = [c.t, c.ms];
  });
  let lastPrint = Date.now();
  while (Date.now() < deadline) {
    await sleep(100);
    const errs = streams.errors();
    for (const e of errs.slice(errorSeen)) {
      p.line(red(`stream: ${STREAM_ERRORS[e.error] ?? e.error}`), e.t * 1000);
    }
    errorSeen = errs.length;
    if (errs.length) break;
    if (seen.masterAt && resumedAt === null) {
      resumedAt = streams.resumedAfter(Math.max(seen.masterAt, crashAt + 50));
      if (resumedAt) {
        p.line(
          green(
            `stream: bytes flowing again through fw2, ${
              ((resumedAt - crashAt) / 1000).toFixed(2)
            } s after the crash`,
          ),
          resumedAt,
        );
      }
    }
    if (resumedAt && Date.now() - resumedAt > 2000 && (!d.fw2 || seen.commitAt)) break;
    if (Date.now() - lastPrint >= 1000) {
      lastPrint = Date.now();
      const rate = streams.rxAt(lastPrint) - streams.rxAt(lastPrint - 1000);
      p.line(`stream: ${human(rate)}/s${rate === 0 ? " (stalled)" : ""}`);
    }
  }
  await vipWatch;
  await commitWatch;
  // keepalived notifies after it has set the VIPs: when that is earlier than our polling saw them, it is the truth.
  const told = d.fw2 ? await bed.waitHa("fw2", /-> primary$|primary-backup\.sh primary$/, crashAt, 0) : null;
  if (told && (seen.masterAt === null || told.t < seen.masterAt)) seen.masterAt = told.t;
  if (d.fw2) {
    const k = await bed.kernelCounts("fw2");
    p.line(`fw2 kernel after the takeover: ${fmtKernel(k)}`);
  }

  p.step(`FTP data connection to ${ADDR.server}:${ftp.port}, opened through fw2`);
  const ftpOut = await ftp.go(20_000);
  const related = await bed.relatedAdmitted("fw2");
  const ftpOk = ftpOut.event === "done" && ftpOut.bytes === 1 << 20;
  if (ftpOk) {
    p.line(
      green(
        `FTP: data connection admitted as RELATED (rule counter ${related} packets), ${
          human(ftpOut.bytes)
        } received`,
      ),
    );
  } else {
    p.line(
      red(
        `FTP: data connection failed at ${ftpOut.stage}: ${ftpOut.error}` +
          (ftpOut.bytes ? ` after ${ftpOut.bytes} bytes` : ""),
      ),
    );
  }

  const end = Date.now();
  const summary = (await streams.stop())[0] ?? null;
  const rxAfterCrash = streams.rxAt(end) - streams.rxAt(crashAt);
  const alive = summary !== null && summary.error === null && resumedAt !== null;
  const { masterAt, commitAt, commitMs } = seen;
  const crashToMaster = masterAt ? masterAt - crashAt : null;
  const result: ScenarioResult = {
    expected: o.sync ? "survive" : "die",
    passed: false,
    verdict: "",
    crashToMaster,
    masterToCommit: masterAt && commitAt ? commitAt - masterAt : null,
    commitMs,
    crashToResume: resumedAt ? resumedAt - crashAt : null,
    stream: summary,
    rxAfterCrash,
    ftp: {
      ok: ftpOk,
      bytes: ftpOut.bytes ?? 0,
      error: ftpOk ? undefined : `${ftpOut.stage}: ${ftpOut.error}`,
    },
    relatedPackets: related,
    dir: bed.dir,
  };
  p.step("Result");
  p.line(
    `stream: ${summary?.error ? red(summary.error.toUpperCase()) : "no reset"}, ` +
      `${human(rxAfterCrash)} echoed after the crash, longest stall ${
        summary ? summary.max_stall.toFixed(2) : "?"
      } s`,
  );
  if (crashToMaster !== null) {
    p.line(
      `timeline: crash -> fw2 master ${ms(crashToMaster)}` +
        (result.masterToCommit !== null ? `, master -> commit complete ${ms(result.masterToCommit)}` : "") +
        (commitMs !== null ? ` (commit itself ${commitMs.toFixed(1)} ms)` : "") +
        (result.crashToResume !== null ? `, crash -> stream moving ${ms(result.crashToResume)}` : ""),
    );
  }
  if (o.sync) {
    result.passed = alive && ftpOk && related > 0;
    result.verdict = result.passed
      ? "PASS: the stream survived fw1's crash without a reset and the FTP data connection was admitted " +
        "as RELATED through fw2 (synced expectation)"
      : `FAIL: ${!alive ? "the stream did not survive" : ""}${!alive && !ftpOk ? "; " : ""}${
        !ftpOk ? "the FTP data connection failed" : ""
      }${alive && ftpOk && !related ? "the data connection was not admitted as RELATED" : ""}`;
  } else {
    const died = !alive;
    result.passed = died && !ftpOk;
    result.verdict = result.passed
      ? "as expected without state sync: fw2 did not know the flows, the stream died and the FTP data " +
        "connection was dropped"
      : "UNEXPECTED: without state sync " + (died ? "" : "the stream survived ") +
        (ftpOk ? "the FTP transfer worked" : "");
  }
  p.line(result.passed ? green(bold(result.verdict)) : red(bold(result.verdict)));
  return result;
}

const STREAM_ERRORS: Record<string, string> = {
  reset: "RESET by a peer",
  timeout: "TIMED OUT: nothing acknowledged for 10 s, the kernel aborted the connection",
  closed: "closed by the server",
};
