// The daemon's log (conntrack-tools src/log.c): a line per message in the log
// file and/or syslog, and on the console while not daemonised. Also the
// connection log of Stats mode and the entry dumps that go with sync errors.
//
// Console rule of the reference (dlog): messages go to stdout (info, notice)
// or stderr (warning, error) while the log is not open, or when the daemon
// does not run with -d. With -d an open log never writes to the console, even
// before the fork, so init errors of `conntrackd -d` reach only the log file
// and syslog (checked against conntrackd 1.4.7). Hence `console: !daemonMode`.
import type { SyslogFacility } from "../config/types.ts";
import { strerror } from "../../../ffi/libc.ts";
import { cString, libcSyslog, libcTime, LOG_PID, STRUCT_TM_SIZE } from "../../../ffi/libc_process.ts";

export type LogPriority = "info" | "notice" | "warning" | "error";

const SYSLOG_PRIORITY: Record<LogPriority, number> = { error: 3, warning: 4, notice: 5, info: 6 };
const LINE_LABEL: Record<LogPriority, string> = {
  info: "info",
  notice: "notice",
  warning: "warning",
  error: "ERROR",
};
const FACILITY_CODE: Record<SyslogFacility, number> = {
  daemon: 3 << 3,
  local0: 16 << 3,
  local1: 17 << 3,
  local2: 18 << 3,
  local3: 19 << 3,
  local4: 20 << 3,
  local5: 21 << 3,
  local6: 22 << 3,
  local7: 23 << 3,
};

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");

// localtime_r() in and out buffers, reused: the log is written from the JS thread only.
const timeIn = new BigInt64Array(1);
const timeOut = new Int32Array(STRUCT_TM_SIZE / 4);
const timeInBytes = new Uint8Array(timeIn.buffer);
const timeOutBytes = new Uint8Array(timeOut.buffer);

/**
 * C ctime() of `date` without its newline: "Sat Nov  1 15:37:10 2026". The
 * local time comes from libc's localtime_r(), not from Date: V8 carries its
 * own copy of the tz database and ignores POSIX TZ rules such as
 * TZ=ABC-3:30 (measured: Date gave UTC there), so only libc is sure to agree
 * with the reference's timestamps.
 */
export function ctime(date: Date = new Date()): string {
  timeIn[0] = BigInt(Math.floor(date.getTime() / 1000));
  let sec, min, hour, mday, mon, year, wday;
  if (libcTime().localtime_r(timeInBytes, timeOutBytes) !== null) {
    [sec, min, hour, mday, mon, year, wday] = timeOut;
    year += 1900;
  } else {
    // Out of struct tm's range: Date's idea of local time is the best left.
    [sec, min, hour, mday, mon, year, wday] = [
      date.getSeconds(),
      date.getMinutes(),
      date.getHours(),
      date.getDate(),
      date.getMonth(),
      date.getFullYear(),
      date.getDay(),
    ];
  }
  return `${DAYS[wday]} ${MONTHS[mon]} ${String(mday).padStart(2, " ")} ${two(hour)}:${two(min)}:${
    two(sec)
  } ${year}`;
}

/** One dlog line as the file and the console get it, newline included. */
export function formatLogLine(
  prio: LogPriority,
  msg: string,
  date: Date = new Date(),
  pid = Deno.pid,
): string {
  return `[${ctime(date)}] (pid=${pid}) [${LINE_LABEL[prio]}] ${msg}\n`;
}

/** The identity glibc puts in every syslog record: the reference passes PACKAGE. */
const SYSLOG_IDENT = "conntrack-tools";
/** Entry lines are built in a 1024-byte buffer by the reference; longer ones are cut. */
const ENTRY_BUFFER = 1024;
/** Records waiting for syslog beyond this are dropped rather than piling up behind a stalled log daemon. */
const SYSLOG_QUEUE_LIMIT = 4096;

const enc = new TextEncoder();
const FORMAT_S = cString("%s");

export interface DaemonLogOptions {
  /** General LogFile, or null. */
  logFile: string | null;
  /** General Syslog facility, or null. */
  syslog: SyslogFacility | null;
  /** Stats LogFile (the connection log), or null. */
  statsLogFile?: string | null;
  /** Stats Syslog, or null. Only whether it is set matters: see `open`. */
  statsSyslog?: SyslogFacility | null;
  /** Copy every line to stdout/stderr: true unless running with -d. */
  console: boolean;
}

export type DaemonLogOpen = { ok: true; log: DaemonLog } | { ok: false; message: string };

/**
 * glibc's syslog() run one record at a time off the JS thread, so order is
 * kept and a stalled /dev/log never stops the event loop.
 */
class SyslogQueue {
  private pending: Array<[number, Uint8Array<ArrayBuffer>]> = [];
  private running: Promise<void> | null = null;

  push(priority: number, message: string): void {
    if (this.pending.length >= SYSLOG_QUEUE_LIMIT) return;
    this.pending.push([priority, cString(message)]);
    this.running ??= this.run();
  }

  private async run(): Promise<void> {
    for (let next = this.pending.shift(); next; next = this.pending.shift()) {
      await libcSyslog().syslog_nb(next[0], FORMAT_S, next[1]);
    }
    this.running = null;
  }

  /** Resolves once every queued record has been handed to syslog(). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }
}

// openlog() keeps the ident pointer, so its buffer lives as long as the module.
const identBuffer = cString(SYSLOG_IDENT);

export class DaemonLog {
  private syslogQueue: SyslogQueue | null = null;
  private initialised = false;

  private constructor(
    private file: Deno.FsFile | null,
    private statsFile: Deno.FsFile | null,
    private readonly generalSyslog: boolean,
    private readonly statsSyslog: boolean,
    private console: boolean,
  ) {}

  /** The log before init_log: every message goes to the console only. */
  static consoleOnly(): DaemonLog {
    return new DaemonLog(null, null, false, false, true);
  }

