// ctkit's `-o json` (an extension to conntrack): one JSON object per entry per
// line, with the stable schema documented in docs/JSON.md. Built by string
// concatenation (no intermediate objects); only free-text fields that need
// escapes go through JSON.stringify, and 64-bit counters are written as plain
// JSON numbers.
import type { Conntrack, Counters, Expect, Tuple } from "../model.ts";
import type { LabelMap } from "../labels.ts";
import type { MsgType } from "./common.ts";
import { indexMemo } from "../../common/memo.ts";
import { DCCP_STATES, l3Name, protoName, SCTP_STATES, TCP_STATES } from "./tables.ts";

const TYPE_FIELD: readonly string[] = ["", '"type":"new",', '"type":"update",', "", '"type":"destroy",'];

const STATUS_NAMES: readonly string[] = [
  "EXPECTED",
  "SEEN_REPLY",
  "ASSURED",
  "CONFIRMED",
  "SRC_NAT",
  "DST_NAT",
  "SEQ_ADJUST",
  "SRC_NAT_DONE",
  "DST_NAT_DONE",
  "DYING",
  "FIXED_TIMEOUT",
  "TEMPLATE",
  "UNTRACKED",
  "HELPER",
  "OFFLOAD",
  "HW_OFFLOAD",
];

const EXPECT_FLAG_NAMES: readonly string[] = ["PERMANENT", "INACTIVE", "USERSPACE"];

/** `"family":{...},"proto":{...},` built once per number. */
const familyField = indexMemo(256, (i) => `"family":{"name":"${l3Name(i)}","num":${i}},`);
const protoField = indexMemo(256, (i) => `"proto":{"name":"${protoName(i)}","num":${i}},`);

/** `,"state":"NAME"` per raw u8 state, for each protocol's table; out-of-range states print their number. */
function stateFields(table: readonly string[]): (state: number) => string {
  return indexMemo(256, (i) => ',"state":"' + (i < table.length ? table[i] : String(i)) + '"');
}
const tcpStateJson = stateFields(TCP_STATES);
const sctpStateJson = stateFields(SCTP_STATES);
const dccpStateJson = stateFields(DCCP_STATES);

/** Names of the set bits; bits without a name appear as "BIT_<n>". */
function flagNames(value: number, names: readonly string[]): string {
  let s = "";
  for (let bit = 0; bit < 32; bit++) {
    if (!(value & (1 << bit))) continue;
    s += (s ? ',"' : '"') + (bit < names.length ? names[bit] : "BIT_" + bit) + '"';
  }
  return "[" + s + "]";
}

/**
 * `,"status":[...]` by status value. A table holds only a handful of distinct
 * values, so they are rendered once; the cache stops growing at a bound.
 */
const statusCache = new Map<number, string>();
function statusField(status: number): string {
  let f = statusCache.get(status);
  if (f === undefined) {
    f = ',"status":' + flagNames(status, STATUS_NAMES);
    if (statusCache.size < 4096) statusCache.set(status, f);
  }
  return f;
}

function stateField(proto: number | undefined, state: number): string {
  if (state >= 256) return ',"state":"' + state + '"';
  return proto === 132 ? sctpStateJson(state) : proto === 33 ? dccpStateJson(state) : tcpStateJson(state);
}

/** A tuple object: addresses, the L4 fields its protocol carries, and the direction zone. */
function tupleJson(t: Tuple, counters?: Counters): string {
  // Every member but the first starts with a comma; addresses are nearly always there.
  let s = t.src !== undefined
    ? (t.dst !== undefined ? '{"src":"' + t.src + '","dst":"' + t.dst + '"' : '{"src":"' + t.src + '"')
    : t.dst !== undefined
    ? '{"dst":"' + t.dst + '"'
    : "{";
  const first = s.length === 1;
  switch (t.proto) {
    case 6:
    case 17:
    case 136:
    case 132:
    case 33:
      if (t.sport !== undefined) s += ',"sport":' + t.sport;
      if (t.dport !== undefined) s += ',"dport":' + t.dport;
      break;
    case 47:
      if (t.sport !== undefined) s += ',"srckey":' + t.sport;
      if (t.dport !== undefined) s += ',"dstkey":' + t.dport;
      break;
    case 1:
    case 58:
      if (t.icmpType !== undefined) s += ',"type":' + t.icmpType;
      if (t.icmpCode !== undefined) s += ',"code":' + t.icmpCode;
      if (t.icmpId !== undefined) s += ',"id":' + t.icmpId;
      break;
  }
  if (t.zone !== undefined) s += ',"zone":' + t.zone;
  if (counters !== undefined) s += ',"packets":' + counters.packets + ',"bytes":' + counters.bytes;
  // Without addresses the first member written carries a comma that "{" must not be followed by.
  if (first) return s.length === 1 ? "{}" : "{" + s.slice(2) + "}";
  return s + "}";
}

