// Thin, throwing wrappers over the libc socket calls the channels make. A failed
// call throws SocketCallError carrying errno, so channel set-up code can unwind
// (close what it opened) and report the reference's one-line message.
import { errno, strerror } from "../../../ffi/libc.ts";
import {
  EINTR,
  ENOPROTOOPT,
  EPERM,
  F_GETFL,
  F_SETFL,
  libcSocket,
  O_NONBLOCK,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "../../../ffi/libc_socket.ts";

/** A libc call failed; `errno` is the positive error code. */
export class SocketCallError extends Error {
  constructor(readonly errno: number, call: string) {
    super(`${call}: ${strerror(errno)}`);
    this.name = "SocketCallError";
  }
}

/** A channel could not be opened; the message is the reference's log line. */
export class ChannelOpenError extends Error {
  constructor(readonly errno: number) {
    super(`can't open channel socket: ${strerror(errno)}`);
    this.name = "ChannelOpenError";
  }
}

function fail(call: string): never {
  throw new SocketCallError(errno(), call);
}

/** A non-blocking, close-on-exec socket. */
export function openSocket(family: number, type: number, protocol = 0): number {
  const fd = libcSocket().socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) fail("socket");
  return fd;
}

export function closeSocket(fd: number): void {
  if (fd >= 0) libcSocket().close(fd);
}

/** Runs `fn(fd)`; closes fd and rethrows if it throws, else returns fd. */
export function withSocket(fd: number, fn: (fd: number) => void): number {
  try {
    fn(fd);
    return fd;
  } catch (e) {
    closeSocket(fd);
    throw e;
  }
}

function intBytes(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  return b;
}

export function setOption(fd: number, level: number, name: number, value: Uint8Array): void {
  if (libcSocket().setsockopt(fd, level, name, value, value.length) < 0) fail("setsockopt");
}

export function setIntOption(fd: number, level: number, name: number, value: number): void {
  setOption(fd, level, name, intBytes(value));
}

export function getIntOption(fd: number, level: number, name: number): number {
  const v = new Uint8Array(4);
  const len = intBytes(4);
  if (libcSocket().getsockopt(fd, level, name, v, len) < 0) fail("getsockopt");
  // Byte-sized options (e.g. IP_MULTICAST_LOOP may answer in one byte) leave the rest zero.
  return new DataView(v.buffer).getInt32(0, true);
}

/**
 * Forces a socket buffer size past the sysctl ceiling (SO_*BUFFORCE, needs
 * CAP_NET_ADMIN); without that capability (or on kernels lacking it) falls back
 * to the capped SO_*BUF. Returns the size the kernel reports back (doubled).
 */
export function forceBufferSize(fd: number, force: number, plain: number, size: number): number {
  if (size > 0) {
    const value = intBytes(Math.min(size, 0x7fffffff));
    if (libcSocket().setsockopt(fd, SOL_SOCKET, force, value, 4) < 0) {
      const e = errno();
      if (e !== ENOPROTOOPT && e !== EPERM) throw new SocketCallError(e, "setsockopt");
      setOption(fd, SOL_SOCKET, plain, value);
    }
  }
  return getIntOption(fd, SOL_SOCKET, plain);
}

export function bindSocket(fd: number, addr: Uint8Array): void {
  if (libcSocket().bind(fd, addr, addr.length) < 0) fail("bind");
}

export function listenSocket(fd: number, backlog: number): void {
  if (libcSocket().listen(fd, backlog) < 0) fail("listen");
}

/** connect(): 0 on success, else errno (EINPROGRESS etc. are for the caller to judge). */
export function connectSocket(fd: number, addr: Uint8Array): number {
  for (;;) {
    if (libcSocket().connect(fd, addr, addr.length) === 0) return 0;
    const e = errno();
    if (e !== EINTR) return e;
  }
}

/** Makes an fd non-blocking (accepted sockets, fds handed in from elsewhere). */
export function setNonBlocking(fd: number): void {
  const flags = libcSocket().fcntl(fd, F_GETFL, 0);
  if (flags < 0 || libcSocket().fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fail("fcntl");
}

/** The local address a socket is bound to (raw sockaddr bytes). */
export function socketName(fd: number): Uint8Array {
  const addr = new Uint8Array(128);
  const len = intBytes(addr.length);
  if (libcSocket().getsockname(fd, addr, len) < 0) fail("getsockname");
  return addr.subarray(0, new DataView(len.buffer).getUint32(0, true));
}
