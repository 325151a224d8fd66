// The internal cache of a sync mode: what the local kernel has, fed by events
// and dumps, each change queued for the peers (internal_cache.c). Changes this
// daemon caused itself (commit, flush, inject) are cached but not sent back.
// Bypass (NOTRACK with DisableInternalCache) keeps nothing and sends events
// straight out (internal_bypass.c).
import { Conntrack, type Expect, newTuple } from "../../conntrack/model.ts";
import { C_OBJ_DEAD, Cache, type CacheHooks, type CacheObject } from "../cache/cache.ts";
import { ctCacheOps, ctCodec, stripVolatile } from "../cache/ct_object.ts";
import { FlatCt } from "../cache/flat_ct.ts";
import { flatKey, flatRecord, populateFlat } from "../cache/flat_record.ts";
import { parseCtMessage } from "../ctnl/ct_event_fast.ts";
import { expCacheOps } from "../cache/exp_object.ts";
import type { KernelTable } from "../ctnl/kernel.ts";
import type { CtHandler, ExpHandler } from "../modes/mode.ts";
import { ORIGIN_INJECT, ORIGIN_NOT_ME } from "../modes/mode.ts";
import type { CtFilter } from "../filter/mod.ts";
import { messageType, objectNode, sendObject, type SyncObject } from "./protocol.ts";
import { Queue, type QueueNode } from "./queue.ts";
import type { Transmitter } from "./tx.ts";
import { CT_DEL, CT_NEW, CT_UPD } from "./wire/mod.ts";

/** Counters and use are never cached (the timeout is: it goes on the wire). */
const strip = (ct: Conntrack) => stripVolatile(ct, true);

export type Send = (node: QueueNode<SyncObject>) => void;

/**
 * A queued internal object. `latest` is the conntrack a NEW event just cached, kept until the
 * object is transmitted: the message is then built from it instead of from the cache's record
 * (decoding a record costs four times the encoding of the message). Any later change of the
 * cached value drops it.
 */
interface InternalObject extends SyncObject {
  latest: Conntrack | null;
}

/** Hooks that give every cached object its queue node, plus the protocol's own (ALARM timers). */
function nodeHooks<T>(isExp: boolean, extra: CacheHooks<T>, cacheRef: () => Cache<T>): CacheHooks<T> {
  return {
    added(obj) {
      const o: InternalObject = { cache: cacheRef() as never, obj: obj as never, isExp, latest: null };
      obj.ext = objectNode(o);
      extra.added?.(obj);
    },
    updated(obj) {
      (nodeOf(obj).data as InternalObject).latest = null;
      extra.updated?.(obj);
    },
    destroyed(obj) {
      const n = obj.ext as QueueNode<SyncObject> | undefined;
      if (n) {
        Queue.remove(n);
        (n.data as InternalObject).latest = null;
      }
      extra.destroyed?.(obj);
    },
  };
}

/**
 * Builds and sends the message of a queued object (sendObject): from the NEW event's conntrack
 * when kept, else a conntrack straight from its record when that is a plain flow.
 */
export function transmitObject(tx: Transmitter, o: SyncObject, flags = 0): number {
  const latest = (o as InternalObject).latest;
  if (latest) {
    (o as InternalObject).latest = null;
    return tx.ct(messageType(o), latest, flags);
  }
  if (!o.isExp) {
    const record = o.obj.stored;
    if (typeof record === "string") {
      const seq = tx.ctFromRecord(messageType(o), record, flags);
      if (seq !== null) return seq;
    }
  }
  return sendObject(tx, o, flags);
}

export function nodeOf<T>(obj: CacheObject<T>): QueueNode<SyncObject> {
  return obj.ext as QueueNode<SyncObject>;
}

/**
 * internal_cache.c's handlers, the same for conntracks and expectations:
 * cache what the kernel has, queue every change that someone else made
 * (`send` is deferred to the transmit round), keep quiet about the daemon's
 * own changes (commit, flush) and ignore its injections. `onNew` returns the
 * new object so the conntrack handler can attach the event's value to it.
 */
function cacheHandlers<T>(
  cache: Cache<T>,
  send: Send,
  strip: (value: T) => void,
  lookup: (live: T[], missing: (value: T) => void) => Promise<void>,
) {
  const kill = (obj: CacheObject<T>, tell: boolean) => {
    if (obj.status === C_OBJ_DEAD) return;
    cache.setDead(obj);
    if (tell) send(nodeOf(obj));
    cache.put(obj);
  };
  return {
    populate: (value: T) => {
      strip(value);
      cache.updateForce(value);
    },
    resync: (value: T) => {
      strip(value);
      const obj = cache.updateForce(value);
      if (obj && obj.status !== C_OBJ_DEAD) send(nodeOf(obj));
    },
    purge: async () => {
      const live = [...cache.values()].filter((o) => o.status !== C_OBJ_DEAD).map((o) => o.value);
      await lookup(live, (value) => {
        const obj = cache.find(value);
        if (obj) kill(obj, true);
      });
    },
    onNew: (value: T, origin: number): CacheObject<T> | undefined => {
      if (origin === ORIGIN_INJECT) return undefined;
      strip(value);
      const obj = cache.replace(value);
      if (obj && origin === ORIGIN_NOT_ME) send(nodeOf(obj));
      return obj;
    },
    onUpdate: (value: T, origin: number) => {
      if (origin === ORIGIN_INJECT) return;
      strip(value);
      const obj = cache.updateForce(value);
      if (obj && origin === ORIGIN_NOT_ME) send(nodeOf(obj));
    },
    onDestroy: (value: T, origin: number): boolean => {
      if (origin === ORIGIN_INJECT) return false;
      const obj = cache.find(value);
      if (!obj) return false;
      kill(obj, origin === ORIGIN_NOT_ME);
      return true;
    },
  };
}

