// libc socket calls for conntrackd's dedicated links. Deno's own UDP API cannot
// force socket buffers, pick the multicast interface or disable UDP checksums,
// so the channels own plain BSD sockets. Every socket is non-blocking; the only
// call that waits is poll(), and it runs off the JS thread.
import { lazyLibrary } from "./load.ts";

const sockets = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "pointer", "pointer"], result: "isize" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // fcntl and ioctl are variadic in C; their third argument is passed like a fixed one on LP64.
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  if_indextoname: { parameters: ["u32", "buffer"], result: "pointer" },
  // A zero-timeout check of readiness (never waits).
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const waiting = {
  // poll() on a worker thread: the daemon's single wait point over all its fds.
  poll_nb: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;

export const libcSocket = lazyLibrary("libc.so.6", "libc6", sockets);
export const libcSocketWait = lazyLibrary("libc.so.6", "libc6", waiting);

// Linux numbers (asm-generic/socket.h, netinet/in.h, bits/*.h; x86_64 and arm64 agree).
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_KEEPALIVE = 9;
export const SO_NO_CHECK = 11;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;

export const IPPROTO_IP = 0;
export const IP_MULTICAST_IF = 32;
export const IP_MULTICAST_TTL = 33;
export const IP_MULTICAST_LOOP = 34;
export const IP_ADD_MEMBERSHIP = 35;
export const IPPROTO_IPV6 = 41;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
export const IPV6_JOIN_GROUP = 20;

export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_NONBLOCK = 0o4000;

export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;

export const SIOCGIFFLAGS = 0x8913;
export const SIOCGIFMTU = 0x8921;
/** struct ifreq: 16-byte name, then a union holding ifr_mtu / ifr_flags. */
export const IFREQ_SIZE = 40;
export const IFNAMSIZ = 16;

export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

export const ENOENT = 2;
export const EINTR = 4;
export const EPERM = 1;
export const EAGAIN = 11;
export const EPIPE = 32;
export const ENOBUFS = 105;
export const ENOPROTOOPT = 92;
export const ECONNRESET = 104;
export const EISCONN = 106;
export const ENOTCONN = 107;
export const ECONNREFUSED = 111;
export const EALREADY = 114;
export const EINPROGRESS = 115;
