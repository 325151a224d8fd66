// `-c`: writes the external cache into the kernel table. Entries without a
// master go first, then related ones (their masters must exist). Creates go
// out in batches of a few hundred per sendto(), written straight from the
// cache records, and an existing entry is deleted and created again once.
// The client's connection stays open until the commit is complete.
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import { formatConntrack } from "../../conntrack/format/text.ts";
import { formatExpect } from "../../conntrack/format/expect.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { strerror } from "../../../ffi/libc.ts";
import { EEXIST } from "../../netlink/constants.ts";
import type { Cache, CacheObject } from "../cache/cache.ts";
import { now } from "../cache/cache.ts";
import type { KernelTable } from "../ctnl/kernel.ts";
import type { Logger } from "../modes/mode.ts";
import {
  createReplacing,
  entryToCreate,
  isRelated as isRelatedEntry,
  makeCreateRequest,
} from "./kernel_entry.ts";
import { recordFamily, recordIsRelated, writeCreateFromRecord } from "./commit_request.ts";
import { putConntrack } from "../../conntrack/encode.ts";
import type { MessageBuilder } from "../../netlink/builder.ts";
import { CommitRecord, type CommitTables } from "../metrics/records.ts";

export interface CommitOptions {
  /** CommitTimeout; 0 = estimate from the cached timeout and the age of the entry. */
  commitTimeout: number;
  tcpWindowTracking: boolean;
}

/** The timeout an entry is committed with (cache_ct_commit_step). */
export function commitTimeout(cached: number | undefined, lastupdate: number, opts: CommitOptions): number {
  if (opts.commitTimeout) return opts.commitTimeout;
  let age = now() - lastupdate;
  if (age < 0) age = 60;
  const t = (cached ?? 0) - age;
  return t < 0 ? 60 : t;
}

export class Committer {
  /** True while a commit runs: a second one is refused, and so are cache flushes. */
  running = false;
  /** The last commit's duration and figures (the Prometheus endpoint reads them). */
  readonly record = new CommitRecord();

  constructor(
    private readonly kernel: KernelTable,
    private readonly log: Logger & { logEntry(line: string): void },
    private readonly opts: CommitOptions,
  ) {}

  private entryLine(ct: Conntrack): string {
    return formatConntrack(ct, MSG_UNKNOWN, 0, null, 1024);
  }

  /** Commits one conntrack cache; returns [ok, failed]. */
  async commitConntracks(cache: Cache<Conntrack>): Promise<[number, number]> {
    const { tcpWindowTracking } = this.opts;
    // Masters first, then the entries that need them (their masters must exist).
    const first: CacheObject<Conntrack>[] = [];
    const related: CacheObject<Conntrack>[] = [];
    for (const o of cache.values()) {
      const rec = o.stored;
      const isRelated = typeof rec === "string" ? recordIsRelated(rec) : isRelatedEntry(o.value);
      (isRelated ? related : first).push(o);
    }
    // The request of an entry: from its record when it can be (commit_request.ts), else from the
    // decoded entry (a cache that packs its values hands out a fresh copy the request is built in).
    let lastupdate = 0;
    const timeoutOf = (cached: number | undefined) => commitTimeout(cached, lastupdate, this.opts);
    const request = (o: CacheObject<Conntrack>): Conntrack => {
      const value = o.value;
      const t = commitTimeout(value.timeout, o.lastupdate, this.opts);
      return cache.copiesOnRead
        ? makeCreateRequest(value, t, tcpWindowTracking)
        : entryToCreate(value, t, tcpWindowTracking);
    };
    const family = (o: CacheObject<Conntrack>) => {
      const rec = o.stored;
      return typeof rec === "string" ? recordFamily(rec) : (rec as Conntrack).orig.l3;
    };
    const put = (b: MessageBuilder, o: CacheObject<Conntrack>) => {
      const rec = o.stored;
      lastupdate = o.lastupdate;
      if (typeof rec === "string" && writeCreateFromRecord(b, rec, timeoutOf, tcpWindowTracking)) return;
      putConntrack(b, request(o));
    };
    let fail = 0;
    for (const objs of [first, related]) {
      if (!objs.length) continue;
      const failed = await this.kernel.createPipelined(objs, family, put);
      if (failed.size) fail += await this.retry([...failed].map(([o, code]) => [request(o), code]));
    }
    const ok = first.length + related.length - fail;
    cache.stats.commitOk += ok;
    cache.stats.commitFail += fail;
    return [ok, fail];
  }