/** Label bits as [{"bit":n,"name":"x"}]; "name" only when the map names the bit. */
function labelsJson(bits: Uint8Array, map: LabelMap | null): string {
  let s = "";
  for (let byte = 0; byte < bits.length; byte++) {
    const v = bits[byte];
    if (v === 0) continue;
    for (let b = 0; b < 8; b++) {
      if (!(v & (1 << b))) continue;
      const bit = byte * 8 + b; // little-endian u32 words: byte order is bit order
      const name = map?.nameOf(bit);
      s += (s ? ',{"bit":' : '{"bit":') + bit + (name ? ',"name":' + jsonString(name) : "") + "}";
    }
  }
  return "[" + s + "]";
}

/**
 * A JSON string literal, as JSON.stringify writes it. Helper names, security
 * contexts and label names are plain printable ASCII in practice; anything
 * else goes through JSON.stringify.
 */
function jsonString(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(v);
  }
  return '"' + v + '"';
}

/**
 * One conntrack entry as a single-line JSON object. The result is flattened
 * (by slicing off a sentinel) so the output buffer holds one flat string per
 * line rather than a tree of a few dozen concatenation nodes.
 */
export function formatConntrackJson(ct: Conntrack, msgType: MsgType, labelMap: LabelMap | null): string {
  const o = ct.orig;
  let s = "{" + (TYPE_FIELD[msgType] ?? "") + familyField(o.l3 & 0xff) + protoField((o.proto ?? 0) & 0xff) +
    '"orig":' + tupleJson(o, ct.countersOrig) + ',"reply":' + tupleJson(ct.reply, ct.countersReply);
  if (ct.master !== undefined) s += ',"master":' + tupleJson(ct.master);
  if (ct.state !== undefined) s += stateField(o.proto, ct.state);
  if (ct.status !== undefined) s += statusField(ct.status);
  if (ct.timeout !== undefined) s += ',"timeout":' + ct.timeout;
  if (ct.mark !== undefined) s += ',"mark":' + ct.mark;
  if (ct.secmark !== undefined) s += ',"secmark":' + ct.secmark;
  if (ct.secctx !== undefined) s += ',"secctx":' + jsonString(ct.secctx);
  if (ct.zone !== undefined) s += ',"zone":' + ct.zone;
  if (ct.use !== undefined) s += ',"use":' + ct.use;
  if (ct.id !== undefined) s += ',"id":' + ct.id;
  if (ct.labels !== undefined && ct.labels.length > 0) s += ',"labels":' + labelsJson(ct.labels, labelMap);
  if (ct.tsStart !== undefined) {
    s += ',"timestamp":{"start":' + ct.tsStart +
      (ct.tsStop !== undefined ? ',"stop":' + ct.tsStop + "}" : "}");
  } else if (ct.tsStop !== undefined) {
    s += ',"timestamp":{"stop":' + ct.tsStop + "}";
  }
  if (ct.helper !== undefined) s += ',"helper":' + jsonString(ct.helper);
  return (s + "}\n").slice(0, -1);
}

/** One expectation as a single-line JSON object. */
export function formatExpectJson(exp: Expect, msgType: MsgType): string {
  const t = exp.tuple;
  let s = "{" + (TYPE_FIELD[msgType] ?? "") + familyField(t.l3 & 0xff) + protoField((t.proto ?? 0) & 0xff) +
    '"master":' + tupleJson(exp.master) + ',"tuple":' + tupleJson(t) + ',"mask":' + tupleJson(exp.mask);
  if (exp.timeout !== undefined) s += ',"timeout":' + exp.timeout;
  if (exp.helper !== undefined) s += ',"helper":' + jsonString(exp.helper);
  if (exp.flags !== undefined) s += ',"flags":' + flagNames(exp.flags, EXPECT_FLAG_NAMES);
  if (exp.class !== undefined) s += ',"class":' + exp.class;
  if (exp.zone !== undefined) s += ',"zone":' + exp.zone;
  if (exp.id !== undefined) s += ',"id":' + exp.id;
  if (exp.nat !== undefined) {
    s += ',"nat":{"dir":' + exp.nat.dir + ',"tuple":' + tupleJson(exp.nat.tuple) + "}";
  }
  if (exp.fn !== undefined) s += ',"fn":' + jsonString(exp.fn);
  return (s + "}\n").slice(0, -1);
}
