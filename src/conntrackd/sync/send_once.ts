// A transmit round of the protocols without acknowledgements (NOTRACK,
// ALARM): everything queued goes out once; control messages are freed and
// objects released as soon as they are sent.
import { transmitObject } from "./internal.ts";
import { type ControlMessage, putObject, type SyncContext, type SyncObject } from "./protocol.ts";
import { freeControlNode } from "./queue.ts";

export function sendQueuedOnce(ctx: SyncContext): void {
  const { tx, txQueue } = ctx;
  for (let n = txQueue.shift(); n; n = txQueue.shift()) {
    if (n.kind === "ctl") {
      const c = n.data as ControlMessage;
      tx.control(c.flags, c.from, c.to);
      freeControlNode(n);
    } else {
      const o = n.data as SyncObject;
      transmitObject(tx, o);
      putObject(o);
    }
  }
}
