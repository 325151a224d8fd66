// `conntrackd -d` without fork(). Deno cannot fork (its runtime is
// multi-threaded and offers no fork), so the foreground process starts the
// same program again as a detached child (new session, no terminal), and waits
// until the child says how its initialisation went:
//
//   parent: spawnDaemonChild()           child: isDaemonChild() === true
//     mkfifo <private dir>/status          enterDaemonSession()
//     re-run /proc/self/cmdline            ... open log, lock, init ...
//       env CTKIT_DAEMON_CHILD=<fifo>      failure: reportFailure(1); exit(1)
//     read one line from the FIFO  <----   success: detachStdio(); reportReady()
//     exit 0, or the child's status
//
// The reference initialises before it forks, so init errors and the exit
// status of `conntrackd -d` reach the caller; here the child keeps the
// parent's stdout/stderr until it reports, so the same holds. Differences:
// the log lines of the initialisation carry the daemon's pid, not the
// foreground one's; and a signal that kills the waiting parent leaves the
// child running (the reference would have died with its initialisation).
import { errno, strerror } from "../../../ffi/libc.ts";
import { cString, libcProcess, O_CLOEXEC, O_NONBLOCK, O_RDWR, O_WRONLY } from "../../../ffi/libc_process.ts";
import { formatLogLine } from "./log.ts";

/** Set in the child: the FIFO to report to. */
const CHILD_ENV = "CTKIT_DAEMON_CHILD";
/** Set in the child: the pid of the process the administrator started. */
const PARENT_ENV = "CTKIT_DAEMON_PARENT";

interface ChildInfo {
  fifo: string;
  parentPid: number;
}

let child: ChildInfo | null | undefined;
let reported = false;

// Read once, then removed from the environment so that programs the daemon
// runs later do not take themselves for a daemon child.
function childInfo(): ChildInfo | null {
  if (child === undefined) {
    const fifo = Deno.env.get(CHILD_ENV);
    const parentPid = Number(Deno.env.get(PARENT_ENV));
    child = fifo && Number.isInteger(parentPid) && parentPid > 0 ? { fifo, parentPid } : null;
    Deno.env.delete(CHILD_ENV);
    Deno.env.delete(PARENT_ENV);
  }
  return child;
}

/** True in the process spawnDaemonChild() started. */
export function isDaemonChild(): boolean {
  return childInfo() !== null;
}

/** The pid of the process that was started: the -d parent's in a daemon child, else our own. */
export function foregroundPid(): number {
  return childInfo()?.parentPid ?? Deno.pid;
}

/**
 * Parent side of -d: runs this program again as a daemon child and waits for
 * its report. Returns the status to exit with: 0 once the child reported
 * ready (after `onReady(childPid)`, the hook for systemd's MAINPID), else the
 * status it reported or exited with. The child is never waited for after a
 * report.
 */
export async function spawnDaemonChild(opts: { onReady?: (pid: number) => void } = {}): Promise<number> {
  let dir: string | null = null;
  let status: Deno.FsFile | null = null;
  try {
    dir = Deno.makeTempDirSync({ prefix: "ctkit-daemon-" });
    const fifo = `${dir}/status`;
    if (libcProcess().mkfifo(cString(fifo), 0o600) < 0) throw new Error(strerror(errno()));
    // Read-write: opening never waits for a writer, and the read never sees EOF while we hold it.
    status = Deno.openSync(fifo, { read: true, write: true });

    const argv = Deno.readTextFileSync("/proc/self/cmdline").split("\0").slice(0, -1);
    const env: Record<string, string> = { [CHILD_ENV]: fifo, [PARENT_ENV]: String(Deno.pid) };
    // cli.ts dispatches on argv[0] (a symlink named conntrackd); the child's argv[0] is the executable.
    if (!Deno.env.get("CTKIT_ARGV0")) env.CTKIT_ARGV0 = argv[0];
    const proc = new Deno.Command(Deno.execPath(), {
      args: argv.slice(1),
      env,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
      detached: true, // setsid() in the child before exec
    }).spawn();

    const line = readLine(status);
    // A child that ends without reporting: wake our reader through a second
    // handle (a write on `status` waits behind the pending read: Deno
    // serialises operations on one file, observed as a hang).
    const exited = proc.status.then((s) => {
      writeFifo(fifo, "gone\n");
      return s.code;
    });
    const report = await line;
    proc.unref();
    if (report === "ready") {
      opts.onReady?.(proc.pid);
      return 0;
    }
    const failed = /^exit (\d+)$/.exec(report);
    return failed ? Number(failed[1]) : await exited;
  } catch (e) {
    writeStderr(formatLogLine("error", `fork has failed: ${e instanceof Error ? e.message : String(e)}`));
    return 1;
  } finally {
    status?.close();
    if (dir) Deno.removeSync(dir, { recursive: true });
  }
}

