// Interface state for link failover and `-s link`: an rtnetlink socket in the
// link group (RTMGRP_LINK) keeps each interface's flags current, seeded by a
// dump at open (the reference's nlif handle). Messages are parsed here: only
// struct ifinfomsg (index, flags) and IFLA_IFNAME are needed.
import { errno } from "../../../ffi/libc.ts";
import {
  AF_NETLINK,
  EAGAIN,
  EINTR,
  ENOBUFS,
  libcSocket,
  MSG_DONTWAIT,
  SOCK_RAW,
} from "../../../ffi/libc_socket.ts";
import { bindSocket, closeSocket, openSocket, SocketCallError, withSocket } from "./socket.ts";

const NETLINK_ROUTE = 0;
const RTMGRP_LINK = 0x1;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSGHDR = 16;
const IFINFOMSG = 16;
const IFLA_IFNAME = 3;

/** Source of interface flags (IFF_UP, IFF_RUNNING, ...) by index. */
export interface LinkFlags {
  flags(ifindex: number): number | undefined;
}

export interface LinkState {
  name: string;
  flags: number;
}

function sockaddrNl(groups: number): Uint8Array {
  const sa = new Uint8Array(12);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_NETLINK, true);
  v.setUint32(8, groups, true);
  return sa;
}

export class LinkWatcher implements LinkFlags {
  private readonly links = new Map<number, LinkState>();
  private readonly rx = new Uint8Array(32768);
  private readonly rxView = new DataView(this.rx.buffer);
  private seq = Math.floor(Date.now() / 1000) >>> 0;
  private dumpSeq = -1;
  /** Events were lost while a dump ran: dump again when it ends. */
  private redump = false;

  private constructor(readonly fd: number) {}

  /** Opens the watcher and loads the current interfaces; throws Error(`can't open interface watcher`). */
  static open(): LinkWatcher {
    let fd = -1;
    try {
      fd = withSocket(openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), (fd) => {
        bindSocket(fd, sockaddrNl(RTMGRP_LINK));
      });
      const w = new LinkWatcher(fd);
      w.requestDump();
      // The kernel builds each part of a dump when the previous one is read, so this never waits.
      for (let i = 0; i < 10000 && w.dumpSeq >= 0; i++) {
        if (w.readOnce() < 0) break;
      }
      return w;
    } catch (e) {
      closeSocket(fd);
      throw new Error("can't open interface watcher", { cause: e });
    }
  }

  /** Flags of an interface by index; undefined when unknown. */
  flags(ifindex: number): number | undefined {
    return this.links.get(ifindex)?.flags;
  }

  /** Name and flags of every known interface. */
  snapshot(): Map<number, LinkState> {
    return new Map(this.links);
  }

  /**
   * Reads every queued rtnetlink datagram without waiting, updating the
   * interface table; `after` runs once per datagram (the reference checks the
   * active link after each one). Returns the number of datagrams.
   */
  receive(after?: () => void): number {
    let count = 0;
    for (;;) {
      const n = this.readOnce();
      if (n < 0) break;
      count++;
      after?.();
    }
    return count;
  }

  close(): void {
    closeSocket(this.fd);
  }

  /** One datagram: its length, or -1 when nothing is queued. */
  private readOnce(): number {
    for (;;) {
      const n = Number(
        libcSocket().recvfrom(this.fd, this.rx, BigInt(this.rx.length), MSG_DONTWAIT, null, null),
      );
      if (n >= 0) {
        this.parse(n);
        return n;
      }
      const e = errno();
      if (e === EINTR) continue;
      if (e === ENOBUFS) {
        // Link events were dropped: the table may be stale, so read it again.
        if (this.dumpSeq >= 0) this.redump = true;
        else this.requestDump();
        continue;
      }
      if (e === EAGAIN) return -1;
      throw new SocketCallError(e, "recv");
    }
  }

  private requestDump(): void {
    const req = new Uint8Array(NLMSGHDR + IFINFOMSG);
    const v = new DataView(req.buffer);
    this.seq = (this.seq + 1) >>> 0;
    v.setUint32(0, req.length, true);
    v.setUint16(4, RTM_GETLINK, true);
    v.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
    v.setUint32(8, this.seq, true);
    const kernel = sockaddrNl(0);
    if (Number(libcSocket().sendto(this.fd, req, BigInt(req.length), 0, kernel, kernel.length)) < 0) {
      throw new SocketCallError(errno(), "sendto");
    }
    this.dumpSeq = this.seq;
  }

  private parse(n: number): void {
    const v = this.rxView;
    let off = 0;
    while (off + NLMSGHDR <= n) {
      const len = v.getUint32(off, true);
      if (len < NLMSGHDR || off + len > n) break;
      const type = v.getUint16(off + 4, true);
      const seq = v.getUint32(off + 8, true);
      if (type === RTM_NEWLINK || type === RTM_DELLINK) {
        this.linkMessage(type, off, len);
      } else if ((type === NLMSG_DONE || type === NLMSG_ERROR) && seq === this.dumpSeq) {
        this.dumpSeq = -1;
        if (this.redump) {
          this.redump = false;
          this.requestDump();
        }
      }
      off += (len + 3) & ~3;
    }
  }

  private linkMessage(type: number, off: number, len: number): void {
    if (len < NLMSGHDR + IFINFOMSG) return;
    const v = this.rxView;
    const body = off + NLMSGHDR;
    const index = v.getInt32(body + 4, true);
    if (type === RTM_DELLINK) {
      this.links.delete(index);
      return;
    }
    const flags = v.getUint32(body + 8, true);
    let name = this.links.get(index)?.name ?? "";
    for (let a = body + IFINFOMSG; a + 4 <= off + len;) {
      const alen = v.getUint16(a, true);
      if (alen < 4 || a + alen > off + len) break;
      if ((v.getUint16(a + 2, true) & 0x3fff) === IFLA_IFNAME) {
        const raw = this.rx.subarray(a + 4, a + alen);
        const end = raw.indexOf(0);
        name = new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
      }
      a += (alen + 3) & ~3;
    }
    this.links.set(index, { name, flags });
  }
}
