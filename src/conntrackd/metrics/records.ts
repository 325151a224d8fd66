// Figures the `-s` texts do not have and the Prometheus endpoint shows: sync
// messages by kind, NACKs and resends, the last commit, the last HA transition.
// Each is counted once, where it happens (the transmitter, FTFW, the committer,
// the daemon's HA request); the endpoint only reads them.

/** Sync traffic as messages (the link counters count datagrams and bytes). */
export class SyncCounters {
  dataSent = 0;
  controlSent = 0;
  dataReceived = 0;
  controlReceived = 0;
  /** FTFW: NACKs queued for the peer (a gap in its sequence) and NACKs the peer sent us. */
  nackSent = 0;
  nackReceived = 0;
  /** FTFW: messages put back on the transmit queue (NACKed, or never acknowledged). */
  resent = 0;
}

/** One commit's outcome per table: [committed, failed]. */
export interface CommitTables {
  ct: [number, number] | null;
  expect: [number, number] | null;
}

/** The last commit (`-c`, or the commit of an HA primary transition) and how many ran. */
export class CommitRecord {
  count = 0;
  /** Seconds since the epoch when the last commit ended; 0 before the first. */
  lastEnd = 0;
  lastSeconds = 0;
  last: CommitTables = { ct: null, expect: null };

  done(startMs: number, tables: CommitTables): void {
    this.count++;
    this.lastSeconds = (performance.now() - startMs) / 1000;
    this.lastEnd = Date.now() / 1000;
    this.last = tables;
  }
}

export type HaState = "primary" | "backup" | "fault";

/** ctkit's HA requests (codes 100–103) as the daemon ran them. */
export class HaRecord {
  /** The state the last transition put the node in; null before the first. */
  state: HaState | null = null;
  transitions: Record<HaState, number> = { primary: 0, backup: 0, fault: 0 };
  /** Seconds since the epoch when the last transition ended. */
  lastEnd = 0;
  lastSeconds = 0;
  /** The last transition's steps and their durations in seconds, in order. */
  steps: [string, number][] = [];
  private current: { state: HaState; start: number; steps: [string, number][] } | null = null;

  begin(state: HaState): void {
    this.current = { state, start: performance.now(), steps: [] };
  }

  step(name: string, ms: number): void {
    this.current?.steps.push([name, ms / 1000]);
  }

  end(): void {
    const c = this.current;
    if (!c) return;
    this.current = null;
    this.state = c.state;
    this.transitions[c.state]++;
    this.lastSeconds = (performance.now() - c.start) / 1000;
    this.lastEnd = Date.now() / 1000;
    this.steps = c.steps;
  }
}

/** The daemon's one HA record (one daemon per process). */
export const haRecord = new HaRecord();
