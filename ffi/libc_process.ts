// libc symbols for the conntrackd daemon's process plumbing: syslog, real-time
// scheduling, sessions and stdio, FIFOs, AF_UNIX datagrams (sd_notify) and
// giving freed heap memory back (malloc_trim).
// One table per concern, each opened on first use, because Deno binds every
// symbol of a table when it opens it.
import { lazyLibrary } from "./load.ts";

const syslogSymbols = {
  openlog: { parameters: ["buffer", "i32", "i32"], result: "void" },
  // syslog(pri, "%s", msg). Off the JS thread: glibc sends to /dev/log on a
  // blocking socket, which stalls while the log daemon's queue is full.
  syslog_nb: { name: "syslog", parameters: ["i32", "buffer", "buffer"], result: "void", nonblocking: true },
  closelog: { parameters: [], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

const timeSymbols = {
  // Local time as C sees it: the system's tz database and POSIX TZ rules, which V8's own (ICU) may not match.
  localtime_r: { parameters: ["buffer", "buffer"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

const mallocSymbols = {
  // Off the JS thread: a trim walks every arena of the process.
  malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;

const schedSymbols = {
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  sched_get_priority_max: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const processSymbols = {
  setsid: { parameters: [], result: "i32" },
  getsid: { parameters: ["i32"], result: "i32" },
  umask: { parameters: ["u32"], result: "u32" },
  // open() is variadic; the mode travels in the third integer register like a fixed argument.
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const unixDgramSymbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

export const libcSyslog = lazyLibrary("libc.so.6", "libc6", syslogSymbols);
export const libcTime = lazyLibrary("libc.so.6", "libc6", timeSymbols);
export const libcSched = lazyLibrary("libc.so.6", "libc6", schedSymbols);
export const libcProcess = lazyLibrary("libc.so.6", "libc6", processSymbols);
export const libcUnixDgram = lazyLibrary("libc.so.6", "libc6", unixDgramSymbols);
export const libcMalloc = lazyLibrary("libc.so.6", "libc6", mallocSymbols);

/** sizeof(struct tm) on 64-bit Linux (nine ints, a long, a pointer). */
export const STRUCT_TM_SIZE = 56;

// Linux constants (x86_64 and aarch64 agree on all of these).
export const LOG_PID = 0x01;
export const SCHED_FIFO = 1;
export const SCHED_RR = 2;
export const AF_UNIX = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const ESRCH = 3;
export const EAGAIN = 11;
export const EPERM = 1;

const enc = new TextEncoder();

/** A NUL-terminated copy of `s` for char* parameters. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(enc.encode(s).length + 1);
  enc.encodeInto(s, b);
  return b;
}

/**
 * struct sockaddr_un for `address`: a path, or "@name" for the abstract
 * namespace (as NOTIFY_SOCKET writes it). Returns the buffer and the length
 * to pass: the path's NUL is counted, an abstract name has none.
 */
export function sockaddrUnix(address: string): { addr: Uint8Array<ArrayBuffer>; len: number } {
  const name = enc.encode(address);
  if (name.length === 0 || name.length > 107) throw new RangeError(`bad AF_UNIX address: ${address}`);
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  if (address.startsWith("@")) {
    addr[2] = 0;
    return { addr, len: 2 + name.length };
  }
  return { addr, len: 2 + name.length + 1 };
}
