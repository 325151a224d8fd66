// Network interface facts the channels need: MTU (sizes the send buffer),
// index (IPv6 scope, link watching) and name (statistics).
import { errno } from "../../../ffi/libc.ts";
import {
  AF_INET,
  IFNAMSIZ,
  IFREQ_SIZE,
  libcSocket,
  SIOCGIFFLAGS,
  SIOCGIFMTU,
  SOCK_DGRAM,
} from "../../../ffi/libc_socket.ts";
import { closeSocket, openSocket, SocketCallError } from "./socket.ts";

export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;

function ifreq(name: string): Uint8Array {
  const req = new Uint8Array(IFREQ_SIZE);
  // strncpy into ifr_name as the reference does: at most IFNAMSIZ bytes.
  req.set(new TextEncoder().encode(name).subarray(0, IFNAMSIZ));
  return req;
}

function interfaceIoctl(name: string, request: number): DataView {
  const fd = openSocket(AF_INET, SOCK_DGRAM);
  try {
    const req = ifreq(name);
    if (libcSocket().ioctl(fd, BigInt(request), req) < 0) throw new SocketCallError(errno(), "ioctl");
    return new DataView(req.buffer, IFNAMSIZ);
  } finally {
    closeSocket(fd);
  }
}

/** SIOCGIFMTU of the interface in this network namespace; throws SocketCallError (ENODEV). */
export function interfaceMtu(name: string): number {
  return interfaceIoctl(name, SIOCGIFMTU).getInt32(0, true);
}

/** SIOCGIFFLAGS (IFF_UP, IFF_RUNNING, ...). */
export function interfaceFlags(name: string): number {
  return interfaceIoctl(name, SIOCGIFFLAGS).getUint16(0, true);
}

function cString(text: string): Uint8Array {
  const b = new Uint8Array(text.length * 3 + 1);
  const { written } = new TextEncoder().encodeInto(text, b);
  return b.subarray(0, written + 1);
}

/** if_nametoindex(); 0 when there is no such interface. */
export function interfaceIndex(name: string): number {
  return libcSocket().if_nametoindex(cString(name));
}

/** if_indextoname(); null when the index is gone. */
export function interfaceName(index: number): string | null {
  const buf = new Uint8Array(IFNAMSIZ);
  if (libcSocket().if_indextoname(index >>> 0, buf) === null) return null;
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}
