// One HA transition. ctkit's daemon does the whole of it for one request (see
// sync/ha.ts) and answers with HA_REPLY_MARKER; a daemon that answers anything
// else (a reference conntrackd) gets primary-backup.sh's standard requests, one
// after the other, with the guard lifted as soon as `-c` has returned.
import * as R from "../client/codes.ts";
import type { Role } from "./args.ts";
import { HA_BACKUP, HA_FAULT, HA_PRIMARY, HA_PRIMARY_GUARDED, HA_REPLY_MARKER } from "./codes.ts";
import { installGuard, liftGuard } from "./guard.ts";
import type { HaLog } from "./log.ts";
import { requestText } from "./session.ts";
import { daemonAnswers, requestCommit } from "../client/commit_status.ts";

export interface HaContext {
  socketPath: string;
  configPath: string;
  lockFile: string;
  guard: boolean;
  /** Starts the daemon in the background; `-C FILE -d` is appended. */
  daemonCommand: string[];
  log: HaLog;
}

const plural = (n: string, noun: string) => `${n} ${noun}${n === "1" ? "" : "s"}`;
/** A time the daemon reported (ms since the epoch), or now. */
const stamp = (ms: string | undefined) => (ms && Number(ms) > 0 ? new Date(Number(ms)) : new Date());
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const since = (t: number) => (performance.now() - t).toFixed(1);

/** Performs `role`; false when a step failed (each failure is logged). */
export async function transition(role: Role, cause: string, ctx: HaContext): Promise<boolean> {
  ctx.log.line(`${cause} -> ${role}`);
  if (role === "primary") return await primary(ctx);
  if (ctx.guard) await guardStep(ctx, "install");
  return role === "backup" ? await backup(ctx) : await fault(ctx);
}

async function guardStep(ctx: HaContext, what: "install" | "lift"): Promise<boolean> {
  const t = performance.now();
  const errs = what === "install" ? await installGuard() : await liftGuard();
  for (const e of errs) ctx.log.line(`error: cannot ${what} the guard: ${e}`);
  if (!errs.length) ctx.log.line(`guard ${what === "install" ? "installed" : "lifted"} (${since(t)} ms)`);
  return errs.length === 0;
}

function isCtkitReply(reply: string | null): reply is string {
  return reply !== null && reply.startsWith(HA_REPLY_MARKER);
}

/** The `key value…` lines of ctkit's HA reply. */
function replyFields(reply: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of reply.split("\n").slice(1)) {
    const [key, ...values] = line.trim().split(" ");
    if (key) fields.set(key, values);
  }
  return fields;
}

async function primary(ctx: HaContext): Promise<boolean> {
  const start = performance.now();
  const reply = await requestText(ctx.socketPath, ctx.guard ? HA_PRIMARY_GUARDED : HA_PRIMARY);
  if (reply === null) {
    ctx.log.line("error: conntrackd is not running: no state to commit");
    // A master that kept the guard would drop every connection it did not see start.
    if (ctx.guard) await guardStep(ctx, "lift");
    return false;
  }
  // No reply at all: a reference conntrackd ignoring the request, or ctkit's daemon dying in the middle of it.
  if (reply === "" && !(await daemonAnswers(ctx.socketPath))) {
    ctx.log.line(
      "error: conntrackd went away during the primary transition: its commit is not known to have completed",
    );
    if (ctx.guard) await guardStep(ctx, "lift");
    return false;
  }
  if (isCtkitReply(reply)) {
    const f = replyFields(reply);
    const [ct, exp, ms, at] = f.get("commit") ?? ["?", "?", "?"];
    ctx.log.line(
      `commit complete: ${plural(ct, "conntrack")}, ${plural(exp, "expectation")} in ${ms} ms`,
      stamp(at),
    );
    const lifted = f.get("guard-lifted");
    if (lifted) ctx.log.line(`guard lifted (${lifted[0]} ms)`, stamp(lifted[1]));
    if (f.has("guard-error")) {
      ctx.log.line(`error: cannot lift the guard: ${f.get("guard-error")!.join(" ")}`);
    }
    ctx.log.line(
      `primary done in ${since(start)} ms: caches flushed, resync ${f.get("resync")?.[0] ?? "?"} ms, ` +
        `bulk update sent (one request to ctkit's daemon)`,
    );
    return !f.has("guard-error");
  }
  // A reference conntrackd: it ignored the request; run the standard ones.
  ctx.log.line("the daemon is not ctkit's: running -c, -f, -R, -B");
  const commitStart = performance.now();
  // Its -c answers nothing either way: requestCommit tells a completed commit from a daemon that died in it.
  const failure = await requestCommit(ctx.socketPath, R.ALL_COMMIT);
  let ok = failure === null;
  ctx.log.line(
    ok
      ? `commit complete in ${since(commitStart)} ms`
      : `error: -c failed: the commit did not complete: ${failure}`,
  );
  if (ctx.guard) ok = (await guardStep(ctx, "lift")) && ok;
  for (const [code, flag] of [[R.ALL_FLUSH_CACHE, "-f"], [R.ALL_RESYNC_MASTER, "-R"], [R.SEND_BULK, "-B"]]) {
    if ((await requestText(ctx.socketPath, code as number)) === null) {
      ctx.log.line(`error: ${flag} failed`);
      ok = false;
    }
  }
  ctx.log.line(`primary done in ${since(start)} ms: caches flushed, resynced, bulk update sent`);
  return ok;
}

