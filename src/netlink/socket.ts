// A NETLINK_NETFILTER socket opened through libmnl. Reads go into one reusable
// buffer and are parsed in TypeScript a whole datagram at a time.
import { libmnl } from "../../ffi/libmnl.ts";
import { errno, libc, libcWaiting } from "../../ffi/libc.ts";
import type { MmsgBatch } from "./mmsg.ts";
import {
  EAGAIN,
  EINTR,
  NETLINK_NETFILTER,
  NLM_F_DUMP_INTR,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SOL_SOCKET,
} from "./constants.ts";

/** A failed netlink operation; `errno` is the positive error code. */
export class NetlinkError extends Error {
  constructor(readonly errno: number, readonly seq = 0) {
    super(`netlink error ${errno}`);
    this.name = "NetlinkError";
  }
}

const MSG_DONTWAIT = 0x40;
const POLLIN = 1;

/** Visitor for one netlink message inside a received datagram. */
export type MessageVisitor = (
  buf: Uint8Array,
  view: DataView,
  off: number,
  len: number,
  type: number,
  flags: number,
  pid: number,
) => void;

export class NetlinkSocket {
  readonly fd: number;
  readonly portid: number;
  private seqNext: number;
  readonly rxbuf: Uint8Array;
  readonly rxview: DataView;
  private pollfd = new Uint8Array(8);
  /** Set when a dump was interrupted by a concurrent change (NLM_F_DUMP_INTR). */
  dumpInterrupted = false;

  private constructor(private readonly nl: Deno.PointerObject, rxSize: number) {
    this.fd = libmnl().mnl_socket_get_fd(nl);
    this.portid = libmnl().mnl_socket_get_portid(nl);
    this.seqNext = Math.floor(Date.now() / 1000) >>> 0;
    this.rxbuf = new Uint8Array(rxSize);
    this.rxview = new DataView(this.rxbuf.buffer);
    new DataView(this.pollfd.buffer).setInt32(0, this.fd, true);
    new DataView(this.pollfd.buffer).setInt16(4, POLLIN, true);
  }

  /** Opens and binds a socket; `groups` is the multicast bitmask (0 for requests only). */
  static open(groups = 0, rxSize = 1 << 17): NetlinkSocket {
    const nl = libmnl().mnl_socket_open(NETLINK_NETFILTER);
    if (nl === null) throw new NetlinkError(errno());
    if (libmnl().mnl_socket_bind(nl, groups >>> 0, 0) < 0) {
      const e = errno();
      libmnl().mnl_socket_close(nl);
      throw new NetlinkError(e);
    }
    return new NetlinkSocket(nl, rxSize);
  }

  nextSeq(): number {
    this.seqNext = (this.seqNext + 1) >>> 0;
    return this.seqNext;
  }

  send(bytes: Uint8Array): void {
    const n = libmnl().mnl_socket_sendto(this.nl, bytes, BigInt(bytes.length));
    if (Number(n) < 0) throw new NetlinkError(errno());
  }

  /** Blocking receive of one datagram into rxbuf; returns its length. */
  recv(): number {
    for (;;) {
      const n = Number(libc().recv(this.fd, this.rxbuf, BigInt(this.rxbuf.length), 0));
      if (n >= 0) return n;
      const e = errno();
      if (e !== EINTR) throw new NetlinkError(e);
    }
  }

  /** recv() into a given buffer with flags; throws on errors (EAGAIN included). */
  recvInto(buf: Uint8Array, flags: number): number {
    for (;;) {
      const n = Number(libc().recv(this.fd, buf, BigInt(buf.length), flags));
      if (n >= 0) return n;
      const e = errno();
      if (e !== EINTR) throw new NetlinkError(e);
    }
  }

  /** Non-blocking receive of one datagram: its length, or -1 when nothing is queued. */
  tryRecv(): number {
    for (;;) {
      const n = Number(libc().recv(this.fd, this.rxbuf, BigInt(this.rxbuf.length), MSG_DONTWAIT));
      if (n >= 0) return n;
      const e = errno();
      if (e === EAGAIN) return -1;
      if (e !== EINTR) throw new NetlinkError(e);
    }
  }

