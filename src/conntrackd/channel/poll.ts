// Waiting on file descriptors. Deno cannot adopt foreign fds into its event
// loop, so the daemon waits in one poll() that runs on a worker thread
// (nonblocking FFI) over every fd it owns: netlink events, channel sockets, the
// link watcher.
import { errno } from "../../../ffi/libc.ts";
import { EINTR, libcSocket, libcSocketWait, POLLIN } from "../../../ffi/libc_socket.ts";

const POLLFD = 8;

function pollfds(fds: readonly number[]): Uint8Array {
  const buf = new Uint8Array(fds.length * POLLFD);
  const v = new DataView(buf.buffer);
  fds.forEach((fd, i) => {
    v.setInt32(i * POLLFD, fd, true);
    v.setInt16(i * POLLFD + 4, POLLIN, true);
  });
  return buf;
}

function ready(fds: readonly number[], buf: Uint8Array): number[] {
  const v = new DataView(buf.buffer);
  // Any event counts: POLLIN, and POLLHUP/POLLERR, which a read then reports.
  return fds.filter((_, i) => v.getInt16(i * POLLFD + 6, true) !== 0);
}

/**
 * Waits until some of `fds` are readable (or hung up / in error), or until
 * `timeoutMs` passes (-1: no limit). Returns the ready fds, [] on timeout or
 * interruption. The wait runs off the JS thread.
 */
export async function pollFds(fds: readonly number[], timeoutMs: number): Promise<number[]> {
  const buf = pollfds(fds);
  const n = await libcSocketWait().poll_nb(buf, BigInt(fds.length), Math.trunc(timeoutMs));
  // `buf` stays referenced until here, so it outlives the worker thread's use of it.
  return n > 0 ? ready(fds, buf) : [];
}

/** The fds of `fds` that are ready right now (poll with a zero timeout). */
export function readyFds(fds: readonly number[]): number[] {
  const buf = pollfds(fds);
  for (;;) {
    const n = libcSocket().poll(buf, BigInt(fds.length), 0);
    if (n > 0) return ready(fds, buf);
    if (n === 0 || errno() !== EINTR) return [];
  }
}
