// Builds sync messages and hands them to the active link. Sequence numbers
// are assigned here, at transmit time, from one counter that starts at the
// Unix time (retransmissions get fresh numbers), as the reference does.
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import type { MultiChannel } from "../channel/mod.ts";
import { FlatCt } from "../cache/flat_ct.ts";
import { readFlatRecord } from "../cache/flat_record.ts";
import { encodeFlatCt } from "./wire/ct_flat_codec.ts";
import {
  addFlags,
  CT_MSG_MAX,
  type CtEncodeOptions,
  encodeControl,
  encodeCt,
  encodeExp,
  setSeq,
} from "./wire/mod.ts";
import { SyncCounters } from "../metrics/records.ts";

export class Transmitter {
  private seq = 0;
  private seqSet = false;
  private readonly scratch = new Uint8Array(CT_MSG_MAX);
  private readonly ctOptions: CtEncodeOptions;
  private readonly flat = new FlatCt();
  /** Messages sent and received, NACKs, resends (the Prometheus endpoint reads them). */
  readonly counters = new SyncCounters();

  constructor(
    private readonly channel: MultiChannel,
    /** Timeouts travel only when CommitTimeout is 0. */
    private readonly withTimeout: boolean,
    tcpWindowTracking: boolean,
  ) {
    this.ctOptions = { withTimeout, tcpWindowTracking };
  }

  private nextSeq(): number {
    if (!this.seqSet) {
      this.seqSet = true;
      this.seq = Math.floor(Date.now() / 1000) >>> 0;
    }
    const s = this.seq;
    this.seq = (this.seq + 1) >>> 0;
    return s;
  }

  /** Sends a conntrack message; returns the sequence number it got. */
  ct(type: number, ct: Conntrack, flags = 0): number {
    const len = encodeCt(this.scratch, 0, type, ct, this.ctOptions);
    this.counters.dataSent++;
    return this.finish(len, flags);
  }

  /**
   * Sends the message of a conntrack cached as `record` without decoding it (the bytes ct()
   * sends for the decoded record); null, and nothing sent, when the record is not a plain flow.
   */
  ctFromRecord(type: number, record: string, flags = 0): number | null {
    if (!readFlatRecord(this.flat, record)) return null;
    const len = encodeFlatCt(this.scratch, 0, type, this.flat, this.ctOptions);
    this.counters.dataSent++;
    return this.finish(len, flags);
  }

  exp(type: number, exp: Expect, flags = 0): number {
    const len = encodeExp(this.scratch, 0, type, exp, { withTimeout: this.withTimeout });
    this.counters.dataSent++;
    return this.finish(len, flags);
  }

  /** A control message (ACK/NACK/RESYNC with a range, ALIVE without). */
  control(flags: number, from = 0, to = 0): number {
    const len = encodeControl(this.scratch, 0, flags, from, to);
    this.counters.controlSent++;
    return this.finish(len, 0);
  }

  private finish(len: number, flags: number): number {
    const seq = this.nextSeq();
    setSeq(this.scratch, 0, seq);
    if (flags) addFlags(this.scratch, 0, flags);
    this.channel.send(this.scratch.subarray(0, len));
    return seq;
  }

  /** Bytes of messages built but not yet written out (a partly filled datagram). */
  get pending(): number {
    return this.channel.pending;
  }

  flush(): void {
    this.channel.flush();
  }
}
