// The daemon's requests to the kernel's conntrack and expectation tables:
// dumps, existence checks, deletes and creates. Requests go out in batches (one
// sendto() for many entries) and dumps are received a batch of datagrams at a
// time off the JS thread, so a 100 000-entry table never stalls the loop.
import { MessageBuilder } from "../../netlink/builder.ts";
import {
  AF_UNSPEC,
  ENOENT,
  NFNL_SUBSYS_CTNETLINK,
  NFNL_SUBSYS_CTNETLINK_EXP,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
} from "../../netlink/constants.ts";
import { type DumpBuffers, dumpPipelined, newDumpBuffers } from "../../netlink/dump_pipeline.ts";
import { exchange, ReplyTracker } from "../../netlink/exchange.ts";
import { libcWaiting } from "../../../ffi/libc.ts";
import { NetlinkSocket } from "../../netlink/socket.ts";
import * as A from "../../conntrack/attrs.ts";
import { decodeConntrack, decodeExpect } from "../../conntrack/decode.ts";
import { putConntrack, putConntrackKey, putExpect, putTuple } from "../../conntrack/encode.ts";
import { yieldToLoop } from "./events.ts";
import type { Conntrack, Expect } from "../../conntrack/model.ts";

/** Entries per batched request (each request is a few hundred bytes). */
const BATCH = 256;
/**
 * Create batches with the kernel at once (createPipelined). Two measured no faster than one: the
 * kernel's share is the bound, and the JS thread already builds the next batch meanwhile.
 */
const CREATE_DEPTH = 1;
/** GETs per batch: each is answered by the entry and an ACK. */
const GET_BATCH = 64;
/**
 * Receive buffer of request sockets: a batch's ACKs (and GET replies) must all
 * fit, or the kernel drops some (ENOBUFS) and the batch cannot be accounted for.
 */
const REQUEST_RCVBUF = 1 << 21;

/**
 * What a purge asks the kernel for: the original tuple and zone, as the
 * reference's nl_get_conntrack (which forgets the zone) — not the id, so an
 * entry the kernel re-created with the same tuple still counts as there.
 */
function putLookupKey(b: MessageBuilder, ct: Conntrack): void {
  putTuple(b, A.CTA_TUPLE_ORIG, ct.orig);
  if (ct.zone !== undefined) b.be16(A.CTA_ZONE, ct.zone);
}

/** A netlink socket for requests, with its own dump buffers so dumps on several sockets can overlap. */
export class KernelTable {
  readonly sock: NetlinkSocket;
  private readonly buffers: DumpBuffers = newDumpBuffers();
  private busy: Promise<void> = Promise.resolve();

  constructor() {
    this.sock = NetlinkSocket.open(0);
    this.sock.setReceiveBuffer(REQUEST_RCVBUF);
  }

  /** The socket's netlink port id: events it causes carry it (origin detection). */
  get portid(): number {
    return this.sock.portid;
  }

  close(): void {
    this.sock.close();
  }

  /** Runs one operation at a time on this socket: replies must not interleave. */
  private serial<T>(op: () => Promise<T> | T): Promise<T> {
    const run = this.busy.then(op);
    this.busy = run.then(() => {}, () => {});
    return run;
  }

  private request(subsys: number, msg: number, flags: number, family: number): MessageBuilder {
    const b = new MessageBuilder(256);
    b.begin((subsys << 8) | msg, NLM_F_REQUEST | flags, this.sock.nextSeq(), family);
    return b;
  }

  /** Dumps the conntrack table; every entry goes to `visit`. */
  dumpConntracks(visit: (ct: Conntrack) => void): Promise<void> {
    return this.dumpConntrackMessages((buf, v, off, len) => visit(decodeConntrack(buf, v, off, len)));
  }

  /** Dumps the conntrack table; every entry's netlink message (with its header, at `off`) goes to `visit`. */
  dumpConntrackMessages(
    visit: (buf: Uint8Array, v: DataView, off: number, len: number) => void,
  ): Promise<void> {
    return this.serial(() =>
      dumpPipelined(
        this.sock,
        this.request(NFNL_SUBSYS_CTNETLINK, A.IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC).end().bytesView(),
        visit,
        undefined,
        this.buffers,
      )
    );
  }

  /** Dumps the expectation table. */
  dumpExpects(visit: (exp: Expect) => void): Promise<void> {
    return this.serial(() =>
      dumpPipelined(
        this.sock,
        this.request(NFNL_SUBSYS_CTNETLINK_EXP, A.IPCTNL_MSG_EXP_GET, NLM_F_DUMP, AF_UNSPEC).end()
          .bytesView(),
        (buf, v, off, len) => visit(decodeExpect(buf, v, off, len)),
        undefined,
        this.buffers,
      )
    );
  }

