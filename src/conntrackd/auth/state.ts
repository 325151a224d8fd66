// What authenticated sync keeps across restarts, in one small file per node
// (STATE_DIR/sync-<node id>.json, written by rename):
// - this node's last session start, so a later start is always greater even
//   when the clock went back (start = max(now, last + 1));
// - each peer's session and the highest counter accepted from it, so after a
//   restart an earlier session of a peer is still refused, and records of the
//   current one up to that counter too.
// It is written when a session starts or changes, every SAVE_INTERVAL_MS while
// counters move, and at shutdown. A file that cannot be read or written costs
// that protection only (logged once); sync goes on.
import { hex32 } from "./record.ts";
import type { PeerSessions } from "./replay.ts";

export const DEFAULT_STATE_DIR = "/var/lib/ctkit";
export const SAVE_INTERVAL_MS = 5000;

/** The directory: CTKIT_STATE_DIR (tests) or /var/lib/ctkit. */
export function stateDir(): string {
  return Deno.env.get("CTKIT_STATE_DIR") || DEFAULT_STATE_DIR;
}

export interface SavedPeer {
  start: number;
  random: number;
  counter: number;
}

export interface SavedState {
  start: number;
  peers: Map<number, SavedPeer>;
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

export class StateFile {
  readonly path: string;
  private warned = false;

  constructor(nodeId: number, private readonly warn: (message: string) => void, dir = stateDir()) {
    this.path = `${dir}/sync-${hex32(nodeId)}.json`;
  }

  /** The saved state; empty when there is none (or it is unreadable: logged). */
  load(): SavedState {
    const state: SavedState = { start: 0, peers: new Map() };
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) this.complain("cannot read", e);
      return state;
    }
    try {
      const o = JSON.parse(text);
      if (isCount(o.start)) state.start = o.start;
      for (const [k, v] of Object.entries(o.peers ?? {})) {
        const p = v as Record<string, unknown>;
        const node = parseInt(k, 16);
        if (/^[0-9a-f]{8}$/.test(k) && isCount(p.start) && isCount(p.random) && isCount(p.counter)) {
          state.peers.set(node, { start: p.start, random: p.random, counter: p.counter });
        }
      }
    } catch (e) {
      this.complain("cannot parse", e);
    }
    return state;
  }

  /** Writes the state (to a temporary file renamed over the old one). */
  save(start: number, sessions: PeerSessions): boolean {
    const peers: Record<string, SavedPeer> = {};
    for (const [node, s] of sessions.peers) {
      peers[hex32(node)] = { start: s.start, random: s.random, counter: s.window.top };
    }
    const text = JSON.stringify({ version: 1, start, peers }) + "\n";
    const tmp = `${this.path}.${Deno.pid}.tmp`;
    try {
      Deno.mkdirSync(this.path.slice(0, this.path.lastIndexOf("/")) || "/", { recursive: true, mode: 0o700 });
      Deno.writeTextFileSync(tmp, text, { mode: 0o600 });
      Deno.renameSync(tmp, this.path);
      return true;
    } catch (e) {
      try {
        Deno.removeSync(tmp);
      } catch { /* not there */ }
      this.complain("cannot write", e);
      return false;
    }
  }

  private complain(what: string, e: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.warn(
      `Authentication: ${what} ${this.path} (${e instanceof Error ? e.message : String(e)}): ` +
        "without it, a restart of this node with its clock set back, or a replay of a peer's " +
        "earlier run right after this node restarts, is not caught",
    );
  }
}

/** This run's session start: now, or one more than the last start when the clock went back. */
export function nextSessionStart(saved: SavedState, now = Date.now()): number {
  return Math.max(now, saved.start + 1);
}
