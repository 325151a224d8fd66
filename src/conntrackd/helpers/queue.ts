// An NFQUEUE binding on one NETLINK_NETFILTER socket: queue configuration
// (bind, copy mode and range, queue length, flags such as conntrack info and
// fail-open), receiving queued packets in batches without blocking the JS
// thread (recvmmsg with MSG_DONTWAIT; waits run in poll() off the thread),
// and verdicts, gathered and sent several to a datagram.
import { NetlinkError, NetlinkSocket } from "../../netlink/socket.ts";
import { MessageBuilder } from "../../netlink/builder.ts";
import { MmsgBatch } from "../../netlink/mmsg.ts";
import { ENOBUFS, NLMSG_DONE, NLMSG_ERROR } from "../../netlink/constants.ts";
import { pollFds } from "../channel/poll.ts";
import {
  beginQueueMsg,
  NFNL_SUBSYS_QUEUE,
  NFQA_CFG_F_CONNTRACK,
  NFQA_CFG_F_FAIL_OPEN,
  NFQNL_CFG_CMD_BIND,
  NFQNL_CFG_CMD_PF_BIND,
  NFQNL_CFG_CMD_PF_UNBIND,
  NFQNL_CFG_CMD_UNBIND,
  NFQNL_COPY_PACKET,
  NFQNL_MSG_CONFIG,
  NFQNL_MSG_PACKET,
  NFQNL_MSG_VERDICT,
  parseQueuedPacket,
  putConfigCmd,
  putConfigFlags,
  putConfigMaxLen,
  putConfigParams,
  putVerdict,
  QueuedPacket,
} from "./queue_msg.ts";

export interface QueueOptions {
  /** Bytes of each packet copied to user space (the reference: 0xffff). */
  copyRange?: number;
  /** NFQA_CFG_QUEUE_MAXLEN; 0 keeps the kernel's default (1024). */
  maxLen?: number;
  /** Attach the conntrack to each packet (NFQA_CFG_F_CONNTRACK), as the helpers need. */
  conntrack?: boolean;
  /** Let packets through while the queue is full (NFQA_CFG_F_FAIL_OPEN); the reference leaves it off. */
  failOpen?: boolean;
}

/** Called for each queued packet: the message is at buf[off..off+len), parsed into `p`. */
export type PacketHandler = (
  buf: Uint8Array,
  view: DataView,
  off: number,
  len: number,
  p: QueuedPacket,
) => void;

const AF_INET = 2;
const BATCH = 32;
const SLOT = 0x10000 + 512;
const FLUSH_AT = 1 << 16;

export class NfQueue {
  readonly sock: NetlinkSocket;
  private readonly batch = new MmsgBatch(BATCH, SLOT);
  private readonly out = new MessageBuilder(FLUSH_AT * 2);
  private readonly packet = new QueuedPacket();
  /** Packets that arrived while a configuration request waited for its answer. */
  private readonly early: Uint8Array[] = [];
  private pending = 0;
  /** Counters: receive overruns (ENOBUFS), and error answers to verdicts. */
  overruns = 0;
  verdictErrors = 0;
  lastVerdictError = 0;

  private constructor(sock: NetlinkSocket) {
    this.sock = sock;
  }

  /** Opens the socket; `rcvbuf` sizes its receive buffer so bursts are not lost. */
  static open(rcvbuf = 4 << 20): NfQueue {
    const sock = NetlinkSocket.open(0, 1 << 17);
    sock.setReceiveBuffer(rcvbuf);
    return new NfQueue(sock);
  }

  get fd(): number {
    return this.sock.fd;
  }