  /**
   * Asks the kernel for each entry by its original tuple; `found` gets
   * the kernel's current version of those that exist, `missing` the others.
   */
  lookupConntracks(
    cts: Conntrack[],
    found: (cached: Conntrack, current: Conntrack) => void,
    missing: (cached: Conntrack) => void,
  ): Promise<void> {
    return this.serial(async () => {
      const b = new MessageBuilder(GET_BATCH * 160);
      for (let i = 0; i < cts.length; i += GET_BATCH) {
        if (i > 0) await yieldToLoop();
        const part = cts.slice(i, i + GET_BATCH);
        const seqs = this.encodeBatch(b.reset(), part, A.IPCTNL_MSG_CT_GET, 0, putLookupKey, false);
        const replies = new Map<number, Conntrack>();
        const errors = exchange(this.sock, b, seqs, (seq, buf, v, off, len) => {
          replies.set(seq, decodeConntrack(buf, v, off, len));
        });
        for (let k = 0; k < part.length; k++) {
          const cur = replies.get(seqs[k]);
          if (cur && !errors.has(seqs[k])) found(part[k], cur);
          else missing(part[k]);
        }
      }
    });
  }

  /**
   * Deletes entries by tuple; returns the errno of each failure except ENOENT (gone already), unless
   * `reportMissing` (the inject path counts a missing entry neither as deleted nor as failed).
   */
  deleteConntracks(cts: Conntrack[], reportMissing = false): Promise<Map<Conntrack, number>> {
    return this.serial(() =>
      this.batch(cts, A.IPCTNL_MSG_CT_DELETE, 0, (b, ct) => putConntrackKey(b, ct), !reportMissing)
    );
  }

  /**
   * Creates many entries, the kernel's work overlapped with ours: each batch
   * goes to the kernel through a sendto() on a worker thread (the kernel
   * creates the entries on that thread's CPU) while the next batch is built
   * here, in one pipeline however many entries there are. `put` writes an
   * item's attributes into its open request, `family` gives its address
   * family. Returns the errno of each failure.
   */
  createPipelined<T>(
    items: readonly T[],
    family: (item: T) => number,
    put: (b: MessageBuilder, item: T) => void,
  ): Promise<Map<T, number>> {
    return this.serial(async () => {
      const failed = new Map<T, number>();
      // CREATE_DEPTH batches with the kernel while the next is built. (Creates do not run in
      // parallel on two CPUs: ctnetlink takes them under one mutex.)
      const builders = Array.from({ length: CREATE_DEPTH + 1 }, () => new MessageBuilder(BATCH * 256));
      const replies = new ReplyTracker(this.sock);
      const inflight: { sent: Promise<number | bigint>; from: number; seqs: number[] }[] = [];
      const settle = async () => {
        const f = inflight.shift()!;
        // A failed send leaves its errno on the worker thread: report the batch as failed (EIO).
        if (Number(await f.sent) < 0) {
          for (let k = 0; k < f.seqs.length; k++) failed.set(items[f.from + k], 5);
          return;
        }
        replies.wait(f.seqs[f.seqs.length - 1]);
        if (replies.errors.size === 0) return;
        for (let k = 0; k < f.seqs.length; k++) {
          const e = replies.errors.get(f.seqs[k]);
          if (e !== undefined) failed.set(items[f.from + k], e);
        }
      };
      for (let i = 0, round = 0; i < items.length; i += BATCH, round++) {
        const b = builders[round % builders.length].reset();
        const part = items.slice(i, i + BATCH);
        const seqs = this.encodeBatch(
          b,
          part,
          A.IPCTNL_MSG_CT_NEW,
          NLM_F_CREATE | NLM_F_EXCL,
          put,
          true,
          family,
        );
        while (inflight.length >= CREATE_DEPTH) await settle();
        const bytes = b.bytesView();
        inflight.push({
          sent: libcWaiting().sendto_nb(this.sock.fd, bytes, BigInt(bytes.length), 0, null, 0),
          from: i,
          seqs,
        });
      }
      while (inflight.length) await settle();
      return failed;
    });
  }

  /** Creates entries (NLM_F_CREATE|NLM_F_EXCL); returns the errno of each failure. */
  createConntracks(cts: Conntrack[]): Promise<Map<Conntrack, number>> {
    return this.serial(() =>
      this.batch(cts, A.IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, (b, ct) => putConntrack(b, ct), false)
    );
  }

