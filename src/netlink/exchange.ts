// Batched request/reply exchange on a netlink socket: many requests in one
// sendto(), then the ACKs and errors matched back by sequence number. The
// kernel handles requests inside sendto(), so the replies are already queued
// when it returns and the reads do not wait.
import type { MessageBuilder } from "./builder.ts";
import { NetlinkError, type NetlinkSocket } from "./socket.ts";

export type ReplyVisitor = (seq: number, buf: Uint8Array, v: DataView, off: number, len: number) => void;

/**
 * Sends a batch of requests in one sendto() and reads until every sequence
 * number in `awaited` is answered (ACK or error). Returns the errors by
 * sequence number; replies (e.g. to GET) go to `onReply`. A batch whose
 * requests only ask for an ACK on the last one awaits just that one: the
 * kernel answers in order, so earlier errors have arrived by then.
 */
export function exchange(
  sock: NetlinkSocket,
  b: MessageBuilder,
  awaited: Iterable<number>,
  onReply?: ReplyVisitor,
) {
  sock.send(b.bytesView());
  return collectReplies(sock, awaited, onReply);
}

/**
 * The reading half of exchange(): for requests already sent (e.g. by a
 * sendto() on a worker thread), reads until every awaited sequence number is
 * answered; returns the errors by sequence number.
 */
export function collectReplies(sock: NetlinkSocket, awaited: Iterable<number>, onReply?: ReplyVisitor) {
  const replies = new ReplyTracker(sock, onReply);
  for (const seq of awaited) replies.wait(seq);
  return replies.errors;
}

/**
 * The replies of requests in flight on one socket, read as they are needed:
 * several batches may be with the kernel at once (on worker threads) and be
 * answered in any order, so what is read while waiting for one batch is kept
 * for the others.
 */
export class ReplyTracker {
  /** Errors by sequence number. */
  readonly errors = new Map<number, number>();
  private readonly answered = new Set<number>();

  constructor(private readonly sock: NetlinkSocket, private readonly onReply?: ReplyVisitor) {}

  /** Reads until `seq` is answered (an ACK or an error). */
  wait(seq: number): void {
    while (!this.answered.has(seq)) {
      const n = this.sock.recv();
      try {
        const r = this.sock.walk(
          n,
          (buf, v, off, len) => this.onReply?.(v.getUint32(off + 8, true), buf, v, off, len),
        );
        if (typeof r === "object") this.answered.add(r.ack);
      } catch (e) {
        // An error reply is a datagram of its own, so walk() stopping there loses nothing.
        if (!(e instanceof NetlinkError)) throw e;
        this.errors.set(e.seq, e.errno);
        this.answered.add(e.seq);
      }
    }
    this.answered.delete(seq);
  }
}
