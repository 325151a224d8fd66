// How conntrackd turns a synced entry into a kernel request (nl_create_conntrack
// and nl_update_conntrack): the reply tuple rebuilt from the original, no
// EXPECTED bit, the commit timeout, and TCP window tracking off unless
// TCPWindowTracking asks for it.
import { Conntrack, IPPROTO_TCP, IPS_EXPECTED, type Tuple } from "../../conntrack/model.ts";
import { reverseTuple } from "../../conntrack/run/tuple.ts";
import { EEXIST, ENOENT } from "../../netlink/constants.ts";

const IPS_NAT_MASK = (1 << 4) | (1 << 5);
/** IP_CT_TCP_FLAG_BE_LIBERAL */
const TCP_FLAG_BE_LIBERAL = 0x08;

function copyTuple(t: Tuple): Tuple {
  return { ...t };
}

export function cloneConntrack(ct: Conntrack): Conntrack {
  const c = Object.assign(new Conntrack(), ct);
  c.orig = copyTuple(ct.orig);
  c.reply = copyTuple(ct.reply);
  if (ct.master) c.master = copyTuple(ct.master);
  return c;
}

function beLiberal(ct: Conntrack): void {
  if (ct.orig.proto !== IPPROTO_TCP) return;
  ct.tcpFlagsOrig = (ct.tcpFlagsOrig ?? 0) | TCP_FLAG_BE_LIBERAL;
  ct.tcpMaskOrig = (ct.tcpMaskOrig ?? 0) | TCP_FLAG_BE_LIBERAL;
  ct.tcpFlagsReply = (ct.tcpFlagsReply ?? 0) | TCP_FLAG_BE_LIBERAL;
  ct.tcpMaskReply = (ct.tcpMaskReply ?? 0) | TCP_FLAG_BE_LIBERAL;
}

/** The request that creates `ct` in the kernel; `timeout` 0 keeps the entry's own. */
export function entryToCreate(ct: Conntrack, timeout: number, windowTracking: boolean): Conntrack {
  return makeCreateRequest(cloneConntrack(ct), timeout, windowTracking);
}

/**
 * entryToCreate on an object the caller owns and no longer needs as it is (a
 * copy just decoded from a cache record): no clone, so a commit of 100 000
 * entries allocates only what decoding does.
 */
export function makeCreateRequest(c: Conntrack, timeout: number, windowTracking: boolean): Conntrack {
  if (timeout > 0) c.timeout = timeout;
  if (c.status !== undefined) c.status &= ~IPS_EXPECTED;
  c.reply = reverseTuple(c.orig, c.reply);
  c.id = undefined;
  if (!windowTracking) beLiberal(c);
  return c;
}

/** The request that updates `ct` in place: no NAT, no helper, no master (the kernel refuses changing them). */
export function entryToUpdate(ct: Conntrack, timeout: number, windowTracking: boolean): Conntrack {
  const c = cloneConntrack(ct);
  if (timeout > 0) c.timeout = timeout;
  c.snat = undefined;
  c.dnat = undefined;
  if (c.status !== undefined) c.status &= ~IPS_NAT_MASK;
  c.helper = undefined;
  c.master = undefined;
  c.id = undefined;
  if (!windowTracking) beLiberal(c);
  return c;
}

/** Entries with a master tuple are committed after the others (ct_is_related). */
export function isRelated(ct: Conntrack): boolean {
  return ct.master !== undefined;
}

/**
 * The reference's create with one retry (nl_create_* callers): when the entry
 * exists, delete it and create it again once. Returns 0 or the errno that
 * stopped it (the delete's, unless that was ENOENT), and whether the retry ran.
 */
export async function createReplacing(
  create: () => Promise<number>,
  destroy: () => Promise<number>,
): Promise<{ code: number; retried: boolean }> {
  const first = await create();
  if (first !== EEXIST) return { code: first, retried: false };
  const d = await destroy();
  if (d !== 0 && d !== ENOENT) return { code: d, retried: true };
  return { code: await create(), retried: true };
}