export class InternalCache {
  readonly ct: Cache<Conntrack>;
  readonly exp: Cache<Expect>;
  readonly ctHandler: CtHandler;
  readonly expHandler: ExpHandler;
  private readonly flat = new FlatCt();

  constructor(
    limit: number,
    private readonly send: Send,
    private readonly get: KernelTable,
    private readonly filter: CtFilter,
    hooks: CacheHooks<unknown>,
  ) {
    const ct: Cache<Conntrack> = this.ct = new Cache<Conntrack>(
      "internal",
      limit,
      ctCacheOps,
      nodeHooks(false, hooks as CacheHooks<Conntrack>, () => ct),
      ctCodec,
    );
    const exp: Cache<Expect> = this.exp = new Cache<Expect>(
      "internal",
      limit,
      expCacheOps,
      nodeHooks(true, hooks as CacheHooks<Expect>, () => exp),
    );
    this.ctHandler = this.makeCtHandler();
    this.expHandler = this.makeExpHandler();
  }

  private makeCtHandler(): CtHandler {
    const h = cacheHandlers(
      this.ct,
      this.send,
      strip,
      (live, missing) => this.get.lookupConntracks(live, () => {}, missing),
    );
    return {
      ...h,
      resync: (ct) => {
        if (!this.filter.rejects(ct, true)) h.resync(ct);
      },
      onNew: (ct, origin) => {
        const obj = h.onNew(ct, origin);
        // The NEW event's own conntrack is sent as is: no decoding of the record just made.
        if (obj && origin === ORIGIN_NOT_ME) (nodeOf(obj).data as InternalObject).latest = ct;
      },
      onNewMessage: (buf, v, off, len, origin) => this.onNewMessage(buf, v, off, len, origin),
      // populate() of a plain flow from one flat parse: cached anew, or merged into its cached record.
      populateMessage: (buf, v, off, len) => {
        const f = this.flat;
        return parseCtMessage(f, buf, v, off, len) && populateFlat(this.ct, f, true);
      },
    };
  }

  /**
   * onNew for a plain flow straight from its netlink message: its key and record are written
   * from one flat parse (transmitObject later sends the record as it is). False for anything
   * else, which then goes through onNew as a Conntrack.
   */
  private onNewMessage(buf: Uint8Array, v: DataView, off: number, len: number, origin: number): boolean {
    const f = this.flat;
    if (!parseCtMessage(f, buf, v, off, len)) return false;
    if (origin === ORIGIN_INJECT) return true;
    const obj = this.ct.replaceStored(flatKey(f), flatRecord(f));
    if (obj && origin === ORIGIN_NOT_ME) this.send(nodeOf(obj));
    return true;
  }

  private makeExpHandler(): ExpHandler {
    const h = cacheHandlers(
      this.exp,
      this.send,
      () => {},
      (live, missing) => this.get.lookupExpects(live, missing),
    );
    return {
      ...h,
      onNew: (exp, origin) => void h.onNew(exp, origin),
      hasMaster: (master) => {
        const probe = new Conntrack();
        probe.orig = { ...newTuple(master.l3), ...master, zone: undefined };
        return this.ct.find(probe) !== undefined;
      },
    };
  }

  /** Every object, ct first (resync_send order). */
  *objects(): Iterable<QueueNode<SyncObject>> {
    for (const o of this.ct.values()) yield nodeOf(o);
    for (const o of this.exp.values()) yield nodeOf(o);
  }
}

/** Counters of the `internal bypass:` block. */
export class BypassStats {
  new = 0;
  upd = 0;
  del = 0;
}

/** NOTRACK's DisableInternalCache: events go to the wire at once, nothing is cached. */
export function bypassHandler(tx: Transmitter, stats: BypassStats, scheduleFlush: () => void): CtHandler {
  const out = (type: number, ct: Conntrack) => {
    tx.ct(type, ct);
    scheduleFlush();
  };
  return {
    populate: () => {},
    resync: () => {},
    purge: () => Promise.resolve(),
    onNew: (ct, origin) => {
      if (origin !== ORIGIN_NOT_ME) return;
      out(CT_NEW, ct);
      stats.new++;
    },
    onUpdate: (ct, origin) => {
      if (origin !== ORIGIN_NOT_ME) return;
      out(CT_UPD, ct);
      stats.upd++;
    },
    onDestroy: (ct, origin) => {
      if (origin !== ORIGIN_NOT_ME) return true;
      out(CT_DEL, ct);
      stats.del++;
      return true;
    },
  };
}