  /** Updates entries in place (no NLM_F_CREATE); returns the errno of each failure. */
  updateConntracks(cts: Conntrack[]): Promise<Map<Conntrack, number>> {
    return this.serial(() => this.batch(cts, A.IPCTNL_MSG_CT_NEW, 0, (b, ct) => putConntrack(b, ct), false));
  }

  /** Flushes the whole expectation table. */
  flushExpects(): Promise<number> {
    return this.serial(() => {
      const b = this.request(NFNL_SUBSYS_CTNETLINK_EXP, A.IPCTNL_MSG_EXP_DELETE, NLM_F_ACK, AF_UNSPEC).end();
      const errors = exchange(this.sock, b, [this.lastSeq(b)]);
      return errors.values().next().value ?? 0;
    });
  }

  /** Creates expectations; returns the errno of each failure. */
  createExpects(exps: Expect[]): Promise<Map<Expect, number>> {
    return this.eachExpect(exps, A.IPCTNL_MSG_EXP_NEW, NLM_F_CREATE | NLM_F_EXCL, true);
  }

  /** Deletes expectations by their expected tuple; returns the errno of each failure. */
  deleteExpects(exps: Expect[]): Promise<Map<Expect, number>> {
    return this.eachExpect(exps, A.IPCTNL_MSG_EXP_DELETE, 0, false);
  }

  /** Whether each expectation still exists (looked up by its expected tuple). */
  async lookupExpects(exps: Expect[], missing: (exp: Expect) => void): Promise<void> {
    for (const exp of (await this.eachExpect(exps, A.IPCTNL_MSG_EXP_GET, 0, false)).keys()) missing(exp);
  }

  /** One request per expectation (they are few); returns the errno of each failure. */
  private eachExpect(
    exps: Expect[],
    msg: number,
    flags: number,
    whole: boolean,
  ): Promise<Map<Expect, number>> {
    return this.serial(() => {
      const result = new Map<Expect, number>();
      for (const exp of exps) {
        const b = this.request(NFNL_SUBSYS_CTNETLINK_EXP, msg, flags | NLM_F_ACK, exp.tuple.l3);
        putExpect(
          b,
          exp,
          whole ? { expected: exp.tuple, master: exp.master, mask: exp.mask } : { expected: exp.tuple },
        );
        const e = exchange(this.sock, b.end(), [this.lastSeq(b)]).values().next().value;
        if (e) result.set(exp, e);
      }
      return result;
    });
  }

  private lastSeq(b: MessageBuilder): number {
    return b.view.getUint32(8, true);
  }

  /**
   * Encodes one batch of conntrack requests into `b`; returns their sequence
   * numbers. With `ackLast`, only the last request asks for an ACK: the kernel
   * reports every failure anyway and answers in order, so once the last is
   * acknowledged every error has arrived (no ACK per entry to build or read).
   */
  private encodeBatch<T = Conntrack>(
    b: MessageBuilder,
    part: readonly T[],
    msg: number,
    flags: number,
    put: (b: MessageBuilder, item: T) => void,
    ackLast: boolean,
    family: (item: T) => number = (ct) => (ct as Conntrack).orig.l3,
  ): number[] {
    const seqs: number[] = [];
    for (let k = 0; k < part.length; k++) {
      const seq = this.sock.nextSeq();
      seqs.push(seq);
      const ack = !ackLast || k === part.length - 1 ? NLM_F_ACK : 0;
      b.begin((NFNL_SUBSYS_CTNETLINK << 8) | msg, NLM_F_REQUEST | ack | flags, seq, family(part[k]));
      put(b, part[k]);
      b.end();
    }
    return seqs;
  }

  private async batch(
    cts: Conntrack[],
    msg: number,
    flags: number,
    put: (b: MessageBuilder, ct: Conntrack) => void,
    ignoreEnoent: boolean,
  ): Promise<Map<Conntrack, number>> {
    const failed = new Map<Conntrack, number>();
    const b = new MessageBuilder(BATCH * 256);
    for (let i = 0; i < cts.length; i += BATCH) {
      // A flush or purge of 100 000 entries lets the event loop run between batches.
      if (i > 0) await yieldToLoop();
      const part = cts.slice(i, i + BATCH);
      const seqs = this.encodeBatch(b.reset(), part, msg, flags, put, true);
      const errors = exchange(this.sock, b, [seqs[seqs.length - 1]]);
      for (let k = 0; k < part.length; k++) {
        const e = errors.get(seqs[k]);
        if (e !== undefined && !(ignoreEnoent && e === ENOENT)) failed.set(part[k], e);
      }
    }
    return failed;
  }
}
