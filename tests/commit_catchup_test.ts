// The dump that follows a commit run without NEW events: entries the commit
// created are cached quietly (the reference caches the commit's NEW events and
// sends none), entries traffic created meanwhile are cached and sent, entries
// already cached are left alone, and filtered ones are skipped.
import { deepStrictEqual as assertEquals } from "node:assert";
import { Conntrack, newTuple } from "../src/conntrack/model.ts";
import type { Expect } from "../src/conntrack/model.ts";
import { Cache } from "../src/conntrackd/cache/cache.ts";
import { ctCacheOps, ctCodec, ctKey } from "../src/conntrackd/cache/ct_object.ts";
import { expCacheOps } from "../src/conntrackd/cache/exp_object.ts";
import { parseConfig } from "../src/conntrackd/config/mod.ts";
import type { KernelTable } from "../src/conntrackd/ctnl/kernel.ts";
import { CtFilter } from "../src/conntrackd/filter/userspace.ts";
import { catchUpAfterCommit } from "../src/conntrackd/sync/commit_catchup.ts";
import { InternalCache } from "../src/conntrackd/sync/internal.ts";
import type { SyncObject } from "../src/conntrackd/sync/protocol.ts";
import type { QueueNode } from "../src/conntrackd/sync/queue.ts";

function flow(src: string, dst: string, proto: number, sport?: number, dport?: number): Conntrack {
  const ct = new Conntrack();
  ct.orig = { ...newTuple(2), src, dst, proto, sport, dport };
  ct.reply = { ...newTuple(2), src: dst, dst: src, proto, sport: dport, dport: sport };
  ct.status = 8;
  ct.timeout = 300;
  return ct;
}

/** A kernel table that only dumps: the entries given, as the kernel reports them. */
function kernelOf(entries: Conntrack[]): KernelTable {
  return {
    dumpConntracks: (visit: (ct: Conntrack) => void) => {
      for (const e of entries) visit(Object.assign(new Conntrack(), e));
      return Promise.resolve();
    },
    dumpExpects: (_visit: (exp: Expect) => void) => Promise.resolve(),
  } as unknown as KernelTable;
}

function filterOf(body: string): CtFilter {
  const text = `General {\n\tUNIX { Path /tmp/x.ctl }\n\tFilter {\n${body}\n\t}\n}\n`;
  return new CtFilter(parseConfig(text, "catchup-test.conf").general.filter);
}

Deno.test("catch-up after a commit: committed entries quiet, traffic's entries sent, cached ones untouched", async () => {
  const committed = flow("10.0.0.1", "10.0.0.2", 6, 1000, 80);
  const greNoKeys = flow("10.0.0.3", "10.0.0.4", 47); // the kernel reports its keys as 0
  const traffic = flow("10.0.0.5", "10.0.0.6", 17, 53, 53);
  const cachedBefore = flow("10.0.0.7", "10.0.0.8", 6, 2000, 443);
  const ignored = flow("10.9.9.9", "10.0.0.8", 6, 3000, 443);

  const external = {
    ct: new Cache<Conntrack>("external", 1000, ctCacheOps, {}, ctCodec),
    exp: new Cache<Expect>("external", 1000, expCacheOps, {}),
  };
  external.ct.replace(committed);
  external.ct.replace(greNoKeys);

  const sent: string[] = [];
  const filter = filterOf("\t\tAddress Ignore { IPv4_address 10.9.9.9 }");
  const internal = new InternalCache(
    1000,
    (node: QueueNode<SyncObject>) => sent.push((node.data.obj as { key: string }).key),
    kernelOf([]),
    filter,
    {},
  );
  internal.ctHandler.onNew(cachedBefore, 0);
  sent.length = 0;

  const asKernel = { ...greNoKeys, orig: { ...greNoKeys.orig, sport: 0, dport: 0 } } as Conntrack;
  const cached = await catchUpAfterCommit({
    dump: kernelOf([committed, asKernel, traffic, cachedBefore, ignored]),
    filter,
    internal,
    external,
    expectHelpers: null,
  });

  assertEquals(cached, 3);
  assertEquals(internal.ct.size, 4);
  for (const ct of [committed, asKernel, traffic, cachedBefore]) {
    assertEquals(internal.ct.find(ct) !== undefined, true, ctKey(ct));
  }
  assertEquals(internal.ct.find(ignored), undefined);
  // Only the flow traffic made during the commit goes to the peer.
  assertEquals(sent, [ctKey(traffic)]);
});