  /**
   * Non-blocking receive of up to a batch of datagrams in one call: how many
   * arrived (0 when nothing is queued). Throws NetlinkError (e.g. ENOBUFS).
   */
  tryRecvMany(batch: MmsgBatch): number {
    for (;;) {
      const n = libcWaiting().recvmmsg(this.fd, batch.hdrs, batch.count, MSG_DONTWAIT, null);
      if (n >= 0) return n;
      const e = errno();
      if (e === EAGAIN) return 0;
      if (e !== EINTR) throw new NetlinkError(e);
    }
  }

  /** Waits off the JS thread until readable (or timeout); the event loop stays free. */
  async waitReadable(timeoutMs = -1): Promise<boolean> {
    const r = await libcWaiting().poll_nb(this.pollfd, 1n, timeoutMs);
    return r > 0;
  }

  setReceiveBuffer(size: number): number {
    const v = new Uint8Array(4);
    new DataView(v.buffer).setInt32(0, Math.min(size, 0x7fffffff), true);
    if (libc().setsockopt(this.fd, SOL_SOCKET, SO_RCVBUFFORCE, v, 4) < 0) {
      libc().setsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, v, 4);
    }
    return this.receiveBuffer();
  }

  receiveBuffer(): number {
    const v = new Uint8Array(4);
    const l = new Uint8Array(4);
    new DataView(l.buffer).setUint32(0, 4, true);
    libc().getsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, v, l);
    return new DataView(v.buffer).getInt32(0, true);
  }

  close(): void {
    libmnl().mnl_socket_close(this.nl);
  }

  /**
   * Walks the messages of a datagram. Returns "done" on NLMSG_DONE, or the
   * sequence number of an ACK (error 0) as {ack: seq}; throws NetlinkError on an
   * error reply. Data messages go to `visit`.
   */
  walk(n: number, visit: MessageVisitor, buf = this.rxbuf, v = this.rxview): WalkResult {
    let off = 0;
    let result: WalkResult = WALK_MORE;
    while (off + 16 <= n) {
      const len = v.getUint32(off, true);
      if (len < 16 || off + len > n) break;
      const type = v.getUint16(off + 4, true);
      const flags = v.getUint16(off + 6, true);
      if (flags & NLM_F_DUMP_INTR) this.dumpInterrupted = true;
      if (type === NLMSG_ERROR) {
        const err = -v.getInt32(off + 16, true);
        const seq = v.getUint32(off + 8, true);
        if (err !== 0) throw new NetlinkError(err, seq);
        result = { ack: seq };
      } else if (type === NLMSG_DONE) {
        return WALK_DONE;
      } else if (type !== NLMSG_NOOP && type !== NLMSG_OVERRUN) {
        visit(buf, v, off, len, type, flags, v.getUint32(off + 12, true));
      }
      off += (len + 3) & ~3;
    }
    return result;
  }

  /**
   * Sends a dump request and feeds every reply message to `visit` until
   * NLMSG_DONE (small dumps; big ones go through dump_pipeline.ts).
   */
  dump(request: Uint8Array, visit: MessageVisitor): void {
    this.send(request);
    for (;;) {
      if (this.walk(this.recv(), visit) === WALK_DONE) return;
    }
  }

  /** Sends a request that gets a single reply datagram (no ACK asked) and walks it. */
  talk(request: Uint8Array, visit: MessageVisitor): void {
    this.send(request);
    this.walk(this.recv(), visit);
  }

  /**
   * Sends one request with NLM_F_ACK and waits for its acknowledgement; reply
   * messages (e.g. the entry of a GET) go to `visit`.
   */
  request(request: Uint8Array, visit: MessageVisitor = noVisit): void {
    this.send(request);
    for (;;) {
      const n = this.recv();
      const r = this.walk(n, visit);
      if (r === WALK_DONE || typeof r === "object") return;
    }
  }
}

export type WalkResult = "more" | "done" | { ack: number };
const WALK_MORE = "more";
export const WALK_DONE = "done";
const noVisit: MessageVisitor = () => {};
