// How conntrackd caches an expectation: keyed by its master and expected
// tuples (the reference hashes the master and compares with nfexp_cmp), replaced
// whole on update (it memcpy()s the object), printed as `-i expect` prints it.
import type { Expect, Tuple } from "../../conntrack/model.ts";
import { formatExpect } from "../../conntrack/format/expect.ts";
import { MSG_UNKNOWN } from "../../conntrack/format/common.ts";
import { O_XML } from "../../conntrack/command.ts";
import type { CacheObject, CacheOps } from "./cache.ts";

function tupleKey(t: Tuple): string {
  return `${t.l3} ${t.proto} ${t.src} ${t.dst} ${t.sport}/${t.dport} ${t.icmpType}/${t.icmpCode}/${t.icmpId}`;
}

export function expKey(exp: Expect): string {
  return `${tupleKey(exp.master)}|${tupleKey(exp.tuple)}|${exp.zone ?? 0}`;
}

export const expCacheOps: CacheOps<Expect> = {
  keyOf: expKey,
  merge(stored, update) {
    Object.assign(stored, update);
  },
};

/** One `-i expect` line: the expectation without timeout, then the age. */
export function dumpExpectLine(obj: CacheObject<Expect>, xml: boolean, nowSecs: number, suffix = ""): string {
  const exp = obj.value, timeout = exp.timeout;
  exp.timeout = undefined;
  const line = formatExpect(exp, MSG_UNKNOWN, xml ? O_XML : 0);
  exp.timeout = timeout;
  return xml ? line + "\n" : `${line}${suffix} [active since ${nowSecs - obj.lifetime}s]\n`;
}
