// libc symbols for netlink sockets: receiving, buffer sizes, errno. Deno binds
// every symbol of a table when it is opened (~0.3 ms each), so the table is
// split by use: the calls every command needs, and the waiting/batching calls
// only dumps and event listeners need.
import { lazyLibrary } from "./load.ts";

const core = {
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

const waiting = {
  // poll() off the JS thread, so a long wait never blocks the event loop.
  poll_nb: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  // A batch of netlink requests handed to the kernel on a worker thread: the
  // kernel does the work (e.g. creating entries) while the JS thread prepares
  // the next batch.
  sendto_nb: {
    name: "sendto",
    parameters: ["i32", "buffer", "usize", "i32", "pointer", "u32"],
    result: "isize",
    nonblocking: true,
  },
  // Several datagrams per call, on a worker thread: the kernel builds each dump
  // datagram inside the receive, so this overlaps its work with ours.
  recvmmsg_nb: {
    name: "recvmmsg",
    parameters: ["i32", "buffer", "u32", "i32", "pointer"],
    result: "i32",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

export const libc = lazyLibrary("libc.so.6", "libc6", core);
export const libcWaiting = lazyLibrary("libc.so.6", "libc6", waiting);

/** errno of the last failed call made on this (the JS) thread. */
export function errno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32(0) : 0;
}

const strerrorCache = new Map<number, string>();
/** C strerror() text, so messages match the reference tools byte for byte. */
export function strerror(code: number): string {
  let s = strerrorCache.get(code);
  if (s === undefined) {
    const p = libc().strerror(code);
    s = p ? Deno.UnsafePointerView.getCString(p) : `Unknown error ${code}`;
    strerrorCache.set(code, s);
  }
  return s;
}
