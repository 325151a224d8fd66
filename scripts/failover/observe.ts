// What the scenarios watch on the firewalls: the caches filling up before the
// crash, and fw2's commit after it (from ctkit's ha log, or from the timing
// shim around primary-backup.sh's conntrackd calls).
import { bold, type Progress, red, sleep } from "./progress.ts";
import type { Testbed } from "./testbed.ts";

export const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`);

export function fmtCache(flows: number, expects: number): string {
  return `${flows} flow${flows === 1 ? "" : "s"}, ${expects} expectation${expects === 1 ? "" : "s"}`;
}

export function fmtKernel(k: { flows: number; expects: number }): string {
  return fmtCache(k.flows, k.expects);
}

/** Waits until fw2's external cache holds at least `flows` flows and `expects` expectations from fw1. */
export async function waitSynced(
  bed: Testbed,
  p: Progress,
  want: { flows: number; expects: number; timeoutMs: number },
): Promise<void> {
  const end = Date.now() + want.timeoutMs;
  let lastPrint = Date.now();
  for (;;) {
    const [k1, c1, c2] = await Promise.all([
      bed.kernelCounts("fw1"),
      bed.cacheCounts("fw1"),
      bed.cacheCounts("fw2"),
    ]);
    const ok = c2.external >= want.flows && c2.expExt >= want.expects;
    const line = `fw1 kernel: ${fmtKernel(k1)} | fw1 internal cache: ${fmtCache(c1.internal, c1.expInt)} | ` +
      `fw2 external cache: ${fmtCache(c2.external, c2.expExt)}`;
    if (ok || Date.now() > end) {
      p.line(line);
      if (!ok) throw new Error("fw2 did not receive fw1's state");
      return;
    }
    if (Date.now() - lastPrint > 3000) {
      lastPrint = Date.now();
      p.line(line);
    }
    await sleep(200);
  }
}

export interface CommitSeen {
  /** When the state was in fw2's kernel (ms since the epoch). */
  t: number;
  /** The commit alone, in ms, as the daemon measured it. */
  ms: number | null;
}

/** The commit durations the daemon logged (`commit has taken S.US seconds`) since its last `committing` line. */
async function loggedCommitMs(bed: Testbed): Promise<number | null> {
  const log = await Deno.readTextFile(bed.file("fw2.conntrackd.log")).catch(() => "");
  const from = log.lastIndexOf("committing all external caches");
  if (from < 0) return null;
  let total = 0;
  for (const m of log.slice(from).matchAll(/commit has taken (\d+)\.(\d+) seconds/g)) {
    total += Number(m[1]) * 1000 + Number(m[2]) / 1000;
  }
  return total;
}

/** Waits for fw2's commit after `since` and reports it. */
export async function watchCommit(
  bed: Testbed,
  since: number,
  p: Progress,
  timeoutMs = 60_000,
): Promise<CommitSeen | null> {
  const hit = await bed.waitHa("fw2", /commit complete|conntrackd -C \S+ -c -> /, since, timeoutMs);
  if (!hit) {
    p.line(red("fw2: no commit reported"));
    return null;
  }
  const m = /in ([\d.]+) ms/.exec(hit.msg);
  const commitMs = m ? Number(m[1]) : await loggedCommitMs(bed);
  const text = m
    ? hit.msg
    : `primary-backup.sh: conntrackd -c returned, the commit took ${commitMs?.toFixed(1)} ms`;
  p.line(bold(`fw2: ${text}`), hit.t);
  return { t: hit.t, ms: commitMs };
}
