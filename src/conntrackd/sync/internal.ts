// The internal cache of a sync mode: what the local kernel has, fed by events
// and dumps, each change queued for the peers (internal_cache.c). Changes this
// daemon caused itself (commit, flush, inject) are cached but not sent back.
// Bypass (NOTRACK with DisableInternalCache) keeps nothing and sends events
// straight out (internal_bypass.c).
import { Conntrack, type Expect, newTuple } from "../../conntrack/model.ts";
import { C_OBJ_DEAD, Cache, type CacheHooks, type CacheObject } from "../cache/cache.ts";
import { ctCacheOps, ctCodec } from "../cache/ct_object.ts";
import { expCacheOps } from "../cache/exp_object.ts";
import type { KernelTable } from "../ctnl/kernel.ts";
import type { CtHandler, ExpHandler } from "../modes/mode.ts";
import { ORIGIN_INJECT, ORIGIN_NOT_ME } from "../modes/mode.ts";
import type { CtFilter } from "../filter/mod.ts";
import { messageType, objectNode, sendObject, type SyncObject } from "./protocol.ts";
import { Queue, type QueueNode } from "./queue.ts";
import type { Transmitter } from "./tx.ts";
import { CT_DEL, CT_NEW, CT_UPD } from "./wire/mod.ts";

/** Attributes the internal cache never keeps (counters, use). */
function strip(ct: Conntrack): void {
  ct.countersOrig = undefined;
  ct.countersReply = undefined;
  ct.use = undefined;
}

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

/** Builds and sends the message of a queued object (sendObject, from the NEW event's conntrack when kept). */
export function transmitObject(tx: Transmitter, o: SyncObject, flags = 0): number {
  const latest = (o as InternalObject).latest;
  if (!latest) return sendObject(tx, o, flags);
  (o as InternalObject).latest = null;
  return tx.ct(messageType(o), latest, flags);
}

export function nodeOf<T>(obj: CacheObject<T>): QueueNode<SyncObject> {
  return obj.ext as QueueNode<SyncObject>;
}

export class InternalCache {
  readonly ct: Cache<Conntrack>;
  readonly exp: Cache<Expect>;
  readonly ctHandler: CtHandler;
  readonly expHandler: ExpHandler;

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
    const cache = this.ct, send = this.send;
    return {
      populate: (ct) => {
        strip(ct);
        cache.updateForce(ct);
      },
      resync: (ct) => {
        if (this.filter.rejects(ct, true)) return;
        strip(ct);
        const obj = cache.updateForce(ct);
        if (obj && obj.status !== C_OBJ_DEAD) send(nodeOf(obj));
      },
      purge: async () => {
        const live = [...cache.values()].filter((o) => o.status !== C_OBJ_DEAD).map((o) => o.value);
        await this.get.lookupConntracks(live, () => {}, (ct) => {
          const obj = cache.find(ct);
          if (!obj || obj.status === C_OBJ_DEAD) return;
          cache.setDead(obj);
          send(nodeOf(obj));
          cache.put(obj);
        });
      },
      onNew: (ct, origin) => {
        if (origin === ORIGIN_INJECT) return;
        strip(ct);
        // One key for both the lookup and the new object: building it is a good part of an event's cost.
        const key = cache.ops.keyOf(ct);
        const old = cache.findKey(key);
        if (old) {
          cache.del(old);
          cache.freeObject(old);
        }
        const obj = cache.newObject(ct, key);
        if (!cache.add(obj)) {
          cache.freeObject(obj);
          return;
        }
        if (origin === ORIGIN_NOT_ME) {
          const node = nodeOf(obj);
          (node.data as InternalObject).latest = ct;
          send(node);
        }
      },
      onUpdate: (ct, origin) => {
        if (origin === ORIGIN_INJECT) return;
        strip(ct);
        const obj = cache.updateForce(ct);
        if (obj && origin === ORIGIN_NOT_ME) send(nodeOf(obj));
      },
      onDestroy: (ct, origin) => {
        if (origin === ORIGIN_INJECT) return false;
        const obj = cache.find(ct);
        if (!obj) return false;
        if (obj.status !== C_OBJ_DEAD) {
          cache.setDead(obj);
          if (origin === ORIGIN_NOT_ME) send(nodeOf(obj));
          cache.put(obj);
        }
        return true;
      },
    };
  }

  private makeExpHandler(): ExpHandler {
    const cache = this.exp, send = this.send;
    return {
      populate: (exp) => {
        cache.updateForce(exp);
      },
      resync: (exp) => {
        const obj = cache.updateForce(exp);
        if (obj && obj.status !== C_OBJ_DEAD) send(nodeOf(obj));
      },
      purge: async () => {
        const live = [...cache.values()].filter((o) => o.status !== C_OBJ_DEAD).map((o) => o.value);
        await this.get.lookupExpects(live, (exp) => {
          const obj = cache.find(exp);
          if (!obj || obj.status === C_OBJ_DEAD) return;
          cache.setDead(obj);
          send(nodeOf(obj));
          cache.put(obj);
        });
      },
      onNew: (exp, origin) => {
        if (origin === ORIGIN_INJECT) return;
        const old = cache.find(exp);
        if (old) {
          cache.del(old);
          cache.freeObject(old);
        }
        const obj = cache.newObject(exp);
        if (!cache.add(obj)) {
          cache.freeObject(obj);
          return;
        }
        if (origin === ORIGIN_NOT_ME) send(nodeOf(obj));
      },
      onUpdate: (exp, origin) => {
        if (origin === ORIGIN_INJECT) return;
        const obj = cache.updateForce(exp);
        if (obj && origin === ORIGIN_NOT_ME) send(nodeOf(obj));
      },
      onDestroy: (exp, origin) => {
        if (origin === ORIGIN_INJECT) return false;
        const obj = cache.find(exp);
        if (!obj) return false;
        if (obj.status !== C_OBJ_DEAD) {
          cache.setDead(obj);
          if (origin === ORIGIN_NOT_ME) send(nodeOf(obj));
          cache.put(obj);
        }
        return true;
      },
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
