// Stats mode: one cache of the kernel's flows, fed by events and dumps; every
// flow that ends is written to the Stats log. No synchronisation.
import type { Conntrack } from "../../conntrack/model.ts";
import { formatConntrack } from "../../conntrack/format/text.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { Cache, formatCacheStats, formatCacheStatsExtended, now } from "../cache/cache.ts";
import { ctCacheOps, ctCodec, dumpConntrackLine, stripVolatile } from "../cache/ct_object.ts";
import { FlatCt } from "../cache/flat_ct.ts";
import { flatKey, flatStatsRecord, populateFlat } from "../cache/flat_record.ts";
import { parseCtMessage } from "../ctnl/ct_event_fast.ts";
import * as R from "../client/codes.ts";
import type { KernelTable } from "../ctnl/kernel.ts";
import type { CtFilter } from "../filter/mod.ts";
import { formatTrafficStats, type RuntimeStats } from "../daemon/runtime_stats.ts";
import type { CtHandler, Logger, Mode, Reply } from "./mode.ts";
import { writeDump } from "./dump.ts";

export interface StatsModeDeps {
  hashLimit: number;
  log: Logger;
  stats: RuntimeStats;
  /** Socket for the purge's existence checks. */
  get: KernelTable;
  filter: CtFilter;
}

/** The flow line the Stats log gets (dlog_ct with NFCT_O_PLAIN). */
function flowLine(ct: Conntrack): string {
  return formatConntrack(ct, MSG_UNKNOWN, 0, null, 1024);
}

export class StatsMode implements Mode {
  readonly populate = true;
  readonly resync = true;
  readonly exp = null;
  readonly cache: Cache<Conntrack>;
  readonly ct: CtHandler;
  private readonly flat = new FlatCt();

  constructor(private readonly deps: StatsModeDeps) {
    const cache = this.cache = new Cache<Conntrack>("stats", deps.hashLimit, ctCacheOps, {}, ctCodec);
    const populate = (ct: Conntrack) => {
      stripVolatile(ct, false);
      cache.updateForce(ct);
    };
    this.ct = {
      populate,
      // populate() of a plain flow from one flat parse: cached anew, or merged into its cached record.
      populateMessage: (buf, v, off, len) => {
        const f = this.flat;
        return parseCtMessage(f, buf, v, off, len) && populateFlat(cache, f, false);
      },
      resync: (ct) => {
        if (deps.filter.rejects(ct, true)) return;
        populate(ct);
      },
      purge: () => this.purge(),
      onNew: (ct) => {
        ct.timeout = undefined;
        // The key once: building it is a good part of an event's cost.
        const key = cache.ops.keyOf(ct);
        if (cache.findKey(key)) return;
        const obj = cache.newObject(ct, key);
        if (!cache.add(obj)) cache.freeObject(obj);
      },
      // onNew for a plain flow straight from its netlink message (ctnl/ct_event_fast.ts): the
      // same key and record from one flat parse. False sends the event through onNew.
      onNewMessage: (buf, v, off, len) => {
        const f = this.flat;
        if (!parseCtMessage(f, buf, v, off, len)) return false;
        const key = flatKey(f);
        if (cache.findKey(key)) return true;
        const record = flatStatsRecord(f);
        if (record === null) return false;
        const obj = cache.newStoredObject(key, record);
        if (!cache.add(obj)) cache.freeObject(obj);
        return true;
      },
      onUpdate: (ct) => {
        ct.timeout = undefined;
        cache.updateForce(ct);
      },
      onDestroy: (ct) => {
        ct.timeout = undefined;
        const obj = cache.find(ct);
        if (!obj) return false;
        cache.remove(obj);
        deps.log.logFlow(flowLine(ct));
        return true;
      },
    };
  }

  /** Drops (and logs) cached flows the kernel no longer has. */
  private async purge(): Promise<void> {
    const cached = [...this.cache.values()].map((o) => o.value);
    await this.deps.get.lookupConntracks(cached, () => {}, (ct) => {
      const obj = this.cache.find(ct);
      if (!obj) return;
      this.deps.log.logFlow(flowLine(obj.value));
      this.cache.remove(obj);
    });
  }

  async local(code: number, reply: Reply): Promise<boolean> {
    switch (code) {
      case R.CT_DUMP_INTERNAL:
      case R.CT_DUMP_INT_XML: {
        const xml = code === R.CT_DUMP_INT_XML, t = now();
        await writeDump(reply, this.cache.values(), (obj) => dumpConntrackLine(obj, xml, t));
        break;
      }
      case R.CT_FLUSH_CACHE:
      case R.CT_FLUSH_INT_CACHE:
        this.deps.log.log("notice", "flushing caches");
        this.cache.flush();
        break;
      case R.STATS:
        reply.write(formatCacheStats(this.cache));
        reply.write(formatTrafficStats(this.deps.stats));
        break;
      case R.STATS_CACHE:
        reply.write(formatCacheStatsExtended(this.cache));
        break;
    }
    // The reference's stats handler never reports a request as unknown.
    return true;
  }

  kill(): void {}
}
