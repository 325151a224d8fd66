// The ctnetlink event socket: subscribed to the conntrack (and expectation)
// multicast groups, waited on off the JS thread, then drained and decoded in
// bulk on it. ENOBUFS (the kernel dropped events) is reported to the caller,
// which grows the buffer and schedules a resync as the reference does.
import { setImmediate } from "node:timers";
import { errno, libc } from "../../../ffi/libc.ts";
import * as A from "../../conntrack/attrs.ts";
import { decodeConntrack, decodeExpect } from "../../conntrack/decode.ts";
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import {
  EAGAIN,
  ENOBUFS,
  ENOENT,
  NETLINK_NO_ENOBUFS,
  NFNL_SUBSYS_CTNETLINK,
  NFNL_SUBSYS_CTNETLINK_EXP,
  NLM_F_CREATE,
  SOL_NETLINK,
} from "../../netlink/constants.ts";
import { MmsgBatch } from "../../netlink/mmsg.ts";
import { NetlinkError, NetlinkSocket } from "../../netlink/socket.ts";

/** How long a flood of events may hold the loop before other work gets a turn. */
const YIELD_AFTER_MS = 20;

/** NETLINK_BROADCAST_SEND_ERROR: the kernel reports failed event deliveries to the sender. */
const NETLINK_BROADCAST_SEND_ERROR = 4;

export const EV_NEW = 1;
export const EV_UPDATE = 2;
export const EV_DESTROY = 4;
/** A message that is none of the above (counted as "events unknown type"). */
export const EV_UNKNOWN = 0;

export interface EventSink {
  conntrack(type: number, ct: Conntrack, portid: number): void;
  expect(type: number, exp: Expect, portid: number): void;
  /** The kernel dropped events (ENOBUFS). */
  overrun(): void;
  /** Any other receive error (counted as "catch event failed"). */
  failed(code: number): void;
}

function eventType(type: number, flags: number): number {
  const msg = type & 0xff;
  if (msg === A.IPCTNL_MSG_CT_NEW) return flags & NLM_F_CREATE ? EV_NEW : EV_UPDATE;
  if (msg === A.IPCTNL_MSG_CT_DELETE) return EV_DESTROY;
  return EV_UNKNOWN;
}

export class EventSocket {
  private readonly sock: NetlinkSocket;
  private readonly batch = new MmsgBatch(64, 1 << 14);
  private closed = false;

  constructor(groups: number) {
    this.sock = NetlinkSocket.open(groups);
  }

  get fd(): number {
    return this.sock.fd;
  }

  /** NetlinkEventsReliable: delivery failures reported to the sender, no ENOBUFS here. */
  setReliable(): void {
    const on = new Uint8Array([1, 0, 0, 0]);
    libc().setsockopt(this.sock.fd, SOL_NETLINK, NETLINK_BROADCAST_SEND_ERROR, on, 4);
    libc().setsockopt(this.sock.fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, on, 4);
  }

  /** Sets the receive buffer as nfnl_rcvbufsiz does and returns the size the kernel reports. */
  setBuffer(size: number): number {
    return this.sock.setReceiveBuffer(size);
  }

  get buffer(): number {
    return this.sock.receiveBuffer();
  }

  close(): void {
    this.closed = true;
  }

  /**
   * Receives and dispatches events until closed. After at least `iterationLimit`
   * events and 20 ms of continuous work it yields to the event loop so the
   * control socket and timers run.
   */
  async run(sink: EventSink, iterationLimit: number): Promise<void> {
    const visit = (
      buf: Uint8Array,
      v: DataView,
      off: number,
      len: number,
      type: number,
      flags: number,
      pid: number,
    ) => {
      const subsys = type >> 8;
      if (subsys === NFNL_SUBSYS_CTNETLINK) {
        sink.conntrack(eventType(type, flags), decodeConntrack(buf, v, off, len), pid);
      } else if (subsys === NFNL_SUBSYS_CTNETLINK_EXP) {
        sink.expect(eventType(type, flags), decodeExpect(buf, v, off, len), pid);
      }
    };
    const batch = this.batch;
    while (!this.closed) {
      await this.sock.waitReadable(-1);
      let handled = 0, since = performance.now();
      while (!this.closed) {
        let k: number;
        try {
          k = this.sock.tryRecvMany(batch);
        } catch (e) {
          const code = e instanceof NetlinkError ? e.errno : errno();
          if (code === ENOBUFS) sink.overrun();
          else if (code !== ENOENT && code !== EAGAIN) sink.failed(code);
          continue;
        }
        if (k === 0) break;
        for (let i = 0; i < k; i++) {
          try {
            this.sock.walk(batch.length(i), visit, batch.slot(i), batch.slotView(i));
          } catch (e) {
            if (!(e instanceof NetlinkError)) throw e;
            sink.failed(e.errno);
          }
        }
        handled += k;
        // Draining fast is what keeps the kernel buffer from overrunning: only a
        // long flood (not one burst) gives the control socket and timers a turn.
        if (handled >= iterationLimit && performance.now() - since > YIELD_AFTER_MS) {
          handled = 0;
          await yieldToLoop();
          since = performance.now();
        }
        if (k < batch.count) break;
      }
    }
  }
}

/**
 * Lets queued tasks (control socket, timers, I/O completions) run before continuing. An
 * immediate runs right after the loop's I/O phase, a few µs later; setTimeout(0) costs 1–3 ms
 * here, which a commit or dump yielding every few thousand entries paid a hundred times.
 */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
