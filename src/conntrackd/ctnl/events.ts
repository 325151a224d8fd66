// The ctnetlink event socket: subscribed to the conntrack (and expectation)
// multicast groups, drained by a worker thread into a shared ring
// (event_ring.ts) and decoded from there on the JS thread. ENOBUFS (the kernel
// dropped events) is reported to the caller, which grows the buffer and
// schedules a resync as the reference does.
import { setImmediate } from "node:timers";
import { libc } from "../../../ffi/libc.ts";
import { decodeConntrack, decodeExpect, eventMsgType } from "../../conntrack/decode.ts";
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import {
  NETLINK_NO_ENOBUFS,
  NFNL_SUBSYS_CTNETLINK,
  NFNL_SUBSYS_CTNETLINK_EXP,
  SOL_NETLINK,
} from "../../netlink/constants.ts";
import { MSG_NEW } from "../../conntrack/format/common.ts";
import { EventRing } from "./event_ring.ts";
import { NetlinkError, NetlinkSocket } from "../../netlink/socket.ts";

/** NETLINK_BROADCAST_SEND_ERROR: the kernel reports failed event deliveries to the sender. */
const NETLINK_BROADCAST_SEND_ERROR = 4;

export interface EventSink {
  conntrack(type: number, ct: Conntrack, portid: number): void;
  /** A NEW conntrack event before it is decoded; true when handled (conntrack() is then not called). */
  newConntrack?(buf: Uint8Array, v: DataView, off: number, len: number, portid: number): boolean;
  expect(type: number, exp: Expect, portid: number): void;
  /** The kernel dropped events (ENOBUFS). */
  overrun(): void;
  /** Any other receive error (counted as "catch event failed"). */
  failed(code: number): void;
}

export class EventSocket {
  private readonly sock: NetlinkSocket;
  private ring: EventRing | null = null;
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
    this.ring?.close();
  }

  /**
   * Receives and dispatches events until closed. A worker thread drains the
   * socket into a shared ring (event_ring.ts) so bursts never wait on this
   * thread; here every datagram is decoded and handed to `sink`.
   */
  async run(sink: EventSink): Promise<void> {
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
        const t = eventMsgType(type, flags);
        if (t === MSG_NEW && sink.newConntrack?.(buf, v, off, len, pid)) return;
        sink.conntrack(t, decodeConntrack(buf, v, off, len), pid);
      } else if (subsys === NFNL_SUBSYS_CTNETLINK_EXP) {
        sink.expect(eventMsgType(type, flags), decodeExpect(buf, v, off, len), pid);
      }
    };
    const ring = this.ring = new EventRing(this.sock.fd);
    await ring.run({
      datagram: (buf, view, len) => {
        try {
          this.sock.walk(len, visit, buf, view);
        } catch (e) {
          if (!(e instanceof NetlinkError)) throw e;
          sink.failed(e.errno);
        }
      },
      overrun: () => sink.overrun(),
      failed: (code) => sink.failed(code),
    }, yieldToLoop);
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