  /**
   * The failed creates: an entry that exists already is deleted and created
   * again once, every other failure is logged. Returns how many failed in the end.
   */
  private async retry(failed: [Conntrack, number][]): Promise<number> {
    let fail = 0;
    const again: Conntrack[] = [];
    for (const [req, code] of failed) {
      if (code === EEXIST) again.push(req);
      else {
        fail++;
        this.log.log("error", `commit-create: ${strerror(code)}`);
        this.log.logEntry(this.entryLine(req));
      }
    }
    if (!again.length) return fail;
    const delFailed = await this.kernel.deleteConntracks(again);
    for (const [req, code] of delFailed) {
      fail++;
      this.log.log("error", `commit-destroy: ${strerror(code)}`);
      this.log.logEntry(this.entryLine(req));
    }
    const failed2 = await this.kernel.createConntracks(again.filter((r) => !delFailed.has(r)));
    for (const [req, code] of failed2) {
      fail++;
      // The reference reports a failed second create as a destroy failure (same branch).
      this.log.log("error", `${code === EEXIST ? "commit-destroy" : "commit-create"}: ${strerror(code)}`);
      this.log.logEntry(this.entryLine(req));
    }
    return fail;
  }

  /** Commits the expectation cache; returns [ok, failed]. */
  async commitExpects(cache: Cache<Expect>): Promise<[number, number]> {
    let ok = 0, fail = 0;
    for (const o of [...cache.values()]) {
      const exp = { ...o.value } as Expect;
      const t = commitTimeout(o.value.timeout, o.lastupdate, this.opts);
      if (t > 0) exp.timeout = t;
      const { code } = await createReplacing(
        async () => (await this.kernel.createExpects([exp])).get(exp) ?? 0,
        async () => (await this.kernel.deleteExpects([exp])).get(exp) ?? 0,
      );
      if (code === 0) ok++;
      else {
        fail++;
        this.log.log("error", `commit-create: ${strerror(code)}`);
        this.log.logEntry(formatExpect(exp, MSG_UNKNOWN, 0));
      }
    }
    cache.stats.commitOk += ok;
    cache.stats.commitFail += fail;
    return [ok, fail];
  }

  /** Runs one commit with the reference's log lines; false when one is already running. */
  async run(
    what: "ct" | "expect" | "all",
    ct: Cache<Conntrack> | null,
    exp: Cache<Expect> | null,
  ): Promise<boolean> {
    if (this.running) return false;
    this.running = true;
    const start = performance.now();
    const tables: CommitTables = { ct: null, expect: null };
    try {
      if (what !== "expect" && ct) {
        const [ok, fail] = tables.ct = await this.commitConntracks(ct);
        this.report(ok, fail, "entries", start);
      }
      if (what !== "ct" && exp) {
        const t = performance.now();
        const [ok, fail] = tables.expect = await this.commitExpects(exp);
        this.report(ok, fail, "expectations", what === "all" ? t : start);
      }
    } finally {
      this.record.done(start, tables);
      this.running = false;
    }
    return true;
  }

  private report(ok: number, fail: number, noun: "entries" | "expectations", start: number): void {
    this.log.log("notice", `Committed ${ok} new ${noun}`);
    if (fail) this.log.log("notice", `${fail} ${noun} can't be committed`);
    const us = Math.round((performance.now() - start) * 1000);
    const secs = Math.floor(us / 1e6), frac = String(us % 1e6).padStart(6, "0");
    this.log.log("notice", `commit has taken ${secs}.${frac} seconds`);
  }
}
