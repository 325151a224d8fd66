// What arrives from the peers: kept in the external cache until `-c` commits it
// (external_cache.c), or, with DisableExternalCache, written into the kernel
// at once through a socket of its own (external_inject.c).
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import { formatConntrack } from "../../conntrack/format/text.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { formatExpect } from "../../conntrack/format/expect.ts";
import { strerror } from "../../../ffi/libc.ts";
import { ENOENT } from "../../netlink/constants.ts";
import { C_OBJ_DEAD, Cache, type CacheHooks } from "../cache/cache.ts";
import { FlatCt } from "../cache/flat_ct.ts";
import { flatKey, flatPeerRecord } from "../cache/flat_record.ts";
import { ctCacheOps, ctCodec } from "../cache/ct_object.ts";
import { expCacheOps } from "../cache/exp_object.ts";
import type { KernelTable } from "../ctnl/kernel.ts";
import type { Logger } from "../modes/mode.ts";
import { createReplacing, entryToCreate, entryToUpdate } from "./kernel_entry.ts";
import { parseFlatCtPayload } from "./wire/ct_flat_parse.ts";

/** Scratch state of the receive fast path (one message at a time). */
const flat = new FlatCt();

export interface ExternalHandler {
  ctNew(ct: Conntrack): void;
  ctUpd(ct: Conntrack): void;
  ctDel(ct: Conntrack): void;
  expNew(exp: Expect): void;
  expUpd(exp: Expect): void;
  expDel(exp: Expect): void;
}

export class ExternalCache implements ExternalHandler {
  readonly ct: Cache<Conntrack>;
  readonly exp: Cache<Expect>;

  constructor(limit: number, hooks: CacheHooks<unknown>) {
    this.ct = new Cache<Conntrack>("external", limit, ctCacheOps, hooks as CacheHooks<Conntrack>, ctCodec);
    this.exp = new Cache<Expect>("external", limit, expCacheOps, hooks as CacheHooks<Expect>);
  }

  private static remove<T>(cache: Cache<T>, value: T): void {
    const obj = cache.find(value);
    if (obj) cache.remove(obj);
  }

  ctNew(ct: Conntrack): void {
    this.ct.replace(ct);
  }
  ctUpd(ct: Conntrack): void {
    this.ct.updateForce(ct);
  }
  ctDel(ct: Conntrack): void {
    ExternalCache.remove(this.ct, ct);
  }

  /**
   * ctNew straight from a message's payload buf[off, end) for a plain flow: key and record
   * written from a flat parse, the same ctNew gives. False (nothing done) for anything else.
   */
  ctNewRaw(buf: Uint8Array, off: number, end: number): boolean {
    if (!parseFlatCtPayload(flat, buf, off, end)) return false;
    this.ct.replaceStored(flatKey(flat), flatPeerRecord(flat));
    return true;
  }

  /**
   * ctUpd the same way, when there is nothing to merge into: no entry, or a dead one (which
   * updateForce replaces as it would add). A live entry is left to ctUpd's merge.
   */
  ctUpdRaw(buf: Uint8Array, off: number, end: number): boolean {
    if (!parseFlatCtPayload(flat, buf, off, end)) return false;
    const key = flatKey(flat);
    const obj = this.ct.findKey(key);
    if (obj !== undefined && obj.status !== C_OBJ_DEAD) return false;
    this.ct.replaceStored(key, flatPeerRecord(flat));
    return true;
  }

  expNew(exp: Expect): void {
    this.exp.replace(exp);
  }
  expUpd(exp: Expect): void {
    this.exp.updateForce(exp);
  }
  expDel(exp: Expect): void {
    ExternalCache.remove(this.exp, exp);
  }
}

export class InjectStats {
  addOk = 0;
  addFail = 0;
  updOk = 0;
  updFail = 0;
  delOk = 0;
  delFail = 0;
}

const u12 = (n: number) => String(n >>> 0).padStart(12);

export function formatInjectStats(s: InjectStats): string {
  return "external inject:\n" +
    `connections created:\t\t${u12(s.addOk)}\tfailed:\t${u12(s.addFail)}\n` +
    `connections updated:\t\t${u12(s.updOk)}\tfailed:\t${u12(s.updFail)}\n` +
    `connections destroyed:\t\t${u12(s.delOk)}\tfailed:\t${u12(s.delFail)}\n\n`;
}

