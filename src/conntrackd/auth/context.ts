// A daemon's authenticated sync: its keys, its sending session and counter, the
// peers' sessions and replay windows, the rejection counters and their log
// lines. One per daemon, shared by all its channels (the counter is one
// sequence over every link, and a peer's records count the same on any link).
import type { AuthConfig, SyncConfig } from "../config/types.ts";
import type { LogPriority } from "../daemon/log.ts";
import type { ReceiveVisitor, Transport } from "../channel/transport.ts";
import { describeRing, keyFor, type KeyRing, loadKeyRing } from "./keys.ts";
import {
  FLAG_ENCRYPTED,
  getU16,
  getU32,
  getU64,
  hex32,
  KNOWN_FLAGS,
  putU32,
  putU64,
  RECORD_MAGIC,
  RECORD_MAX,
  RECORD_OVERHEAD,
  U64_SAFE_MAX,
} from "./record.ts";
import { ACCEPTED, NEW_SESSION, PeerSessions, REFLECTED, REPLAYED, STALE } from "./replay.ts";
import { context, keyedHash, openRecord, randomBytes, sealRecord, wipe } from "./seal.ts";
import { nextSessionStart, SAVE_INTERVAL_MS, StateFile } from "./state.ts";
import { AuthTransport, type RecordSealer } from "./transport.ts";
import { RateLimitedLog } from "./ratelimit.ts";

export type AuthLog = (prio: LogPriority, message: string) => void;

/** Records and messages refused, by reason (the extra lines of `-s network`). */
export interface AuthStats {
  /** Not a record, or a record whose tag does not verify: forged, damaged, garbage. */
  notAuthenticated: number;
  /** 1.4.7 messages (protocol version 1): the peer runs without Authentication. */
  plain: number;
  /** Sealed with a key id that is neither KeyFile's nor NextKeyFile's. */
  unknownKey: number;
  /** A counter seen already or below the window, or a record with this node's own id. */
  replayed: number;
  /** An earlier session of a known node. */
  staleSession: number;
}

const NODE_CONTEXT = "ctkit conntrackd sync node id v1";

/**
 * This node's id: a hash of the host name and what the channels say about this
 * end (local addresses, interfaces, ports). Stable across restarts, and
 * different on the two ends of a link.
 */
