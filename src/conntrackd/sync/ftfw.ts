// FTFW, the reliable protocol: every message carries a sequence number; the
// receiver acknowledges a window of ACKWindowSize messages (or whatever came
// within a second), asks for gaps with a NACK, and the sender keeps what it
// sent in the resend queue until acknowledged. HELLO/HELLO_BACK resets both
// ends' state when a peer (re)starts.
import * as R from "../client/codes.ts";
import type { Reply } from "../modes/mode.ts";
import { freeControlNode, newControlNode, Queue, type QueueNode } from "./queue.ts";
import {
  type ControlMessage,
  getObject,
  putObject,
  type SyncContext,
  type SyncObject,
  type SyncProtocol,
} from "./protocol.ts";
import { transmitObject } from "./internal.ts";
import { SEQ_AFTER, SEQ_BEFORE } from "./sequence.ts";
import { IdleTimer } from "./idle_timer.ts";
import {
  after,
  before,
  F_ACK,
  F_ALIVE,
  F_HELLO,
  F_HELLO_BACK,
  F_NACK,
  F_RESYNC,
  isAck,
  isAlive,
  isData,
  isNack,
  isResync,
  type MessageHeader,
  MSG_BAD,
  MSG_CTL,
  MSG_DATA,
  MSG_DROP,
} from "./wire/mod.ts";

const ALIVE_MS = 1000;
const HELLO_INIT = 0, HELLO_SAY = 1, HELLO_DONE = 2;
/** How far ahead of the last sequence number a HELLO still belongs to the same peer session. */
const SESSION_WINDOW = 1 << 16;

export class FtfwProtocol implements SyncProtocol {
  readonly externalTimeout = false;
  readonly rsQueue: Queue;
  private window: number;
  private ackFrom = 0;
  private ackFromSet = false;
  private hello = HELLO_INIT;
  private sayHelloBack = false;
  private readonly alive = new IdleTimer(ALIVE_MS, () => this.aliveTick());

  constructor(
    private readonly ctx: SyncContext,
    resendQueueSize: number,
    private readonly windowSize: number,
  ) {
    this.rsQueue = new Queue("rsqueue", resendQueueSize);
    this.window = windowSize;
    this.alive.touch();
  }

  /** Idle second: acknowledge what arrived, or just say we are alive. */
  private aliveTick(): void {
    if (this.ackFromSet && this.ctx.seq.isSet) {
      this.queueControl(F_ACK, this.ackFrom, this.ctx.seq.lastRecv);
      this.ackFromSet = false;
    } else this.queueControl(F_ALIVE);
    this.alive.touch();
  }

  private queueControl(flags: number, from = 0, to = 0): void {
    const n = newControlNode<ControlMessage>({ flags, from: from >>> 0, to: to >>> 0, seq: 0 });
    if (this.ctx.txQueue.add(n) < 0) freeControlNode(n);
  }

  /** Moves a node to the tx queue (out of the resend queue if it waits there). */
  enqueue(node: QueueNode<SyncObject>): void {
    if (this.rsQueue.has(node)) {
      Queue.remove(node);
      this.ctx.txQueue.add(node);
    } else if (this.ctx.txQueue.add(node) > 0) getObject(node.data);
  }

  private bulk(): void {
    this.ctx.log.log("notice", "sending bulk update");
    for (const n of this.ctx.internalObjects()) this.enqueue(n);
  }

  /** Removes acknowledged messages (all of them when `range` is null). */
  private emptyResend(range: { from: number; to: number } | null): void {
    this.rsQueue.iterate((n) => {
      if (range) {
        if (before(n.seq, range.from)) return false;
        if (after(n.seq, range.to)) return true;
      }
      Queue.remove(n);
      if (n.kind === "ctl") freeControlNode(n);
      else putObject(n.data as SyncObject);
      return false;
    });
  }

  /** Puts NACKed messages back on the tx queue. */
  private resend(range: { from: number; to: number }): void {
    this.rsQueue.iterate((n) => {
      if (before(n.seq, range.from)) return false;
      if (after(n.seq, range.to)) return true;
      Queue.remove(n);
      this.ctx.txQueue.add(n);
      this.ctx.tx.counters.resent++;
      return false;
    });
  }

  private dropControlMessages(): void {
    this.rsQueue.iterate((n) => {
      if (n.kind === "ctl") {
        Queue.remove(n);
        freeControlNode(n);
      }
    });
  }

  /**
   * ctkit's addition: objects sent before the first sequence number the peer
   * acknowledges and never acknowledged themselves were lost where the peer
   * could not see a gap (before its first message from us, while HELLO made it
   * skip sequence tracking, or their ACK was lost): send them again. Control
   * messages that old are stale and dropped. The reference keeps both until
   * the resend queue overflows, which is why it may never converge after
   * losses during the handshake.
   */
  private resendUnacknowledged(from: number): void {
    this.rsQueue.iterate((n) => {
      if (!before(n.seq, from)) return true;
      Queue.remove(n);
      if (n.kind === "ctl") freeControlNode(n);
      else {
        this.ctx.txQueue.add(n);
        this.ctx.tx.counters.resent++;
      }
      return false;
    });
  }

  /**
   * ctkit's addition: a HELLO that follows what we already took from the same
   * peer (a little ahead of the last sequence number, as during the handshake,
   * when the peer sets HELLO on everything) is tracked like any message, so a
   * gap gets its NACK. The reference accepts every HELLO message blindly and
   * empties its resend queue each time, so losses during the handshake are
   * never recovered. A restarted peer starts again far from where it was.
   */
  private continuesSession(seq: number): boolean {
    if (!this.ctx.seq.isSet) return false;
    const ahead = (seq - this.ctx.seq.lastRecv) >>> 0;
    return ahead >= 1 && ahead < SESSION_WINDOW;
  }