/** Reads up to the first newline (the reports are far shorter than PIPE_BUF, so they arrive whole). */
async function readLine(file: Deno.FsFile): Promise<string> {
  const buf = new Uint8Array(64);
  let text = "";
  while (!text.includes("\n")) {
    const n = await file.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text.split("\n")[0];
}

/**
 * Child side, first thing: a session of its own, so the terminal's signals
 * and hang-up never reach the daemon. Deno's `detached` spawn already made
 * it a session leader; this only matters if the child was started otherwise.
 */
export function enterDaemonSession(): void {
  if (!isDaemonChild()) return;
  const lib = libcProcess();
  if (lib.getsid(0) !== Deno.pid) lib.setsid();
}

/** Child side: initialisation succeeded; the parent exits 0. */
export function reportReady(): void {
  report("ready\n");
}

/** Child side: initialisation failed; the parent exits with `status`. Call it right before exiting. */
export function reportFailure(status: number): void {
  report(`exit ${status}\n`);
}

function report(line: string): void {
  const info = childInfo();
  if (!info || reported) return;
  reported = true;
  writeFifo(info.fifo, line);
}

/** One short line into the FIFO; never waits. */
function writeFifo(path: string, line: string): void {
  const lib = libcProcess();
  // Non-blocking: with the parent gone there is no reader and open fails (ENXIO) instead of waiting.
  const fd = lib.open(cString(path), O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) return;
  const bytes = new TextEncoder().encode(line);
  lib.write(fd, bytes, BigInt(bytes.length));
  lib.close(fd);
}

/**
 * Child side, once initialised: stdin, stdout and stderr become /dev/null.
 * The reference closes stdout/stderr instead; pointing them at /dev/null
 * keeps fds 0-2 from being reused by a socket that a stray write would hit.
 */
export function detachStdio(): void {
  redirectToDevNull([0, 1, 2, ...stdioCopies()]);
}

/** What stdout and stderr were when the daemon child started (pipe:[n], a tty, a file). */
let stdioTargets: string[] = [];

function fdTarget(fd: number): string | null {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** Child side, first thing: remembers where stdout and stderr lead (see stdioCopies). */
export function findStdioCopies(): void {
  stdioTargets = [fdTarget(1), fdTarget(2)].filter((t): t is string => t !== null);
}

/**
 * The runtime's own duplicates of stdout and stderr (Deno and its workers keep
 * copies): those on a pipe, socket or terminal are let go too, or the daemon
 * would hold its caller's pipe open and `x=$(conntrackd -d)` would wait for
 * the daemon to exit. Copies of a regular file are left alone: one of them may
 * be the daemon's own log file, and holding a file open blocks nobody.
 */
function stdioCopies(): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(e.name), t = fd > 2 ? fdTarget(fd) : null;
    if (t === null || !stdioTargets.includes(t)) continue;
    if (t.startsWith("pipe:") || t.startsWith("socket:") || t.startsWith("/dev/")) out.push(fd);
  }
  return out;
}

/** close(STDIN_FILENO) of both modes, as /dev/null for the same reason. */
export function closeStdin(): void {
  redirectToDevNull([0]);
}

function redirectToDevNull(fds: number[]): void {
  const lib = libcProcess();
  const nul = lib.open(cString("/dev/null"), O_RDWR | O_CLOEXEC, 0);
  if (nul < 0) return;
  for (const fd of fds) lib.dup2(nul, fd);
  if (!fds.includes(nul)) lib.close(nul);
}

/** do_chdir("/"): returns the warning the reference logs when it fails, or null. */
export function changeToRootDir(): string | null {
  try {
    Deno.chdir("/");
    return null;
  } catch (e) {
    const m = e instanceof Error ? /\(os error (\d+)\)/.exec(e.message) : null;
    return `Cannot change current directory to /: ${m ? strerror(Number(m[1])) : String(e)}`;
  }
}

/** umask(0177), which the reference sets for every mode before reading its config. */
export function setDaemonUmask(): void {
  libcProcess().umask(0o177);
}

function writeStderr(text: string): void {
  const bytes = new TextEncoder().encode(text);
  try {
    for (let off = 0; off < bytes.length;) off += Deno.stderr.writeSync(bytes.subarray(off));
  } catch {
    // No terminal left to tell.
  }
}