async function backup(ctx: HaContext): Promise<boolean> {
  const start = performance.now();
  let reply = await requestText(ctx.socketPath, HA_BACKUP);
  if (reply === null) {
    if (!(await startDaemon(ctx))) return false;
    reply = await requestText(ctx.socketPath, HA_BACKUP);
    if (reply === null) {
      ctx.log.line("error: the daemon started but does not answer");
      return false;
    }
  }
  if (!isCtkitReply(reply)) {
    let ok = true;
    for (const [code, flag] of [[R.RESET_TIMERS, "-t"], [R.REQUEST_DUMP, "-n"]]) {
      if ((await requestText(ctx.socketPath, code as number)) === null) {
        ctx.log.line(`error: ${flag} failed`);
        ok = false;
      }
    }
    ctx.log.line(
      `backup done in ${since(start)} ms: kernel table purge scheduled (-t), resync requested (-n)`,
    );
    return ok;
  }
  ctx.log.line(`backup done in ${since(start)} ms: kernel table purge scheduled, resync requested`);
  return true;
}

async function fault(ctx: HaContext): Promise<boolean> {
  const start = performance.now();
  const reply = await requestText(ctx.socketPath, HA_FAULT);
  if (reply === null) {
    ctx.log.line("error: conntrackd is not running");
    return false;
  }
  if (!isCtkitReply(reply) && (await requestText(ctx.socketPath, R.RESET_TIMERS)) === null) {
    ctx.log.line("error: -t failed");
    return false;
  }
  ctx.log.line(`fault done in ${since(start)} ms: kernel table purge scheduled`);
  return true;
}

/** primary-backup.sh's `backup` branch: a daemon that is not running is started (a stale lock removed first). */
async function startDaemon(ctx: HaContext): Promise<boolean> {
  try {
    Deno.statSync(ctx.lockFile);
    ctx.log.line(`warning: conntrackd was not cleanly stopped: removing its lock file ${ctx.lockFile}`);
    Deno.removeSync(ctx.lockFile);
  } catch { /* no lock file */ }
  const argv = [...ctx.daemonCommand, "-C", ctx.configPath, "-d"];
  ctx.log.line(`conntrackd is not running: starting ${argv.join(" ")}`);
  let ok = false;
  try {
    // No pipes: the daemon keeps copies of the descriptors it was started with, and a
    // pipe it holds never reaches end-of-file. Its own log says why it failed.
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    })
      .spawn();
    const status = await child.status;
    ok = status.success;
    if (!ok) {
      ctx.log.line(`error: cannot start conntrackd: it exited with status ${status.code} (see its log)`);
    }
  } catch (e) {
    ctx.log.line(`error: cannot start conntrackd: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!ok) return false;
  // A reference daemon's -d returns before its socket exists.
  for (let i = 0; i < 100; i++) {
    if ((await Deno.lstat(ctx.socketPath).catch(() => null))?.isSocket) return true;
    await sleep(50);
  }
  ctx.log.line("error: conntrackd started but its control socket did not appear");
  return false;
}
