// A commit creates 100 000 entries in the kernel; had the event socket stayed
// in the NEW groups, the kernel would build an event for each and the daemon
// would decode and cache every one of them while the commit runs (the
// reference does: its internal cache learns the committed entries from their
// NEW events, sending none of them). ctkit leaves the NEW groups for the
// commit and catches up afterwards with one dump: a kernel entry the internal
// cache lacks is cached quietly when the commit created it (its key is in the
// external cache) and cached and sent like any new flow otherwise (traffic
// made it meanwhile).
import { Conntrack, type Expect, hasPorts } from "../../conntrack/model.ts";
import { C_OBJ_DEAD, type Cache } from "../cache/cache.ts";
import type { KernelTable } from "../ctnl/kernel.ts";
import type { CtFilter } from "../filter/mod.ts";
import { expectHelperAccepted } from "../filter/userspace.ts";
import { ORIGIN_COMMIT, ORIGIN_NOT_ME } from "../modes/mode.ts";
import type { InternalCache } from "./internal.ts";
import { setNewEvents } from "./ha.ts";

export interface CatchUpDeps {
  /** The socket the catch-up dumps on (the daemon's dump socket: -R's). */
  dump: KernelTable;
  filter: CtFilter;
  internal: InternalCache;
  external: { ct: Cache<Conntrack>; exp: Cache<Expect> };
  /** ExpectationSync's helper list (true: every helper), or null when expectations are not synced. */
  expectHelpers: true | readonly string[] | null;
}

function live<T>(cache: Cache<T>, value: T): boolean {
  const o = cache.find(value);
  return o !== undefined && o.status !== C_OBJ_DEAD;
}

/**
 * Whether the commit created this kernel entry. The kernel reports ports the
 * synced entry may have lacked (GRE without keys, UDP-Lite without ports) as
 * zero: such an entry is looked up without them too.
 */
function committed(external: Cache<Conntrack>, ct: Conntrack): boolean {
  if (live(external, ct)) return true;
  const o = ct.orig;
  if (!hasPorts(o.proto) || (o.sport !== 0 && o.dport !== 0)) return false;
  const probe = Object.assign(new Conntrack(), ct);
  probe.orig = { ...o, sport: o.sport || undefined, dport: o.dport || undefined };
  return live(external, probe);
}

/** Leaves the NEW groups of the event socket for the duration of `body`, then rejoins them. */
export async function withoutNewEvents<R>(
  fd: number | null,
  expectations: boolean,
  body: () => Promise<R>,
): Promise<R> {
  setNewEvents(fd, false, expectations);
  try {
    return await body();
  } finally {
    setNewEvents(fd, true, expectations);
  }
}

/**
 * Caches what the kernel holds and the internal cache lacks (see the head of
 * this file). Returns how many entries it cached: each stands for a NEW event
 * the daemon would otherwise have received (`-s runtime` counts them as such).
 */
export async function catchUpAfterCommit(deps: CatchUpDeps): Promise<number> {
  const { internal, external, filter } = deps;
  let cached = 0;
  await deps.dump.dumpConntracks((ct) => {
    if (filter.rejects(ct, true) || live(internal.ct, ct)) return;
    internal.ctHandler.onNew(ct, committed(external.ct, ct) ? ORIGIN_COMMIT : ORIGIN_NOT_ME);
    cached++;
  });
  const helpers = deps.expectHelpers;
  if (helpers === null) return cached;
  await deps.dump.dumpExpects((exp) => {
    if (!expectHelperAccepted(exp, helpers) || !internal.expHandler.hasMaster(exp.master)) return;
    if (live(internal.exp, exp)) return;
    internal.expHandler.onNew(exp, live(external.exp, exp) ? ORIGIN_COMMIT : ORIGIN_NOT_ME);
    cached++;
  });
  return cached;
}
