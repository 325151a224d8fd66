// What a conntrackd mode (stats, sync) plugs into the daemon core: handlers for
// kernel events and dumps, and the control-socket requests it answers. The
// shape follows the reference's internal handler / ct_mode split so the sync
// modes (FTFW, ALARM, NOTRACK) reuse everything around them.
import type { Conntrack, Expect } from "../../conntrack/model.ts";

/** Who caused a kernel event: someone else, or one of the daemon's own sockets. */
export const ORIGIN_NOT_ME = 0;
export const ORIGIN_COMMIT = 1;
export const ORIGIN_FLUSH = 2;
export const ORIGIN_INJECT = 3;

export type LogPriority = "info" | "notice" | "warning" | "error";

/** The daemon's log as the modes see it. */
export interface Logger {
  log(prio: LogPriority, msg: string): void;
  /** A flow line for the Stats-mode connection log (`<ctime>\t<line>`). */
  logFlow(line: string): void;
}

/** Output of one control-socket request, sent to the client when the handler is done. */
export class Reply {
  private readonly parts: string[] = [];
  /** `send` streams to the client: a long dump then goes out slice by slice instead of piling up. */
  constructor(private readonly send: ((text: string) => Promise<void>) | null = null) {}
  write(text: string): void {
    this.parts.push(text);
  }
  /** Sends what is written so far when streaming, and waits until the client has it. */
  async flush(): Promise<void> {
    if (!this.send) return;
    for (const part of this.parts.splice(0)) await this.send(part);
  }
  /** What is left to send. */
  take(): string[] {
    return this.parts.splice(0);
  }
}

export interface CtHandler {
  /** An entry of the start-up dump or of `-R`. */
  populate(ct: Conntrack): void;
  /**
   * populate() straight from the entry's netlink message, for handlers that can cache a new
   * plain flow without a Conntrack; false leaves it to populate().
   */
  populateMessage?(buf: Uint8Array, v: DataView, off: number, len: number): boolean;
  /** An entry of an overrun or polling resync dump. */
  resync(ct: Conntrack): void;
  /** After a resync dump: forget cached entries the kernel no longer has. */
  purge(): Promise<void>;
  onNew(ct: Conntrack, origin: number): void;
  /**
   * A NEW event straight from its netlink message (at `off`, `len` bytes with the nlmsghdr),
   * for handlers that can cache it without a Conntrack; false leaves it to onNew.
   */
  onNewMessage?(buf: Uint8Array, v: DataView, off: number, len: number, origin: number): boolean;
  onUpdate(ct: Conntrack, origin: number): void;
  /** True when the entry was known (its counters then count as traffic processed). */
  onDestroy(ct: Conntrack, origin: number): boolean;
}

export interface ExpHandler {
  populate(exp: Expect): void;
  resync(exp: Expect): void;
  purge(): Promise<void>;
  onNew(exp: Expect, origin: number): void;
  onUpdate(exp: Expect, origin: number): void;
  onDestroy(exp: Expect, origin: number): boolean;
  /** Whether the master of an expectation is in the internal cache (ct_filter_master). */
  hasMaster(master: Conntrack["orig"]): boolean;
}

export interface Mode {
  /** The internal cache is filled from kernel dumps at start-up and on `-R`. */
  readonly populate: boolean;
  /** Overruns schedule a resync with the kernel. */
  readonly resync: boolean;
  readonly ct: CtHandler;
  /** Present when expectations are handled (ExpectationSync). */
  readonly exp: ExpHandler | null;
  /**
   * Answers a control request the core did not fully handle; false when the
   * mode does not know the request (counted as "local unknown request").
   */
  local(code: number, reply: Reply): Promise<boolean> | boolean;
  /** Runs once the daemon is up (console or background): sync links, start-up resync. */
  start?(): void;
  /** Work to do before the daemon exits. */
  kill(): void;
}
