// The `Helper { Setup ...; Type NAME FAMILY PROTO { QueueNum; QueueLen; Policy NAME { ... } } }` block.
//
// The reference's grammar is looser than its documentation, and this keeps
// its behaviour: QueueNum/QueueLen/Policy may also appear directly in Helper
// and Type blocks may nest. Settings go onto one pending stack that the next
// closing Type takes in full (newest first, so the first-written value wins),
// and a Policy overwrites the helper's shared policy entry as a whole.

import type { Cursor } from "./cursor.ts";
import type { Draft } from "./draft.ts";
import { findHelper } from "./helpers_known.ts";
import type { Token } from "./lexer.ts";
import type { HelperInstance, HelperPolicy } from "./types.ts";

/** The reference's CTD_HELPER_NAME_LEN. */
const HELPER_NAME_LEN = 16;

type Pending =
  | { kind: "queueNum"; value: number }
  | { kind: "queueLen"; value: number }
  | { kind: "policy"; policy: HelperPolicy; line: number };

interface HelperState {
  pending: Pending[];
  /** Policies per helper (`name/proto`), shared by all instances of it like the reference's. */
  shared: Map<string, HelperPolicy[]>;
  instances: { inst: HelperInstance; key: string }[];
}

// One state per file: the reference's pending stack and helper table are global.
const states = new WeakMap<Draft, HelperState>();

export function parseHelper(c: Cursor, d: Draft): void {
  let st = states.get(d);
  if (!st) states.set(d, st = { pending: [], shared: new Map(), instances: [] });
  c.next();
  c.block("Helper", (t) => {
    if (t.kind === "keyword" && t.keyword === "Setup") {
      c.next();
      d.helper.setup = c.bool("Setup");
      return;
    }
    if (!helperItem(c, st, t)) {
      throw c.unknownClause(t, "the Helper block (expected Setup or Type)");
    }
  });
  d.helper.present = true;
}

/** After the whole file: gives every helper instance its final (shared) policies. */
export function finishHelpers(d: Draft): void {
  const st = states.get(d);
  if (!st) return;
  for (const { inst, key } of st.instances) {
    inst.policies = st.shared.get(key)!.map((p) => ({ ...p }));
    d.helper.types.push(inst);
  }
}

/** Parses one Type/QueueNum/QueueLen/Policy item; false if `t` is none of them. */
function helperItem(c: Cursor, st: HelperState, t: Token): boolean {
  if (t.kind !== "keyword") return false;
  switch (t.keyword) {
    case "QueueNum":
      c.next();
      st.pending.push({ kind: "queueNum", value: c.number("QueueNum") });
      return true;
    case "QueueLen":
      c.next();
      st.pending.push({ kind: "queueLen", value: c.number("QueueLen") });
      return true;
    case "Policy":
      c.next();
      parsePolicy(c, st);
      return true;
    case "Type":
      c.next();
      parseType(c, st, t);
      return true;
  }
  return false;
}

function parseType(c: Cursor, st: HelperState, start: Token): void {
  const name = c.word("Type");
  const family = c.word(`Type ${name} (inet or inet6)`);
  const proto = c.word(`Type ${name} ${family} (tcp or udp)`);
  c.block(`Type ${name}`, (t) => {
    if (!helperItem(c, st, t)) {
      throw c.unknownClause(t, `the Type ${name} block (expected QueueNum, QueueLen, Policy)`);
    }
  });
  if (family !== "inet" && family !== "inet6") throw c.error(start.line, "unknown layer 3 protocol");
  if (proto !== "tcp" && proto !== "udp") throw c.error(start.line, "unknown layer 4 protocol");
  const known = findHelper(name, proto);
  if (!known) throw c.error(start.line, `Unknown \`${name}' helper`);
  const key = `${name}/${proto}`;
  if (!st.shared.has(key)) st.shared.set(key, known.policies.map((p) => ({ ...p })));
  const policies = st.shared.get(key)!;
  const inst: HelperInstance = { name, family, protocol: proto, queueNum: 0, queueLen: 0, policies: [] };
  while (st.pending.length > 0) {
    const item = st.pending.pop()!;
    if (item.kind === "queueNum") inst.queueNum = item.value;
    else if (item.kind === "queueLen") inst.queueLen = item.value;
    else {
      const i = policies.findIndex((p) => p.name === item.policy.name);
      if (i < 0) throw c.error(item.line, `Unknown policy \`${item.policy.name}' in helper configuration`);
      policies[i] = { ...item.policy };
    }
  }
  st.instances.push({ inst, key });
}

function parsePolicy(c: Cursor, st: HelperState): void {
  const start = c.peek();
  const name = c.word("Policy");
  // Fields not written stay 0: the reference replaces the whole policy entry.
  const policy: HelperPolicy = { name, expectMax: 0, expectTimeout: 0 };
  let seen = false;
  c.block(`Policy ${name}`, (t) => {
    if (t.kind === "keyword" && t.keyword === "ExpectMax") {
      c.next();
      policy.expectMax = c.number("ExpectMax");
    } else if (t.kind === "keyword" && t.keyword === "ExpectTimeout") {
      c.next();
      policy.expectTimeout = c.number("ExpectTimeout");
    } else {
      throw c.unknownClause(t, `the Policy ${name} block (expected ExpectMax or ExpectTimeout)`);
    }
    seen = true;
  });
  if (!seen) {
    throw c.error(start.line, "Helper policy configuration empty, fix your configuration file, please");
  }
  if (name.length > HELPER_NAME_LEN) {
    throw c.error(start.line, `Helper Policy is longer than ${HELPER_NAME_LEN} characters`);
  }
  st.pending.push({ kind: "policy", policy, line: start.line });
}
