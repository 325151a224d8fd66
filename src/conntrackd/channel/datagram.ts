// Sending and batch-receiving datagrams on the UDP and multicast sockets.
import { errno } from "../../../ffi/libc.ts";
import { EAGAIN, EINTR, libcSocket, MSG_DONTWAIT } from "../../../ffi/libc_socket.ts";
import { MmsgBatch } from "../../netlink/mmsg.ts";
import type { TrafficStats } from "./stats.ts";
import type { ReceiveVisitor } from "./transport.ts";

/** Largest datagram read in one piece (the reference's 64 KiB receive buffer). */
const DATAGRAM_MAX = 65536;
/** Datagrams fetched per recvmmsg() call. */
const BATCH = 8;

/** sendto() one datagram; counts it, or counts an error as the reference does. */
export function sendDatagram(fd: number, data: Uint8Array, dest: Uint8Array, stats: TrafficStats): boolean {
  for (;;) {
    const n = Number(libcSocket().sendto(fd, data, BigInt(data.length), 0, dest, dest.length));
    if (n >= 0) {
      stats.count(n);
      return true;
    }
    if (errno() === EINTR) continue;
    stats.errors++;
    return false;
  }
}

/** Reads queued datagrams in batches into one reusable set of buffers. */
export class DatagramReader {
  private batch: MmsgBatch | null = null;

  constructor(private readonly fd: number, private readonly stats: TrafficStats) {}

  /** At most `limit` datagrams, without waiting; returns how many were read. */
  read(visit: ReceiveVisitor, limit: number): number {
    const batch = this.batch ??= new MmsgBatch(BATCH, DATAGRAM_MAX);
    let total = 0;
    while (total < limit) {
      const want = Math.min(BATCH, limit - total);
      const n = libcSocket().recvmmsg(this.fd, batch.hdrs, want, MSG_DONTWAIT, null);
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e !== EAGAIN) this.stats.errors++;
        break;
      }
      for (let i = 0; i < n; i++) {
        const len = batch.length(i);
        this.stats.count(len);
        visit(batch.slot(i).subarray(0, len));
      }
      total += n;
      if (n < want) break;
    }
    return total;
  }
}
