// Log lines about rejected records, at most one per reason every interval: an
// attacker on the link must not be able to flood the log. A line says how many
// more of the same reason came since the previous line of that reason.
import type { LogPriority } from "../daemon/log.ts";

export type LogSink = (prio: LogPriority, message: string) => void;

export const LOG_INTERVAL_MS = 10_000;

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly sink: LogSink,
    private readonly intervalMs = LOG_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Logs `message()` unless a line of `reason` went out less than the interval ago. */
  report(reason: string, prio: LogPriority, message: () => string): void {
    const t = this.now();
    const e = this.last.get(reason);
    if (e !== undefined && t - e.at < this.intervalMs) {
      e.suppressed++;
      return;
    }
    const more = e !== undefined && e.suppressed > 0
      ? ` (and ${e.suppressed} more since the last report ${Math.round((t - e.at) / 1000)}s ago)`
      : "";
    this.sink(prio, message() + more);
    this.last.set(reason, { at: t, suppressed: 0 });
  }
}
