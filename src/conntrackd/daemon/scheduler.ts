// Real-time scheduling for the daemon (conntrack-tools src/run.c set_scheduler).
//
// The reference is one thread, and sched_setscheduler(0, ...) sets it. A Deno
// process has many (V8 platform workers, tokio workers and the blocking pool
// that runs nonblocking FFI calls), and on Linux the call only changes the
// thread it names. So the policy is set on every thread listed in
// /proc/self/task. Threads started later inherit the policy of the thread that
// creates them, so they are covered too once every existing one has it.
import type { GeneralConfig } from "../config/types.ts";
import { errno, strerror } from "../../../ffi/libc.ts";
import { ESRCH, libcSched, SCHED_FIFO, SCHED_RR } from "../../../ffi/libc_process.ts";

/**
 * Applies the `Scheduler` block; with none (or one without `Type`), SCHED_RR
 * at the highest priority, as the reference does. Returns the warning the
 * reference logs when this fails, or null. Failing only warns: the daemon
 * goes on with the default scheduler.
 */
export function applyScheduler(s: GeneralConfig["scheduler"]): string | null {
  const sched = libcSched();
  const policy = s?.type === "FIFO" ? SCHED_FIFO : s?.type === "RR" ? SCHED_RR : null;
  const param = new Int32Array(1);
  param[0] = policy === null ? sched.sched_get_priority_max(SCHED_RR) : s!.priority;
  const chosen = policy ?? SCHED_RR;
  const buf = new Uint8Array(param.buffer);

  // The calling thread first: its failure is the reference's failure.
  if (sched.sched_setscheduler(0, chosen, buf) < 0) return warning(errno());
  for (const tid of threadIds()) {
    if (sched.sched_setscheduler(tid, chosen, buf) < 0) {
      const e = errno();
      // A thread that ended since the listing is no failure.
      if (e !== ESRCH) return warning(e);
    }
  }
  return null;
}

function warning(code: number): string {
  return `scheduler configuration failed: ${strerror(code)}. Likely a bug in conntrackd, please report it. ` +
    "Continuing with system default scheduler.";
}

function threadIds(): number[] {
  const ids: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/task")) ids.push(Number(entry.name));
  return ids;
}
