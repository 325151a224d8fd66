// conntrackd's object cache: entries keyed by their original tuple, with the
// counters `-s` and `-s cache` print. The reference is a fixed hash table with
// a hard object limit (HashLimit); a Map keeps insertion order instead of
// bucket order, which only changes the order of `-i` lines.

/** Object life cycle: created, then updated at least once, then deleted (kept until acknowledged). */
export const C_OBJ_NEW = 1;
export const C_OBJ_ALIVE = 2;
export const C_OBJ_DEAD = 3;

/** Packs cached values (e.g. conntracks into short strings) to keep big caches small. */
export interface ValueCodec<T> {
  encode(value: T): unknown;
  decode(data: unknown): T;
}

/**
 * One cached entry. With a codec, `value` decodes a fresh copy on every read
 * and a write re-encodes: change a copy, then assign it back.
 */
export class CacheObject<T> {
  status = 0;
  /** Seconds since the epoch when the object entered the cache ("[active since Ns]"). */
  lifetime = 0;
  /** Seconds since the epoch of the last update (commit estimates timeouts from it). */
  lastupdate = 0;
  /** Per-mode extension (sync modes keep their queue/timer state here). */
  ext: unknown = undefined;
  /** References: the cache's own, plus one per queue holding the object. */
  refcnt = 0;
  private data: unknown;

  /** `stored` is the stored form: the codec's encoding of the value, or the value itself without a codec. */
  constructor(readonly key: string, stored: unknown, private readonly codec: ValueCodec<T> | null) {
    this.data = stored;
  }

  get value(): T {
    return this.codec ? this.codec.decode(this.data) : this.data as T;
  }

  set value(v: T) {
    this.data = this.codec ? this.codec.encode(v) : v;
  }

  /** The stored form: the codec's encoding (a conntrack record), or the value itself without a codec. */
  get stored(): unknown {
    return this.data;
  }

  set stored(stored: unknown) {
    this.data = stored;
  }
}

/** What a mode attaches to cache objects (the reference's cache extras and features). */
export interface CacheHooks<T> {
  added?(obj: CacheObject<T>): void;
  updated?(obj: CacheObject<T>): void;
  /** The object leaves the table: drop it from queues, cancel its timers. */
  destroyed?(obj: CacheObject<T>): void;
}

export class CacheStats {
  active = 0;
  addOk = 0;
  addFail = 0;
  addFailEnomem = 0;
  addFailEnospc = 0;
  updOk = 0;
  updFail = 0;
  updFailEnoent = 0;
  delOk = 0;
  delFail = 0;
  delFailEnoent = 0;
  /** Objects allocated (in the table or about to be). */
  objects = 0;
  commitOk = 0;
  commitFail = 0;
  flush = 0;
}

/** How a cache keys, merges and prints its values. */
export interface CacheOps<T> {
  keyOf(value: T): string;
  /** Copies the meta attributes of `update` over `stored` (NFCT_CP_META). */
  merge(stored: T, update: T): void;
}

/** Seconds since the epoch, as time(NULL). */
export function now(): number {
  return Math.floor(Date.now() / 1000);
}

export class Cache<T> {
  readonly stats = new CacheStats();
  private readonly table = new Map<string, CacheObject<T>>();

  constructor(
    readonly name: string,
    readonly limit: number,
    readonly ops: CacheOps<T>,
    readonly hooks: CacheHooks<T> = {},
    private readonly codec: ValueCodec<T> | null = null,
  ) {}

  /** True when `obj.value` decodes a fresh copy (the caller may change it freely). */
  get copiesOnRead(): boolean {
    return this.codec !== null;
  }

  get size(): number {
    return this.table.size;
  }

  find(value: T): CacheObject<T> | undefined {
    return this.table.get(this.ops.keyOf(value));
  }

  findKey(key: string): CacheObject<T> | undefined {
    return this.table.get(key);
  }

  /** A new object for `value` (not yet in the table); the value is owned by the cache from now on. */
  newObject(value: T, key = this.ops.keyOf(value)): CacheObject<T> {
    return this.newStoredObject(key, this.codec ? this.codec.encode(value) : value);
  }

  /** A new object from its key and stored form (what the codec would make of the value), not yet in the table. */
  newStoredObject(key: string, stored: unknown): CacheObject<T> {
    this.stats.objects++;
    return new CacheObject(key, stored, this.codec);
  }

  /** Releases an object that is not (or no longer) in the table. */
  freeObject(_obj: CacheObject<T>): void {
    this.stats.objects--;
  }

  /** Adds an object; false (and the failure counted) when the cache is full. */
  add(obj: CacheObject<T>): boolean {
    if (this.table.size >= this.limit) {
      this.stats.addFail++;
      this.stats.addFailEnospc++;
      return false;
    }
    this.table.set(obj.key, obj);
    this.hooks.added?.(obj);
    this.stats.active++;
    obj.lifetime = obj.lastupdate = now();
    obj.status = C_OBJ_NEW;
    obj.refcnt++;
    this.stats.addOk++;
    return true;
  }

