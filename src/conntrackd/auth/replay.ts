// Replay protection per sending node: the node's current session (start,
// random) and a sliding window over its record counter (RFC 4303 section 3.4.3,
// with RFC 6479's ring of bitmap words, so advancing never shifts bits).
//
// Verdicts, for a record whose tag verified:
// - a node never heard of: its session is taken as it comes;
// - a later session (greater start): the node restarted; a fresh window;
// - an earlier session, or the same start with another random: stale (a replay of
//   an earlier run of that node);
// - the current session: the counter must be above the window's bottom and not
//   seen yet;
// - this node's own id: a record of ours sent back to us (reflected).
// State changes only for an accepted record.

/** Counters accepted below the highest one seen. */
export const WINDOW = 128;
const WORD_BITS = 32;
/** Ring words: one more than the window needs, so the word being cleared is never inside it. */
const WORDS = WINDOW / WORD_BITS + 1;

export const ACCEPTED = 0;
export const NEW_SESSION = 1;
export const REPLAYED = 2;
export const STALE = 3;
export const REFLECTED = 4;
export type Verdict =
  | typeof ACCEPTED
  | typeof NEW_SESSION
  | typeof REPLAYED
  | typeof STALE
  | typeof REFLECTED;

export class ReplayWindow {
  /** The highest counter accepted; 0 = none yet (counters start at 1). */
  top = 0;
  private readonly bits = new Uint32Array(WORDS);

  /** True when `c` may be accepted: above the window's bottom and not seen. */
  check(c: number): boolean {
    if (c > this.top) return true;
    if (c === 0 || this.top - c >= WINDOW) return false;
    return (this.bits[Math.floor(c / WORD_BITS) % WORDS] & (1 << (c % WORD_BITS))) === 0;
  }

  /** Records `c` as seen (after check() said yes). */
  mark(c: number): void {
    if (c > this.top) {
      const from = Math.floor(this.top / WORD_BITS), to = Math.floor(c / WORD_BITS);
      const clear = Math.min(to - from, WORDS);
      for (let i = 1; i <= clear; i++) this.bits[(from + i) % WORDS] = 0;
      this.top = c;
    }
    this.bits[Math.floor(c / WORD_BITS) % WORDS] |= 1 << (c % WORD_BITS);
  }

  /** A window in which every counter up to `c` counts as seen (state restored from disk). */
  static floor(c: number): ReplayWindow {
    const w = new ReplayWindow();
    w.top = c;
    w.bits.fill(0xffffffff);
    return w;
  }
}

export interface PeerSession {
  start: number;
  random: number;
  window: ReplayWindow;
}

export class PeerSessions {
  readonly peers = new Map<number, PeerSession>();
  /** Bumped whenever a session is taken or replaced (the state file is then written). */
  changes = 0;

  constructor(readonly ownNode: number) {}

  /** The verdict on a verified record; the state moves only when it is accepted. */
  accept(node: number, start: number, random: number, counter: number): Verdict {
    if (node === this.ownNode) return REFLECTED;
    if (counter === 0) return REPLAYED;
    const cur = this.peers.get(node);
    if (cur === undefined || start > cur.start) {
      const window = new ReplayWindow();
      window.mark(counter);
      this.peers.set(node, { start, random, window });
      this.changes++;
      return NEW_SESSION;
    }
    if (start < cur.start || random !== cur.random) return STALE;
    if (!cur.window.check(counter)) return REPLAYED;
    cur.window.mark(counter);
    return ACCEPTED;
  }

  /** A session known from an earlier run of this daemon: counters up to `counter` count as seen. */
  restore(node: number, start: number, random: number, counter: number): void {
    if (node === this.ownNode) return;
    this.peers.set(node, { start, random, window: ReplayWindow.floor(counter) });
  }
}
