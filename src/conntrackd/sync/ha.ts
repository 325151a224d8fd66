// ctkit's HA transitions inside the daemon (`ctkit conntrackd ha`, request
// codes 100–103): primary-backup.sh's sequence of standard requests run here,
// in one control connection, with the takeover guard lifted the moment the
// commit is complete. The reply starts with HA_REPLY_MARKER and gives each
// step's figures as `key value…` lines the client turns into its log.
import * as R from "../client/codes.ts";
import { HA_BACKUP, HA_FAULT, HA_PRIMARY_GUARDED, HA_REPLY_MARKER } from "../ha/codes.ts";
import { liftGuard } from "../ha/guard.ts";
import { type Logger, Reply } from "../modes/mode.ts";

export interface HaSteps {
  /** Runs one standard request as the daemon does for a client, writing its text into `reply`. */
  request(code: number, reply: Reply): Promise<void>;
  /** True while a commit (e.g. a client's `-c`) is running. */
  commitRunning(): boolean;
  /** Entries waiting in the external caches. */
  externalSizes(): { ct: number; exp: number };
  /**
   * While on, the kernel's events about the commit's own creations are not cached: the
   * primary transition rebuilds the internal cache from the kernel right after the commit.
   */
  ignoreCommitEvents(ignore: boolean): void;
  log: Logger;
}

/** One standard request; its text output (none for these requests) is dropped. */
const run = (steps: HaSteps, code: number) => steps.request(code, new Reply());
const ms = (from: number) => (performance.now() - from).toFixed(1);
const sleep = (n: number) => new Promise<void>((r) => setTimeout(r, n));

export async function haRequest(code: number, steps: HaSteps, reply: Reply): Promise<void> {
  const start = performance.now();
  reply.write(`${HA_REPLY_MARKER}\n`);
  if (code === HA_BACKUP || code === HA_FAULT) {
    await run(steps, R.RESET_TIMERS);
    if (code === HA_BACKUP) await run(steps, R.REQUEST_DUMP);
  } else {
    // A commit already under way (someone's `-c`) is waited for: ours must run to the end.
    while (steps.commitRunning()) await sleep(5);
    steps.ignoreCommitEvents(true);
    try {
      await primary(code === HA_PRIMARY_GUARDED, steps, reply);
    } finally {
      steps.ignoreCommitEvents(false);
    }
    steps.log.log("notice", `ha: primary transition done in ${ms(start)} ms`);
  }
  reply.write(`done ${ms(start)}\n`);
}

/** Commit (conntracks, then expectations), lift the guard, flush the caches, resync, bulk send. */
async function primary(guarded: boolean, steps: HaSteps, reply: Reply): Promise<void> {
  const { ct, exp } = steps.externalSizes();
  const commitStart = performance.now();
  await run(steps, R.ALL_COMMIT);
  // The wall-clock time too: the client logs when the state was in the kernel, not when it heard of it.
  reply.write(`commit ${ct} ${exp} ${ms(commitStart)} ${Date.now()}\n`);
  if (guarded) {
    const liftStart = performance.now();
    const errs = await liftGuard();
    for (const e of errs) steps.log.log("error", `ha: cannot lift the guard: ${e}`);
    reply.write(
      errs.length ? `guard-error ${errs.join("; ")}\n` : `guard-lifted ${ms(liftStart)} ${Date.now()}\n`,
    );
  }
  await run(steps, R.ALL_FLUSH_CACHE);
  const resyncStart = performance.now();
  await run(steps, R.ALL_RESYNC_MASTER);
  reply.write(`resync ${ms(resyncStart)}\n`);
  await run(steps, R.SEND_BULK);
}