  /**
   * init_log(): opens the log files for appending (created 0666 less the
   * umask, i.e. 0600 under the daemon's umask 0177) and syslog. On failure the
   * message is the reference's text, to be written to stderr as it is (no
   * dlog line), after which the reference exits with status 1.
   *
   * Syslog quirk kept from the reference: openlog() gets the General facility
   * even when only Stats asks for syslog; glibc then ignores the invalid -1 and
   * keeps LOG_USER, so a Stats-only syslog writes to the user facility.
   */
  static open(opts: DaemonLogOptions): DaemonLogOpen {
    const general = openAppend(opts.logFile);
    if ("message" in general) return general;
    const stats = openAppend(opts.statsLogFile ?? null);
    if ("message" in stats) {
      general.file?.close();
      return stats;
    }
    const statsSyslog = (opts.statsSyslog ?? null) !== null;
    const log = new DaemonLog(general.file, stats.file, opts.syslog !== null, statsSyslog, opts.console);
    if (opts.syslog !== null || statsSyslog) {
      libcSyslog().openlog(identBuffer, LOG_PID, opts.syslog !== null ? FACILITY_CODE[opts.syslog] : -1);
      log.syslogQueue = new SyslogQueue();
    }
    log.initialised = true;
    return { ok: true, log };
  }

  /** Turns the console copy on or off (off once the daemon has detached from its terminal). */
  setConsole(on: boolean): void {
    this.console = on;
  }

  /** dlog(): one message at `prio`. */
  log(prio: LogPriority, msg: string): void {
    const toConsole = this.console || !this.initialised;
    if (!toConsole && !this.file && !this.generalSyslog) return;
    // One line for console and file alike (the reference formats each, within the same second).
    const line = enc.encode(formatLogLine(prio, msg));
    if (toConsole) writeQuietly(prio === "info" || prio === "notice" ? Deno.stdout : Deno.stderr, line);
    if (!this.initialised) return;
    if (this.file) writeQuietly(this.file, line);
    if (this.generalSyslog) this.syslogQueue?.push(SYSLOG_PRIORITY[prio], msg);
  }

  /**
   * dlog_ct(STATE(stats_log), ...): a destroyed flow in the Stats connection
   * log, `<ctime>\t<line>`. `line` is the default conntrack text without a newline.
   */
  logFlow(line: string): void {
    this.entry(this.statsFile, line);
  }

  /**
   * dlog_ct/dlog_exp(STATE(log), ...): an entry the sync code failed to
   * apply, in the general log file; syslog gets it as an error.
   */
  logEntry(line: string): void {
    this.entry(this.file, line);
  }

  /**
   * close_log(): closes the files at once; the promise resolves after syslog
   * got every queued record and closelog() ran. Later messages go to the
   * console only, as in the reference.
   */
  close(): Promise<void> {
    this.initialised = false;
    this.file?.close();
    this.statsFile?.close();
    this.file = this.statsFile = null;
    const queue = this.syslogQueue;
    this.syslogQueue = null;
    if (!queue) return Promise.resolve();
    return queue.drain().then(() => libcSyslog().closelog());
  }

  private entry(target: Deno.FsFile | null, line: string): void {
    if (!this.initialised) return;
    // The reference writes ctime, a tab and the entry into one 1024-byte
    // buffer; the newline goes in only if there is room left.
    const prefix = enc.encode(`${ctime()}\t`);
    const room = ENTRY_BUFFER - 1 - prefix.length;
    let body = enc.encode(line);
    if (body.length > room) body = body.subarray(0, room);
    const withNewline = target !== null && prefix.length + body.length < ENTRY_BUFFER - 1;
    if (target) {
      const out = new Uint8Array(prefix.length + body.length + (withNewline ? 1 : 0));
      out.set(prefix);
      out.set(body, prefix.length);
      if (withNewline) out[out.length - 1] = 0x0a;
      writeQuietly(target, out);
    }
    // Syslog gets the entry without the time but with the newline, if one was added.
    const text = new TextDecoder().decode(body) + (withNewline ? "\n" : "");
    // The reference picks the priority by comparing FILE pointers: with no
    // general log file, a missing stats log file compares equal to it too.
    if (target === this.file) {
      if (this.generalSyslog) this.syslogQueue?.push(SYSLOG_PRIORITY.error, text);
    } else if (this.statsSyslog) {
      this.syslogQueue?.push(SYSLOG_PRIORITY.info, text);
    }
  }
}

/** fopen(path, "a+"): read and append, created 0666 less the umask. */
function openAppend(path: string | null): { file: Deno.FsFile | null } | { ok: false; message: string } {
  if (path === null || path === "") return { file: null };
  try {
    return { file: Deno.openSync(path, { read: true, append: true, create: true, mode: 0o666 }) };
  } catch (e) {
    return { ok: false, message: `ERROR: can't open logfile \`${path}'.Reason: ${errorText(e)}\n` };
  }
}

/** strerror() text for a failed Deno file operation, as C's errno would give. */
function errorText(e: unknown): string {
  const m = e instanceof Error ? /\(os error (\d+)\)/.exec(e.message) : null;
  return m ? strerror(Number(m[1])) : String(e instanceof Error ? e.message : e);
}

/** Writes the whole line; a console or file that went away loses it, like a C stream would. */
function writeQuietly(out: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  try {
    for (let off = 0; off < bytes.length;) off += out.writeSync(bytes.subarray(off));
  } catch {
    // Nothing to report to: this is the reporting channel.
  }
}
