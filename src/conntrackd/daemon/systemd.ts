// sd_notify for the daemon (conntrack-tools src/systemd.c) without libsystemd:
// a datagram to the AF_UNIX socket named by NOTIFY_SOCKET, as sd_notify(3)
// describes. The reference sends READY=1 once it runs, STOPPING=1 at shutdown,
// MAINPID=<child> from the parent of a -d fork, and WATCHDOG=1 every half
// WATCHDOG_USEC; all of it only with `Systemd on` (the default of a build with
// systemd, like Debian's).
//
// Not covered: NOTIFY_SOCKET=vsock:... (newer libsystemd), and sending file
// descriptors or explicit credentials (the kernel attaches the sender's pid,
// which is all systemd needs).
import { strerror } from "../../../ffi/libc.ts";
import {
  AF_UNIX,
  libcUnixDgram,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  sockaddrUnix,
} from "../../../ffi/libc_process.ts";
import { foregroundPid } from "./daemonize.ts";

const enc = new TextEncoder();
const EINVAL = 22;

/**
 * Sends `state` to NOTIFY_SOCKET. Returns false when the variable is unset or
 * names no usable socket, or the datagram could not be queued; never waits
 * (a full queue drops the notification rather than stall the daemon).
 */
export function sdNotify(state: string): boolean {
  const target = Deno.env.get("NOTIFY_SOCKET");
  if (!target || (target[0] !== "/" && target[0] !== "@") || target.length < 2) return false;
  let address;
  try {
    address = sockaddrUnix(target);
  } catch {
    return false;
  }
  const lib = libcUnixDgram();
  const fd = lib.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const msg = enc.encode(state);
  const sent = lib.sendto(
    fd,
    msg,
    BigInt(msg.length),
    MSG_DONTWAIT | MSG_NOSIGNAL,
    address.addr,
    address.len,
  );
  lib.close(fd);
  return sent === BigInt(msg.length);
}

/** The watchdog period in microseconds systemd asks for, 0 for none, or a negative errno (sd_watchdog_enabled). */
export function watchdogUsec(): number {
  const usecText = Deno.env.get("WATCHDOG_USEC");
  if (usecText === undefined) return 0;
  const usec = parseUnsigned(usecText);
  if (usec === null || usec === 0) return -EINVAL;
  const pidText = Deno.env.get("WATCHDOG_PID");
  if (pidText !== undefined) {
    const pid = parseUnsigned(pidText);
    if (pid === null || pid === 0 || pid > 2 ** 31 - 1) return -EINVAL;
    // The reference asks in the process that was started, before it forks;
    // a re-executed -d child answers for that process.
    if (pid !== foregroundPid()) return 0;
  }
  return usec;
}

/** The reference's systemd hooks; each does nothing with `Systemd off`. */
export class SystemdNotifier {
  private watchdog: ReturnType<typeof setInterval> | null = null;

  constructor(readonly enabled: boolean) {}

  /** sd_ct_init(): the daemon runs. */
  ready(): void {
    if (this.enabled) sdNotify("READY=1");
  }

  /** sd_ct_stop(): shutdown has begun. */
  stopping(): void {
    if (this.enabled) sdNotify("STOPPING=1");
  }

  /** sd_ct_mainpid(): sent by the -d parent before it exits, naming the daemon. */
  mainPid(pid: number): void {
    if (this.enabled) sdNotify(`MAINPID=${pid}`);
  }

  /**
   * sd_ct_watchdog_init(): WATCHDOG=1 every half period, on an unref'd timer
   * so it never keeps the process alive. Returns the warning the reference
   * logs when the environment is malformed, or null.
   */
  startWatchdog(): string | null {
    if (!this.enabled || this.watchdog !== null) return null;
    const usec = watchdogUsec();
    if (usec < 0) return `failed to get watchdog details from systemd: ${strerror(-usec)}`;
    if (usec === 0) return null;
    const periodMs = Math.max(1, Math.floor(usec / 2 / 1000));
    const timer = setInterval(() => sdNotify("WATCHDOG=1"), periodMs);
    Deno.unrefTimer(timer);
    this.watchdog = timer;
    return null;
  }

  stopWatchdog(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }
}

/** strtoull(s, NULL, 0) that must consume everything: decimal, 0x hex or 0 octal, leading blanks allowed. */
function parseUnsigned(text: string): number | null {
  const s = text.replace(/^[ \t\n\r\f\v]+/, "");
  const m = /^(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(s);
  if (!m) return null;
  const value = m[1] !== undefined
    ? parseInt(m[1], 16)
    : m[2] !== undefined
    ? parseInt(m[2], 8)
    : Number(m[3]);
  return Number.isSafeInteger(value) ? value : null;
}
