// `-c`: writes the external cache into the kernel table. Entries without a
// master go first, then related ones (their masters must exist). Creates go
// out in batches of a few hundred per sendto(), an existing entry is deleted
// and created again once, and the event loop gets a turn between batches.
// The client's connection stays open until the commit is complete.
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import { formatConntrack } from "../../conntrack/format/text.ts";
import { formatExpect } from "../../conntrack/format/expect.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { strerror } from "../../../ffi/libc.ts";
import { EEXIST } from "../../netlink/constants.ts";
import type { Cache } from "../cache/cache.ts";
import { now } from "../cache/cache.ts";
import type { KernelTable } from "../ctnl/kernel.ts";
import { yieldToLoop } from "../ctnl/events.ts";
import type { Logger } from "../modes/mode.ts";
import { createReplacing, entryToCreate, makeCreateRequest } from "./kernel_entry.ts";

const STEP = 1024;

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
    let ok = 0, fail = 0;
    const objs = [...cache.values()];
    // A cache that packs its values hands out a fresh copy on every read: the
    // request is built in that copy, and each entry is decoded once.
    const own = cache.copiesOnRead;
    // Masters first, then the entries that need them (their masters must exist).
    const related: Conntrack[] = [];
    const send = async (reqs: Conntrack[]) => {
      const [o, f] = await this.createBatch(reqs);
      ok += o;
      fail += f;
      await yieldToLoop();
    };
    for (let i = 0; i < objs.length; i += STEP) {
      const reqs: Conntrack[] = [];
      for (const o of objs.slice(i, i + STEP)) {
        const value = o.value;
        const timeout = commitTimeout(value.timeout, o.lastupdate, this.opts);
        const req = own
          ? makeCreateRequest(value, timeout, this.opts.tcpWindowTracking)
          : entryToCreate(value, timeout, this.opts.tcpWindowTracking);
        (req.master !== undefined ? related : reqs).push(req);
      }
      await send(reqs);
    }
    for (let i = 0; i < related.length; i += STEP) await send(related.slice(i, i + STEP));
    cache.stats.commitOk += ok;
    cache.stats.commitFail += fail;
    return [ok, fail];
  }

  private async createBatch(reqs: Conntrack[]): Promise<[number, number]> {
    const failed = await this.kernel.createConntracksPipelined(reqs);
    let fail = 0;
    const retry: Conntrack[] = [];
    for (const [req, code] of failed) {
      if (code === EEXIST) retry.push(req);
      else {
        fail++;
        this.log.log("error", `commit-create: ${strerror(code)}`);
        this.log.logEntry(this.entryLine(req));
      }
    }
    if (retry.length) {
      const delFailed = await this.kernel.deleteConntracks(retry);
      const again = retry.filter((r) => !delFailed.has(r));
      for (const [req, code] of delFailed) {
        fail++;
        this.log.log("error", `commit-destroy: ${strerror(code)}`);
        this.log.logEntry(this.entryLine(req));
      }
      const failed2 = await this.kernel.createConntracks(again);
      for (const [req, code] of failed2) {
        fail++;
        // The reference reports a failed second create as a destroy failure (same branch).
        this.log.log("error", `${code === EEXIST ? "commit-destroy" : "commit-create"}: ${strerror(code)}`);
        this.log.logEntry(this.entryLine(req));
      }
    }
    return [reqs.length - fail, fail];
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
    try {
      const start = performance.now();
      if (what !== "expect" && ct) {
        const [ok, fail] = await this.commitConntracks(ct);
        this.report(ok, fail, "entries", start);
      }
      if (what !== "ct" && exp) {
        const t = performance.now();
        const [ok, fail] = await this.commitExpects(exp);
        this.report(ok, fail, "expectations", what === "all" ? t : start);
      }
    } finally {
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