/**
 * DisableExternalCache: each message becomes a kernel request right away.
 * Requests are chained so they reach the kernel in the order the messages came.
 */
export class ExternalInject implements ExternalHandler {
  readonly stats = new InjectStats();
  readonly expStats = new InjectStats();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly kernel: KernelTable,
    private readonly log: Logger & { logEntry(line: string): void },
    private readonly windowTracking: boolean,
  ) {}

  private later(op: () => Promise<void>): void {
    this.chain = this.chain.then(op).catch((e) => {
      this.log.log("error", `inject failed: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  private warn(msg: string, ct: Conntrack): void {
    this.log.log("warning", msg);
    this.log.logEntry(formatConntrack(ct, MSG_UNKNOWN, 0, null, 1024));
  }

  private async create(ct: Conntrack): Promise<number> {
    const req = entryToCreate(ct, 0, this.windowTracking);
    return (await this.kernel.createConntracks([req])).get(req) ?? 0;
  }

  /** 0, or the errno of the delete: ENOENT included, the callers tell it apart. */
  private async destroy(ct: Conntrack): Promise<number> {
    return (await this.kernel.deleteConntracks([ct], true)).get(ct) ?? 0;
  }

  ctNew(ct: Conntrack): void {
    this.later(async () => {
      const { code, retried } = await createReplacing(() => this.create(ct), () => this.destroy(ct));
      if (code === 0) this.stats.addOk++;
      else {
        this.stats.addFail++;
        this.warn(
          `could not add new ct entry${retried ? ", even when deleting it first" : ""}: ${strerror(code)}`,
          ct,
        );
      }
    });
  }

  ctUpd(ct: Conntrack): void {
    this.later(async () => {
      const req = entryToUpdate(ct, 0, this.windowTracking);
      const e = (await this.kernel.updateConntracks([req])).get(req) ?? 0;
      if (e === 0) {
        this.stats.updOk++;
        return;
      }
      if (e === ENOENT) {
        const c = await this.create(ct);
        if (c === 0) this.stats.updOk++;
        else {
          this.stats.updFail++;
          this.warn(`could not update ct entry, even if creating it instead: ${strerror(c)}`, ct);
        }
        return;
      }
      const d = await this.destroy(ct);
      if (d === 0 || d === ENOENT) {
        const c = await this.create(ct);
        if (c === 0) this.stats.updOk++;
        else {
          this.stats.updFail++;
          this.warn(`could not update ct entry, even when deleting it first: ${strerror(c)}`, ct);
        }
        return;
      }
      this.stats.updFail++;
      this.warn(`could not update ct entry: ${strerror(d)}`, ct);
    });
  }

  ctDel(ct: Conntrack): void {
    this.later(async () => {
      const e = await this.destroy(ct);
      if (e === 0) this.stats.delOk++;
      else if (e !== ENOENT) {
        this.stats.delFail++;
        this.warn(`could not destroy ct entry: ${strerror(e)}`, ct);
      }
    });
  }

  private warnExp(msg: string, exp: Expect): void {
    this.log.log("warning", msg);
    this.log.logEntry(formatExpect(exp, MSG_UNKNOWN, 0));
  }

  expNew(exp: Expect): void {
    this.later(async () => {
      const { code, retried } = await createReplacing(
        async () => (await this.kernel.createExpects([exp])).get(exp) ?? 0,
        async () => (await this.kernel.deleteExpects([exp])).get(exp) ?? 0,
      );
      if (code === 0) this.expStats.addOk++;
      else {
        this.expStats.addFail++;
        this.warnExp(
          `could not add new exp entry${retried ? ", even when deleting it first" : ""}: ${strerror(code)}`,
          exp,
        );
      }
    });
  }

  /** The reference handles an expectation update as a new one. */
  expUpd(exp: Expect): void {
    this.expNew(exp);
  }

  expDel(exp: Expect): void {
    this.later(async () => {
      const e = (await this.kernel.deleteExpects([exp])).get(exp) ?? 0;
      if (e === 0) this.expStats.delOk++;
      else if (e !== ENOENT) {
        this.expStats.delFail++;
        this.warnExp(`could not delete exp entry: ${strerror(e)}`, exp);
      }
    });
  }
}
