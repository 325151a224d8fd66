// ctkit's HA transitions inside the daemon (`ctkit conntrackd ha`, request
// codes 100–103): primary-backup.sh's sequence of standard requests run here,
// in one control connection, with the takeover guard lifted the moment the
// commit is complete. The reply starts with HA_REPLY_MARKER and gives each
// step's figures as `key value…` lines the client turns into its log.
import * as R from "../client/codes.ts";
import { HA_BACKUP, HA_FAULT, HA_PRIMARY_GUARDED, HA_REPLY_MARKER } from "../ha/codes.ts";
import { liftGuard } from "../ha/guard.ts";
import { type Logger, Reply } from "../modes/mode.ts";
import { libc } from "../../../ffi/libc.ts";
import { SOL_NETLINK } from "../../netlink/constants.ts";
import { haRecord } from "../metrics/records.ts";

export interface HaSteps {
  /** Runs one standard request as the daemon does for a client, writing its text into `reply`. */
  request(code: number, reply: Reply): Promise<void>;
  /** True while a commit (e.g. a client's `-c`) is running. */
  commitRunning(): boolean;
  /** Entries waiting in the external caches. */
  externalSizes(): { ct: number; exp: number };
  /**
   * While on, the kernel's events about new entries (the commit's own creations above all)
   * are neither received nor cached: the primary transition rebuilds the internal cache
   * from the kernel right after the commit.
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
  haRecord.begin(code === HA_BACKUP ? "backup" : code === HA_FAULT ? "fault" : "primary");
  if (code === HA_BACKUP || code === HA_FAULT) {
    await run(steps, R.RESET_TIMERS);
    if (code === HA_BACKUP) await run(steps, R.REQUEST_DUMP);
  } else {
    // A commit already under way (someone's `-c`) is waited for: ours must run to the end.
    while (steps.commitRunning()) await sleep(5);
    await primary(code === HA_PRIMARY_GUARDED, steps, reply);
    steps.log.log("notice", `ha: primary transition done in ${ms(start)} ms`);
  }
  haRecord.end();
  reply.write(`done ${ms(start)}\n`);
}

/** Commit (conntracks, then expectations), lift the guard, flush the caches, resync, bulk send. */
async function primary(guarded: boolean, steps: HaSteps, reply: Reply): Promise<void> {
  const { ct, exp } = steps.externalSizes();
  const commitStart = performance.now();
  // Back on before the resync's dump starts, so nothing created meanwhile is missed.
  steps.ignoreCommitEvents(true);
  try {
    await run(steps, R.ALL_COMMIT);
  } finally {
    steps.ignoreCommitEvents(false);
  }
  // The wall-clock time too: the client logs when the state was in the kernel, not when it heard of it.
  reply.write(`commit ${ct} ${exp} ${ms(commitStart)} ${Date.now()}\n`);
  haRecord.step("commit", performance.now() - commitStart);
  if (guarded) {
    const liftStart = performance.now();
    const errs = await liftGuard();
    haRecord.step("guard_lift", performance.now() - liftStart);
    for (const e of errs) steps.log.log("error", `ha: cannot lift the guard: ${e}`);
    reply.write(
      errs.length ? `guard-error ${errs.join("; ")}\n` : `guard-lifted ${ms(liftStart)} ${Date.now()}\n`,
    );
  }
  const flushStart = performance.now();
  await run(steps, R.ALL_FLUSH_CACHE);
  haRecord.step("flush", performance.now() - flushStart);
  const resyncStart = performance.now();
  await run(steps, R.ALL_RESYNC_MASTER);
  haRecord.step("resync", performance.now() - resyncStart);
  reply.write(`resync ${ms(resyncStart)}\n`);
  const bulkStart = performance.now();
  await run(steps, R.SEND_BULK);
  haRecord.step("bulk_send", performance.now() - bulkStart);
}

const NETLINK_ADD_MEMBERSHIP = 1;
const NETLINK_DROP_MEMBERSHIP = 2;
const NFNLGRP_CONNTRACK_NEW = 1;
const NFNLGRP_CONNTRACK_EXP_NEW = 4;

/**
 * Leaves or rejoins the event socket's NEW groups. With no listener the kernel
 * does not even build the events of the commit's 100 000 creations; what is
 * created meanwhile by traffic is found by the resync that follows the commit.
 */
export function setNewEvents(fd: number | null, on: boolean, expectations: boolean): void {
  if (fd === null) return;
  const opt = on ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP;
  const groups = expectations ? [NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_EXP_NEW] : [NFNLGRP_CONNTRACK_NEW];
  for (const group of groups) {
    const v = new Uint8Array(new Int32Array([group]).buffer);
    libc().setsockopt(fd, SOL_NETLINK, opt, v, 4);
  }
}
