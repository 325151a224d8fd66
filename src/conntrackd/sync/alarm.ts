// ALARM: every internal entry is re-sent at a random moment within
// RefreshTime; the peer forgets entries not refreshed within CacheTimeout. No
// acknowledgements, no resync requests.
import type { Reply } from "../modes/mode.ts";
import type { QueueNode } from "./queue.ts";
import { getObject, type SyncContext, type SyncObject, type SyncProtocol } from "./protocol.ts";
import { sendQueuedOnce } from "./send_once.ts";
import { type MessageHeader, MSG_CTL, MSG_DATA } from "./wire/mod.ts";

/** The reference's refresh delay: 1..RefreshTime s plus 0.2..1 s. */
export function refreshDelayMs(refreshTime: number): number {
  const secs = Math.floor(Math.random() * refreshTime) + 1;
  const usec = (Math.floor(Math.random() * 5) + 1) * 200000 - 1;
  return secs * 1000 + usec / 1000;
}

export class AlarmProtocol implements SyncProtocol {
  readonly externalTimeout = true;

  constructor(private readonly ctx: SyncContext, private readonly refreshTime: number) {}

  recv(h: MessageHeader): number {
    // Control messages (someone running another mode) are ignored, not errors.
    if (h.flags) return MSG_CTL;
    this.ctx.seq.track(h.seq);
    return MSG_DATA;
  }

  enqueue(node: QueueNode<SyncObject>): void {
    if (this.ctx.txQueue.add(node) > 0) getObject(node.data);
  }

  xmit(): void {
    sendQueuedOnce(this.ctx);
  }

  local(_code: number, _reply: Reply): void {}

  kill(): void {}
}