  update(obj: CacheObject<T>, value: T): void {
    const cur = obj.value;
    this.ops.merge(cur, value);
    this.updateStored(obj, this.codec ? this.codec.encode(cur) : cur);
  }

  /** update() with the merged value's stored form made by the caller (the flat populate path). */
  updateStored(obj: CacheObject<T>, stored: unknown): void {
    obj.stored = stored;
    this.hooks.updated?.(obj);
    this.stats.updOk++;
    obj.lastupdate = now();
    obj.status = C_OBJ_ALIVE;
  }

  /** Marks an object dead but keeps it (FTFW keeps deletions until acknowledged). */
  setDead(obj: CacheObject<T>): void {
    this.stats.delOk++;
    this.stats.active--;
    obj.status = C_OBJ_DEAD;
  }

  /** Removes an object from the table (counted unless it was already marked dead). */
  del(obj: CacheObject<T>): void {
    if (obj.status !== C_OBJ_DEAD) {
      this.stats.delOk++;
      this.stats.active--;
    }
    this.hooks.destroyed?.(obj);
    if (this.table.get(obj.key) === obj) this.table.delete(obj.key);
  }

  /** A queue takes a reference. */
  get(obj: CacheObject<T>): void {
    obj.refcnt++;
  }

  /** Drops a reference; the last one removes and frees the object. True when it went. */
  put(obj: CacheObject<T>): boolean {
    if (--obj.refcnt === 0) {
      this.remove(obj);
      return true;
    }
    return false;
  }

  /** Removes an object and frees it (cache_del + cache_object_free). */
  remove(obj: CacheObject<T>): void {
    this.del(obj);
    this.freeObject(obj);
  }

  /**
   * A new object for `value`, replacing any with the same key (the NEW-event
   * and NEW-message handlers: find, delete, then add). Undefined when the
   * cache is full.
   */
  replace(value: T, key = this.ops.keyOf(value)): CacheObject<T> | undefined {
    return this.replaceStored(key, this.codec ? this.codec.encode(value) : value);
  }

  /**
   * replace() for a value already keyed and encoded by the caller (the NEW-event fast path
   * writes a conntrack's key and record straight from its netlink message).
   */
  replaceStored(key: string, stored: unknown): CacheObject<T> | undefined {
    const old = this.table.get(key);
    if (old) this.remove(old);
    const obj = this.newStoredObject(key, stored);
    if (this.add(obj)) return obj;
    this.freeObject(obj);
    return undefined;
  }

  /** Update if present and alive, else (re)create: cache_update_force. */
  updateForce(value: T): CacheObject<T> | undefined {
    const key = this.ops.keyOf(value);
    const obj = this.table.get(key);
    if (obj) {
      if (obj.status !== C_OBJ_DEAD) {
        this.update(obj, value);
        return obj;
      }
      this.remove(obj);
    }
    return this.replace(value, key);
  }

  /** Removes every object; `onRemove` runs for each before it goes. */
  flush(onRemove?: (obj: CacheObject<T>) => void): void {
    for (const obj of this.table.values()) {
      onRemove?.(obj);
      this.remove(obj);
    }
    this.stats.flush++;
  }

  values(): IterableIterator<CacheObject<T>> {
    return this.table.values();
  }
}

const u12 = (n: number) => String(n >>> 0).padStart(12);

/** The `-s` block of one cache (cache_stats). */
export function formatCacheStats(c: Cache<unknown>): string {
  const s = c.stats;
  return `cache ${c.name}:\n` +
    `current active connections:\t${u12(s.active)}\n` +
    `connections created:\t\t${u12(s.addOk)}\tfailed:\t${u12(s.addFail)}\n` +
    `connections updated:\t\t${u12(s.updOk)}\tfailed:\t${u12(s.updFail)}\n` +
    `connections destroyed:\t\t${u12(s.delOk)}\tfailed:\t${u12(s.delFail)}\n\n`;
}

/** The `-s cache` block of one cache (cache_stats_extended). */
export function formatCacheStatsExtended(c: Cache<unknown>): string {
  const s = c.stats;
  return `cache:${c.name}\tactive objects:\t\t${u12(s.objects)}\n` +
    `\tactive/total entries:\t\t${u12(s.active)}/${u12(c.size)}\n` +
    `\tcreation OK/failed:\t\t${u12(s.addOk)}/${u12(s.addFail)}\n` +
    `\t\tno memory available:\t${u12(s.addFailEnomem)}\n` +
    `\t\tno space left in cache:\t${u12(s.addFailEnospc)}\n` +
    `\tupdate OK/failed:\t\t${u12(s.updOk)}/${u12(s.updFail)}\n` +
    `\t\tentry not found:\t${u12(s.updFailEnoent)}\n` +
    `\tdeletion created/failed:\t${u12(s.delOk)}/${u12(s.delFail)}\n` +
    `\t\tentry not found:\t${u12(s.delFailEnoent)}\n\n`;
}