  /** Sends one configuration message and waits for its acknowledgement; throws NetlinkError. */
  private configure(build: (b: MessageBuilder) => void): void {
    const b = new MessageBuilder(128);
    build(b);
    const bytes = b.end().bytesView().slice();
    this.sock.request(bytes, (buf, _v, off, len, type) => {
      if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) this.early.push(buf.slice(off, off + len));
    });
  }

  /** The reference's start-up: unbind then bind the protocol family (old kernels need it; no answer awaited). */
  rebindFamily(pf = AF_INET): void {
    for (const cmd of [NFQNL_CFG_CMD_PF_UNBIND, NFQNL_CFG_CMD_PF_BIND]) {
      const b = new MessageBuilder(64);
      beginQueueMsg(b, NFQNL_MSG_CONFIG, 0);
      putConfigCmd(b, pf, cmd);
      this.sock.send(b.end().bytesView());
    }
  }

  /** Binds queue `num` to this socket. EBUSY: another socket has it. */
  bind(num: number): void {
    this.configure((b) => {
      beginQueueMsg(b, NFQNL_MSG_CONFIG, num, true);
      putConfigCmd(b, AF_INET, NFQNL_CFG_CMD_BIND);
    });
  }

  /**
   * Copy mode and range, flags and queue length of a bound queue. With
   * `conntrack`, a kernel without the NFQUEUE conntrack glue answers EOPNOTSUPP.
   */
  setParams(num: number, o: QueueOptions): void {
    this.configure((b) => {
      beginQueueMsg(b, NFQNL_MSG_CONFIG, num, true);
      putConfigParams(b, NFQNL_COPY_PACKET, o.copyRange ?? 0xffff);
      const flags = (o.conntrack ? NFQA_CFG_F_CONNTRACK : 0) | (o.failOpen ? NFQA_CFG_F_FAIL_OPEN : 0);
      putConfigFlags(b, flags, 0xffffffff);
      if (o.maxLen && o.maxLen > 0) putConfigMaxLen(b, o.maxLen);
    });
  }

  unbind(num: number): void {
    this.configure((b) => {
      beginQueueMsg(b, NFQNL_MSG_CONFIG, num, true);
      putConfigCmd(b, AF_INET, NFQNL_CFG_CMD_UNBIND);
    });
  }

  /** Queues a verdict; `extra` appends attributes (payload, NFQA_CT, NFQA_EXP) to its message. */
  verdict(queue: number, id: number, verdict: number, extra?: (b: MessageBuilder) => void): void {
    const b = this.out;
    beginQueueMsg(b, NFQNL_MSG_VERDICT, queue);
    putVerdict(b, id, verdict);
    if (extra) extra(b);
    b.end();
    if (++this.pending >= 256 || b.len >= FLUSH_AT) this.flush();
  }

  /** Sends the gathered verdicts in one datagram. */
  flush(): void {
    if (this.pending === 0) return;
    const bytes = this.out.bytesView();
    this.pending = 0;
    try {
      this.sock.send(bytes);
    } finally {
      this.out.reset();
    }
  }

  /** Handles every packet queued right now (in batches); returns how many. */
  drain(handle: PacketHandler): number {
    let n = 0;
    while (this.early.length > 0) {
      const m = this.early.shift()!;
      n += this.walk(m, new DataView(m.buffer), m.length, handle);
    }
    for (;;) {
      let got: number;
      try {
        got = this.sock.tryRecvMany(this.batch);
      } catch (e) {
        // Packets were lost to a full socket buffer; the kernel queue goes on.
        if (e instanceof NetlinkError && e.errno === ENOBUFS) {
          this.overruns++;
          continue;
        }
        throw e;
      }
      if (got === 0) break;
      for (let i = 0; i < got; i++) {
        const slot = this.batch.slot(i);
        n += this.walk(slot, this.batch.slotView(i), this.batch.length(i), handle);
      }
      this.flush();
      if (got < BATCH) break;
    }
    this.flush();
    return n;
  }

  private walk(buf: Uint8Array, v: DataView, n: number, handle: PacketHandler): number {
    let off = 0, count = 0;
    while (off + 16 <= n) {
      const len = v.getUint32(off, true);
      if (len < 16 || off + len > n) break;
      const type = v.getUint16(off + 4, true);
      if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
        parseQueuedPacket(buf, v, off, len, this.packet);
        handle(buf, v, off, len, this.packet);
        count++;
      } else if (type === NLMSG_ERROR) {
        const err = -v.getInt32(off + 16, true);
        if (err !== 0) {
          this.verdictErrors++;
          this.lastVerdictError = err;
        }
      } else if (type === NLMSG_DONE) {
        break;
      }
      off += (len + 3) & ~3;
    }
    return count;
  }

  /**
   * Waits (off the JS thread) until packets are queued, or `timeoutMs`
   * passes; true when the socket is readable.
   */
  async wait(timeoutMs: number): Promise<boolean> {
    if (this.early.length > 0) return true;
    return (await pollFds([this.sock.fd], timeoutMs)).length > 0;
  }

  close(): void {
    this.sock.close();
  }
}
