// Receive-side sequence tracking (network.c): the last sequence number seen,
// and the lost/before counters of `-s network`.
import type { NetworkStats } from "./wire/mod.ts";
import { after, before } from "./wire/mod.ts";

export const SEQ_UNKNOWN = 0;
export const SEQ_UNSET = 1;
export const SEQ_IN_SYNC = 2;
export const SEQ_AFTER = 3;
export const SEQ_BEFORE = 4;

export class SeqTracker {
  lastRecv = 0;
  private set = false;

  constructor(private readonly stats: NetworkStats) {}

  get isSet(): boolean {
    return this.set;
  }

  /**
   * Classifies `seq` without updating; `expected` is what should have come.
   * `count` false leaves the lost/before counters alone (messages the
   * reference does not track, so `-s network` stays identical).
   */
  track(seq: number, count = true): { state: number; expected: number } {
    const expected = (this.lastRecv + 1) >>> 0;
    if (!this.set) return { state: SEQ_UNSET, expected };
    if (seq === expected) return { state: SEQ_IN_SYNC, expected };
    if (after(seq, expected)) {
      // The reference counts seq - last + 1 lost messages (one too many: kept for identical figures).
      if (count) this.stats.lost += (seq - this.lastRecv + 1) >>> 0;
      return { state: SEQ_AFTER, expected };
    }
    if (before(seq, expected)) {
      if (count) this.stats.before++;
      return { state: SEQ_BEFORE, expected };
    }
    return { state: SEQ_UNKNOWN, expected };
  }

  update(seq: number): void {
    this.set = true;
    this.lastRecv = seq >>> 0;
  }
}
