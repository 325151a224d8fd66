// Receives a netlink dump a batch of datagrams ahead of the decoding. The
// kernel builds each dump datagram inside the receive call, so running
// recvmmsg() on a worker thread (a nonblocking FFI call) overlaps the kernel's
// work with ours, and batching keeps the thread hand-offs to a few per
// thousand entries. Two batch buffers alternate: one is filled while the
// other is walked, so memory stays flat however large the table is.
import { libcWaiting } from "../../ffi/libc.ts";
import { MmsgBatch } from "./mmsg.ts";
import { type MessageVisitor, NetlinkError, type NetlinkSocket, WALK_DONE } from "./socket.ts";

const MSG_DONTWAIT = 0x40;
const MSG_WAITFORONE = 0x10000;
/**
 * Datagrams per recvmmsg() call at most; a dump datagram is at most 32 KiB.
 * The first calls ask for fewer (1, 2, 4, …): the kernel builds a dump's
 * datagrams inside the receive, so a full first batch would make a small
 * table's whole dump happen before any of it is printed. 32 rather than 8: each
 * hand-off to the worker thread costs time in which the kernel builds nothing
 * (-L of 20 000 entries 99-116 -> 91-96 ms, of 100 000 248-320 -> 242-286 ms, in
 * runs of both sizes alternated). Slots past 32 KiB are never written, so
 * their pages are never touched.
 */
const BATCH = 32;
const SLOT = 1 << 16;

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

/** The two alternating receive batches of one dump. */
export type DumpBuffers = [MmsgBatch, MmsgBatch];

/** Buffers for a caller that runs dumps concurrently with others (the daemon). */
export function newDumpBuffers(): DumpBuffers {
  return [new MmsgBatch(BATCH, SLOT), new MmsgBatch(BATCH, SLOT)];
}

// One-shot commands run one dump at a time and share these.
let spare: DumpBuffers | undefined;

/**
 * Sends a dump request on `sock` and feeds every reply message to `visit`;
 * `afterDatagram` runs once per datagram (batched deletes and updates).
 */
export async function dumpPipelined(
  sock: NetlinkSocket,
  request: Uint8Array,
  visit: MessageVisitor,
  afterDatagram?: () => void | Promise<void>,
  batches: DumpBuffers = spare ??= newDumpBuffers(),
): Promise<void> {
  let want = 1;
  const receive = (b: MmsgBatch) => {
    const n = want;
    want = Math.min(want * 2, BATCH);
    return libcWaiting().recvmmsg_nb(sock.fd, b.hdrs, n, MSG_WAITFORONE, null);
  };
  sock.send(request);
  let cur = 0;
  let pending: Promise<number> | null = receive(batches[0]);
  while (pending) {
    const b = batches[cur];
    let k = await pending;
    pending = null;
    if (k < 0) {
      // errno stayed on the worker thread: one nonblocking call here reports it.
      b.setLength(0, sock.recvInto(b.slot(0), MSG_DONTWAIT));
      k = 1;
    }
    let last = false;
    for (let i = 0; i < k && !last; i++) last = endsDump(b.view, b.offset(i), b.length(i));
    if (!last) pending = receive(batches[cur ^ 1]);
    for (let i = 0; i < k; i++) {
      if (b.truncated(i)) throw new NetlinkError(105); // ENOBUFS: cannot happen with 64 KiB slots
      const r = sock.walk(b.length(i), visit, b.slot(i), b.slotView(i));
      await afterDatagram?.();
      if (r === WALK_DONE) return;
    }
    cur ^= 1;
  }
}
