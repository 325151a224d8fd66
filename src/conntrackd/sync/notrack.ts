// NOTRACK: send every change once, no acknowledgements; ALIVE every second
// when idle; a peer can ask for a full resync.
import * as R from "../client/codes.ts";
import type { Reply } from "../modes/mode.ts";
import { freeControlNode, newControlNode, Queue, type QueueNode } from "./queue.ts";
import {
  type ControlMessage,
  getObject,
  type SyncContext,
  type SyncObject,
  type SyncProtocol,
} from "./protocol.ts";
import { sendQueuedOnce } from "./send_once.ts";
import {
  F_ALIVE,
  F_RESYNC,
  isAlive,
  isData,
  isResync,
  type MessageHeader,
  MSG_BAD,
  MSG_CTL,
  MSG_DATA,
} from "./wire/mod.ts";
import { IdleTimer } from "./idle_timer.ts";

const ALIVE_MS = 1000;

export class NotrackProtocol implements SyncProtocol {
  readonly externalTimeout = false;
  private readonly alive = new IdleTimer(ALIVE_MS, () => {
    this.queueControl(F_ALIVE);
    this.alive.touch();
  });

  constructor(private readonly ctx: SyncContext) {
    this.alive.touch();
  }

  private queueControl(flags: number): void {
    const n = newControlNode<ControlMessage>({ flags, from: 0, to: 0, seq: 0 });
    if (this.ctx.txQueue.add(n) < 0) freeControlNode(n);
  }

  /**
   * resync_send: every internal object goes out again. Without an internal cache the kernel table
   * goes out instead (kernel_resync), which logs nothing.
   */
  private bulk(): void {
    if (this.ctx.bypass) {
      this.ctx.sendKernelTable();
      return;
    }
    this.ctx.log.log("notice", "sending bulk update");
    for (const n of this.ctx.internalObjects()) this.enqueue(n);
  }

  recv(h: MessageHeader): number {
    this.ctx.seq.track(h.seq);
    let ret: number;
    if (isData(h.type, h.flags)) ret = MSG_DATA;
    else if (isResync(h.type, h.flags)) {
      this.ctx.log.log("notice", "resync requested by other node");
      this.bulk();
      ret = MSG_CTL;
    } else if (isAlive(h.type, h.flags)) ret = MSG_CTL;
    else ret = MSG_BAD;
    if (ret !== MSG_BAD) this.ctx.seq.update(h.seq);
    return ret;
  }

  enqueue(node: QueueNode<SyncObject>): void {
    if (this.ctx.txQueue.add(node) > 0) getObject(node.data);
  }

  xmit(): void {
    sendQueuedOnce(this.ctx);
    this.alive.touch();
  }

  local(code: number, _reply: Reply): void {
    if (code === R.REQUEST_DUMP) {
      this.ctx.log.log("notice", "resync requested");
      this.queueControl(F_RESYNC);
    } else if (code === R.SEND_BULK) this.bulk();
  }

  /** resync_at_startup */
  requestResync(): void {
    this.ctx.log.log("notice", "resync requested");
    this.queueControl(F_RESYNC);
  }

  kill(): void {
    this.alive.stop();
  }
}

export { Queue };