  private digest(h: MessageHeader): number {
    if (isData(h.type, h.flags)) return MSG_DATA;
    if (isAck(h.type, h.flags)) {
      if (before(h.to, h.from)) return MSG_BAD;
      this.resendUnacknowledged(h.from);
      this.emptyResend({ from: h.from, to: h.to });
      return MSG_CTL;
    }
    if (isNack(h.type, h.flags)) {
      if (before(h.to, h.from)) return MSG_BAD;
      this.ctx.tx.counters.nackReceived++;
      this.resend({ from: h.from, to: h.to });
      return MSG_CTL;
    }
    if (isResync(h.type, h.flags)) {
      this.ctx.log.log("notice", "resync requested by other node");
      this.bulk();
      return MSG_CTL;
    }
    if (isAlive(h.type, h.flags)) return MSG_CTL;
    return MSG_BAD;
  }

  private digestHello(h: MessageHeader): boolean {
    let ret = false;
    if (h.flags & F_HELLO) {
      this.sayHelloBack = true;
      ret = true;
    }
    if ((h.flags & F_HELLO_BACK) && this.hello === HELLO_SAY) this.hello = HELLO_DONE;
    return ret;
  }

  recv(h: MessageHeader): number {
    let ret: number;
    if (this.digestHello(h) && !this.continuesSession(h.seq)) {
      // The peer (re)started: it knows nothing of what we were acknowledging or resending.
      if (this.ackFromSet && before(h.seq, this.ackFrom)) {
        this.window = this.windowSize - 1;
        this.ackFrom = h.seq;
      }
      // The reference drops everything unacknowledged here. ctkit drops only the
      // control messages (they referred to the old session) and keeps the
      // objects: those the peer never got are sent again once its first ACK
      // shows where its sequence starts (resendUnacknowledged).
      this.dropControlMessages();
      ret = this.inSync(h);
    } else {
      // A HELLO message the reference would not track is not counted either.
      const { state, expected } = this.ctx.seq.track(h.seq, !(h.flags & F_HELLO));
      if (state === SEQ_AFTER) {
        ret = this.digest(h);
        if (ret !== MSG_BAD) {
          if (this.ackFromSet) {
            this.queueControl(F_ACK, this.ackFrom, expected - 1);
            this.ackFromSet = false;
          }
          this.queueControl(F_NACK, expected, h.seq - 1);
          this.ctx.tx.counters.nackSent++;
          this.window = this.windowSize - 1;
          this.ackFrom = h.seq;
          this.ackFromSet = true;
        }
      } else if (state === SEQ_BEFORE) {
        ret = MSG_DROP;
      } else {
        ret = this.inSync(h);
      }
    }
    if (ret === MSG_DATA || ret === MSG_CTL) this.ctx.seq.update(h.seq);
    return ret;
  }

  private inSync(h: MessageHeader): number {
    const ret = this.digest(h);
    if (ret === MSG_BAD) return ret;
    if (!this.ackFromSet) {
      this.ackFromSet = true;
      this.ackFrom = h.seq;
    }
    if (--this.window <= 0) {
      this.queueControl(F_ACK, this.ackFrom, h.seq);
      this.window = this.windowSize;
      this.ackFromSet = false;
    }
    return ret;
  }

  private helloFlags(): number {
    let f = 0;
    if (this.hello === HELLO_INIT) this.hello = HELLO_SAY;
    if (this.hello === HELLO_SAY) f |= F_HELLO;
    if (this.sayHelloBack) {
      f |= F_HELLO_BACK;
      this.sayHelloBack = false;
    }
    return f;
  }

  /** The resend queue is full: drop its oldest message. */
  private purgeFull(): void {
    const n = this.rsQueue.shift();
    if (!n) return;
    if (n.kind === "ctl") freeControlNode(n);
    else putObject(n.data as SyncObject);
  }

  private keep(n: QueueNode): void {
    if (this.rsQueue.add(n) < 0) {
      this.purgeFull();
      this.rsQueue.add(n);
    }
  }

  xmit(): void {
    const { tx, txQueue } = this.ctx;
    for (let n = txQueue.shift(); n; n = txQueue.shift()) {
      if (n.kind === "ctl") {
        const c = n.data as ControlMessage;
        c.flags |= this.helloFlags();
        // The node carries the seq too: ACK/NACK ranges match resend-queue nodes by n.seq, so a
        // control node left at 0 was never released by an ACK nor resent on a NACK (a lost NACK
        // then left its gap unrecovered for good).
        c.seq = n.seq = tx.control(c.flags, c.from, c.to);
        if (c.flags & (F_ACK | F_NACK | F_RESYNC)) this.keep(n);
        else freeControlNode(n);
      } else {
        n.seq = transmitObject(tx, n.data as SyncObject, this.helloFlags());
        // Released once acknowledged.
        this.keep(n);
      }
    }
    this.alive.touch();
  }

  local(code: number, reply: Reply): void {
    switch (code) {
      case R.REQUEST_DUMP:
        this.requestResync();
        break;
      case R.SEND_BULK:
        this.bulk();
        break;
      case R.STATS_RSQUEUE: {
        let s = `resent queue (len=${this.rsQueue.length})\n`;
        this.rsQueue.iterate((n) => {
          s += n.kind === "ctl"
            ? `control -> seq:${(n.data as ControlMessage).seq} flags:${(n.data as ControlMessage).flags}\n`
            : `object -> seq:${n.seq}\n`;
        });
        reply.write(s);
        break;
      }
    }
  }

  requestResync(): void {
    this.ctx.log.log("notice", "resync requested");
    this.queueControl(F_RESYNC);
  }

  kill(): void {
    this.alive.stop();
    this.rsQueue.destroy();
  }
}
