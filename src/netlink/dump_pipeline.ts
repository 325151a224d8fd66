// Receives a netlink dump a batch of datagrams ahead of the decoding. The
// kernel builds each dump datagram inside the receive call, so running
// recvmmsg() on a worker thread (a nonblocking FFI call) overlaps the kernel's
// work with ours, and batching keeps the thread hand-offs to a few per
// thousand entries. Two batch buffers alternate: one is filled while the
// other is walked, so memory stays flat however large the table is.
import { libc } from "../../ffi/libc.ts";
import { type MessageVisitor, NetlinkError, type NetlinkSocket, WALK_DONE } from "./socket.ts";

const MSG_DONTWAIT = 0x40;
const MSG_WAITFORONE = 0x10000;
const MSG_TRUNC = 0x20;
/** Datagrams per recvmmsg() call. */
const BATCH = 8;
/** A dump datagram is at most 32 KiB; larger slots never truncate. */
const SLOT = 1 << 16;
// struct mmsghdr on LP64 Linux: msghdr (56 bytes) + msg_len (4) + padding.
const MMSGHDR = 64;
const IOVEC = 16;

/** One batch: the data slots plus the mmsghdr/iovec arrays that point into them. */
class Batch {
  readonly data = new Uint8Array(BATCH * SLOT);
  readonly view = new DataView(this.data.buffer);
  readonly hdrs = new Uint8Array(BATCH * MMSGHDR);
  readonly hdrView = new DataView(this.hdrs.buffer);
  private readonly iovs = new Uint8Array(BATCH * IOVEC);

  constructor() {
    const iovView = new DataView(this.iovs.buffer);
    const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.data));
    const iovBase = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.iovs));
    for (let i = 0; i < BATCH; i++) {
      iovView.setBigUint64(i * IOVEC, BigInt(base) + BigInt(i * SLOT), true);
      iovView.setBigUint64(i * IOVEC + 8, BigInt(SLOT), true);
      const h = i * MMSGHDR;
      this.hdrView.setBigUint64(h + 16, BigInt(iovBase) + BigInt(i * IOVEC), true); // msg_iov
      this.hdrView.setBigUint64(h + 24, 1n, true); // msg_iovlen
    }
  }

  length(i: number): number {
    return this.hdrView.getUint32(i * MMSGHDR + 56, true);
  }
  truncated(i: number): boolean {
    return (this.hdrView.getInt32(i * MMSGHDR + 48, true) & MSG_TRUNC) !== 0;
  }
}

/** True when the datagram holds NLMSG_DONE or an error reply: nothing follows it. */
function endsDump(v: DataView, off: number, n: number): boolean {
  const end = off + n;
  while (off + 16 <= end) {
    const len = v.getUint32(off, true), type = v.getUint16(off + 4, true);
    if (len < 16 || type === 2 || type === 3) return true;
    off += (len + 3) & ~3;
  }
  return false;
}

let spare: [Batch, Batch] | undefined;

/**
 * Sends a dump request on `sock` and feeds every reply message to `visit`;
 * `afterDatagram` runs once per datagram (batched deletes and updates).
 */
export async function dumpPipelined(
  sock: NetlinkSocket,
  request: Uint8Array,
  visit: MessageVisitor,
  afterDatagram?: () => void | Promise<void>,
): Promise<void> {
  const batches = spare ??= [new Batch(), new Batch()];
  const receive = (b: Batch) => libc().recvmmsg_nb(sock.fd, b.hdrs, BATCH, MSG_WAITFORONE, null);
  sock.send(request);
  let cur = 0;
  let pending: Promise<number> | null = receive(batches[0]);
  while (pending) {
    const b = batches[cur];
    let k = await pending;
    pending = null;
    if (k < 0) {
      // errno stayed on the worker thread: one nonblocking call here reports it.
      k = sock.recvInto(b.data.subarray(0, SLOT), MSG_DONTWAIT);
      b.hdrView.setUint32(56, k, true);
      k = 1;
    }
    let last = false;
    for (let i = 0; i < k && !last; i++) last = endsDump(b.view, i * SLOT, b.length(i));
    if (!last) pending = receive(batches[cur ^ 1]);
    for (let i = 0; i < k; i++) {
      if (b.truncated(i)) throw new NetlinkError(105); // ENOBUFS: cannot happen with 64 KiB slots
      const r = sock.walk(
        b.length(i),
        visit,
        b.data.subarray(i * SLOT, (i + 1) * SLOT),
        new DataView(b.data.buffer, i * SLOT, SLOT),
      );
      await afterDatagram?.();
      if (r === WALK_DONE) return;
    }
    cur ^= 1;
  }
}