export function nodeIdOf(sync: SyncConfig, hostname: string): number {
  const parts = [hostname];
  for (const ch of sync.channels) {
    parts.push([ch.kind, ch.address, ch.ipv4Interface, ch.destination, ch.interface, ch.port].join(","));
  }
  const digest = keyedHash(new TextEncoder().encode(parts.join("\n")), context(NODE_CONTEXT), 16);
  return getU32(digest, 0);
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

const u20 = (n: number) => String(n).padStart(20);
/** `\t\tLabel:` padded with tabs to the value column of `-s network` (column 40). */
function statLine(label: string, n: number): string {
  const col = 16 + label.length + 1;
  const tabs = Math.max(1, 5 - Math.floor(col / 8));
  return `\t\t${label}:${"\t".repeat(tabs)}${u20(n)}\n`;
}

export class AuthContext implements RecordSealer {
  private ring: KeyRing;
  readonly nodeId: number;
  readonly sessionStart: number;
  readonly sessionRandom: number;
  private counter = 0;
  readonly stats: AuthStats = { notAuthenticated: 0, plain: 0, unknownKey: 0, replayed: 0, staleSession: 0 };
  readonly sessions: PeerSessions;
  private readonly out = new Uint8Array(RECORD_MAX);
  private readonly scratch = new Uint8Array(RECORD_MAX);
  private readonly limited: RateLimitedLog;
  private readonly state: StateFile;
  private saveTimer: ReturnType<typeof setInterval> | undefined;
  private savedChanges = -1;
  /** Counters moved since the last save. */
  private moved = false;
  private closed = false;

  constructor(
    readonly config: AuthConfig,
    sync: SyncConfig,
    private readonly log: AuthLog,
    opts: { stateDir?: string; now?: () => number; hostname?: string; ring?: KeyRing } = {},
  ) {
    this.ring = opts.ring ?? loadKeyRing(config);
    this.nodeId = nodeIdOf(sync, opts.hostname ?? hostname());
    this.limited = new RateLimitedLog(log, undefined, opts.now);
    this.state = new StateFile(this.nodeId, (m) => log("warning", m), opts.stateDir);
    const saved = this.state.load();
    this.sessionStart = nextSessionStart(saved);
    this.sessionRandom = getU32(randomBytes(new Uint8Array(4)), 0);
    this.sessions = new PeerSessions(this.nodeId);
    for (const [node, p] of saved.peers) this.sessions.restore(node, p.start, p.random, p.counter);
    // Saved before anything is sent: the next start is greater even after a crash.
    this.save();
    this.saveTimer = setInterval(() => {
      if (this.moved || this.sessions.changes !== this.savedChanges) this.save();
    }, SAVE_INTERVAL_MS);
    Deno.unrefTimer(this.saveTimer);
    // The constant part of every record header.
    this.out[0] = RECORD_MAGIC;
    this.out[1] = config.encrypt ? FLAG_ENCRYPTED : 0;
    putU32(this.out, 8, this.nodeId);
    putU64(this.out, 12, this.sessionStart);
    putU32(this.out, 20, this.sessionRandom);
  }

  /** The start-up line: who this node is and which keys it holds. */
  describe(): string {
    return `Authentication: node ${hex32(this.nodeId)}, session ${this.sessionStart}, ` +
      `${this.config.encrypt ? "encrypting" : "authenticating (not encrypting)"}; ${describeRing(this.ring)}`;
  }

  get keys(): KeyRing {
    return this.ring;
  }

  /** The transport of a channel, sealing and opening records. */
  wrap(t: Transport): Transport {
    return new AuthTransport(t, this);
  }

  seal(body: Uint8Array): Uint8Array | null {
    const len = body.length + RECORD_OVERHEAD;
    if (len > RECORD_MAX) return null;
    const rec = this.out.subarray(0, len);
    rec[2] = len >> 8;
    rec[3] = len;
    putU32(rec, 4, this.ring.send.id);
    putU64(rec, 24, ++this.counter);
    return sealRecord(rec, body, this.ring.send.key, this.config.encrypt) ? rec : null;
  }

  open(data: Uint8Array, visit: ReceiveVisitor): void {
    const end = data.length;
    let p = 0;
    while (p < end) {
      const remain = end - p;
      const b0 = data[p];
      if (b0 >> 4 === 1 && remain >= 8) {
        // conntrackd 1.4.7's protocol version 1: a peer without Authentication.
        this.stats.plain++;
        this.limited.report(
          "plain",
          "warning",
          () =>
            "Authentication: dropped sync messages without authentication: the peer runs without " +
            "Authentication (e.g. conntrackd 1.4.7, or ctkit without the clause); no state crosses",
        );
        const len = getU16(data, p + 2);
        if (len < 8 || len > remain) return;
        p += len;
        continue;
      }
      const len = remain >= 4 ? getU16(data, p + 2) : 0;
      if (
        b0 !== RECORD_MAGIC || remain < RECORD_OVERHEAD || len < RECORD_OVERHEAD || len > remain ||
        (data[p + 1] & ~KNOWN_FLAGS) !== 0
      ) {
        // Not a record (garbage, or damaged framing): nothing after it can be trusted.
        this.notAuthenticated(remain);
        return;
      }
      const rec = data.subarray(p, p + len);
      p += len;
      this.openOne(rec, visit);
    }
  }

  private openOne(rec: Uint8Array, visit: ReceiveVisitor): void {
    const id = getU32(rec, 4);
    const key = keyFor(this.ring, id);
    if (key === null) {
      this.stats.unknownKey++;
      this.limited.report(
        "key",
        "warning",
        () =>
          `Authentication: dropped a record sealed with key ${hex32(id)}, which is neither KeyFile's ` +
          `nor NextKeyFile's (${describeRing(this.ring)}): another cluster, or the peer has a key ` +
          "this node lacks",
      );
      return;
    }
    const body = openRecord(rec, key.key, this.scratch);
    if (body === null) {
      this.notAuthenticated(rec.length);
      return;
    }
    const node = getU32(rec, 8), start = getU64(rec, 12), random = getU32(rec, 20), counter = getU64(rec, 24);
    if (start > U64_SAFE_MAX || counter > U64_SAFE_MAX) {
      this.notAuthenticated(rec.length);
      return;
    }
    const verdict = this.sessions.accept(node, start, random, counter);
    switch (verdict) {
      case ACCEPTED:
        this.moved = true;
        visit(body);
        return;
      case NEW_SESSION:
        this.log(
          "notice",
          `Authentication: node ${hex32(node)} starts session ${start} (${
            new Date(start).toISOString()
          }) with key ${hex32(id)}`,
        );
        this.save();
        visit(body);
        return;
      case REPLAYED:
        this.stats.replayed++;
        this.limited.report(
          "replay",
          "warning",
          () => `Authentication: dropped a replayed record of node ${hex32(node)} (counter ${counter})`,
        );
        return;
      case REFLECTED:
        this.stats.replayed++;
        this.limited.report(
          "reflect",
          "warning",
          () =>
            `Authentication: dropped a record carrying this node's own id ${hex32(node)}: one of its own ` +
            "records sent back to it (or both nodes have the same id: give them different addresses)",
        );
        return;
      case STALE: {
        this.stats.staleSession++;
        const cur = this.sessions.peers.get(node);
        this.limited.report(
          "stale",
          "warning",
          () =>
            `Authentication: dropped a record of node ${hex32(node)}'s session ${start}, older than its ` +
            `session ${cur?.start ?? "?"}: a replay of an earlier run (or that node lost its state ` +
            "file and its clock is behind: see the README, Authenticated sync)",
        );
        return;
      }
    }
  }

  private notAuthenticated(bytes: number): void {
    this.stats.notAuthenticated++;
    this.limited.report(
      "auth",
      "warning",
      () =>
        `Authentication: dropped ${bytes} bytes that fail authentication (forged, damaged, or not a ` +
        "sync record)",
    );
  }

  /** Re-reads both key files; on failure the keys stay as they were. The answer is logged too. */
  reload(cause: string): { ok: boolean; message: string } {
    const old = this.ring;
    try {
      const ring = loadKeyRing(this.config);
      this.ring = ring;
      for (const k of [old.send, old.next]) {
        if (k !== null && k !== ring.send && k !== ring.next) wipe(k.key);
      }
      const message = `Authentication: keys reloaded (${cause}): ${describeRing(ring)}`;
      this.log("notice", message);
      return { ok: true, message };
    } catch (e) {
      const message = `Authentication: reloading the keys (${cause}) failed: ${
        e instanceof Error ? e.message : String(e)
      }; keeping the old keys: ${describeRing(old)}`;
      this.log("error", message);
      return { ok: false, message };
    }
  }

  /** The extra receive lines of `-s network`. */
  formatStats(): string {
    const s = this.stats;
    return statLine("Not authenticated", s.notAuthenticated) +
      statLine("Plain sync messages", s.plain) +
      statLine("Unknown key", s.unknownKey) +
      statLine("Replayed", s.replayed) +
      statLine("Stale session", s.staleSession);
  }

  private save(): void {
    this.savedChanges = this.sessions.changes;
    this.moved = false;
    this.state.save(this.sessionStart, this.sessions);
  }

  /** At shutdown: the state file gets the last counters. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.saveTimer);
    this.save();
  }
}
