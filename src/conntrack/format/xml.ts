// conntrack's XML output (nfct_snprintf with NFCT_O_XML): one <flow> per line,
// framed by the document header and footer conntrack prints around a dump.
import type { Conntrack, Tuple } from "../model.ts";
import type { LabelMap } from "../labels.ts";
import { type MsgType, xmlFlowOpen } from "./common.ts";
import { indexMemo } from "../../common/memo.ts";
import { l3Name, protoName, TCP_STATES } from "./tables.ts";
import { nowSeconds, stampSeconds, unsignedSeconds, whenXml, wrappedDeltaSeconds } from "./time.ts";

export const XML_HEADER_CT = '<?xml version="1.0" encoding="utf-8"?>\n<conntrack>\n';
export const XML_FOOTER_CT = "</conntrack>\n";
export const XML_HEADER_EXP = '<?xml version="1.0" encoding="utf-8"?>\n<expect>\n';
export const XML_FOOTER_EXP = "</expect>\n";

const IPS_SEEN_REPLY = 1 << 1;
const IPS_ASSURED = 1 << 2;

/** The <layer3 ...> and <layer4 ...> opening tags, built once per number. */
const layer3OpenTag = indexMemo(256, (i) => `<layer3 protonum="${i}" protoname="${l3Name(i)}">`);
const layer4OpenTag = indexMemo(256, (i) => `<layer4 protonum="${i}" protoname="${protoName(i)}">`);

export function layer3Open(l3: number): string {
  return layer3OpenTag(l3 & 0xff);
}
export function layer4Open(proto: number | undefined): string {
  return layer4OpenTag(proto ?? 0);
}

/** `<state>NAME</state>` per raw u8 state. The library indexes the TCP table for SCTP and DCCP
 * too; states past that table do not occur from the kernel and print as NONE. */
const stateXml = indexMemo(
  256,
  (i) => "<state>" + (i < TCP_STATES.length ? TCP_STATES[i] : "NONE") + "</state>",
);

/** `<flow ...><meta direction="original"><layer3 ...>`, per message type (0..4) and family. */
const flowOrigOpen = indexMemo(
  5 * 256,
  (k) => xmlFlowOpen(k >> 8) + '<meta direction="original">' + layer3OpenTag(k & 0xff),
);
/** `</meta><meta direction="reply"><layer3 ...>` (the original tuple's </meta> included), per family. */
const replyOpen = indexMemo(256, (l3) => '</meta><meta direction="reply">' + layer3OpenTag(l3));
/** `</layer3><layer4 ...>` per protocol number. */
const layer4AfterL3 = indexMemo(256, (p) => "</layer3>" + layer4OpenTag(p));

/** A tuple's body after its <layer3> tag, up to (not including) its closing </meta>. */
function tupleXml(ct: Conntrack, t: Tuple, c: Conntrack["countersOrig"]): string {
  let s = t.l3 === 2 || t.l3 === 10
    ? "<src>" + (t.src ?? (t.l3 === 10 ? "::" : "0.0.0.0")) + "</src><dst>" +
      (t.dst ?? (t.l3 === 10 ? "::" : "0.0.0.0")) + "</dst>"
    : "<src></src><dst></dst>";
  const proto = t.proto;
  s += layer4AfterL3((proto ?? 0) & 0xff);
  switch (proto) {
    case 6:
    case 17:
    case 136:
    case 132:
    case 33:
      s += "<sport>" + (t.sport ?? 0) + "</sport><dport>" + (t.dport ?? 0) + "</dport></layer4>";
      break;
    case 47:
      s += "<srckey>0x" + (t.sport ?? 0).toString(16) + "</srckey><dstkey>0x" +
        (t.dport ?? 0).toString(16) + "</dstkey></layer4>";
      break;
    default:
      s += "</layer4>";
  }
  if (t.zone !== undefined) s += "<zone>" + t.zone + "</zone>";
  // The library tests the original counters for both directions.
  if (ct.countersOrig !== undefined) {
    s += "<counters><packets>" + (c?.packets ?? 0n) + "</packets><bytes>" + (c?.bytes ?? 0n) +
      "</bytes></counters>";
  }
  return s;
}

function hasIndependentMeta(ct: Conntrack): boolean {
  return ct.state !== undefined || ct.timeout !== undefined || ct.mark !== undefined ||
    ct.secmark !== undefined || ct.zone !== undefined || ct.use !== undefined || ct.status !== undefined ||
    ct.id !== undefined || (ct.labels !== undefined && ct.labels.length > 0) || ct.tsStart !== undefined ||
    ct.tsStop !== undefined;
}

/** `timestamp` is NFCT_OF_TIMESTAMP (-o ktimestamp), `when` NFCT_OF_TIME (-o xml,timestamp). */
export function formatConntrackXml(
  ct: Conntrack,
  msgType: MsgType,
  timestamp: boolean,
  when: boolean,
  map: LabelMap | null,
): string {
  const o = ct.orig, r = ct.reply;
  let s = flowOrigOpen(((msgType >= 0 && msgType <= 4 ? msgType : 0) << 8) | (o.l3 & 0xff)) +
    tupleXml(ct, o, ct.countersOrig) + replyOpen(r.l3 & 0xff) + tupleXml(ct, r, ct.countersReply);
  const meta = hasIndependentMeta(ct);
  s += meta ? '</meta><meta direction="independent">' : "</meta>";
  if (ct.state !== undefined) s += stateXml(ct.state & 0xff);
  if (ct.timeout !== undefined) s += "<timeout>" + ct.timeout + "</timeout>";
  if (ct.mark !== undefined) s += "<mark>" + ct.mark + "</mark>";
  if (map !== null && ct.labels !== undefined && ct.labels.length > 0) s += labelsXml(ct.labels, map);
  if (ct.secmark !== undefined) s += "<secmark>" + ct.secmark + "</secmark>";
  if (ct.secctx !== undefined) s += "<secctx>" + ct.secctx + "</secctx>";
  if (ct.zone !== undefined) s += "<zone>" + ct.zone + "</zone>";
  if (ct.use !== undefined) s += "<use>" + ct.use + "</use>";
  if (ct.id !== undefined) s += "<id>" + ct.id + "</id>";
  if (ct.status !== undefined) {
    if (ct.status & IPS_ASSURED) s += "<assured/>";
    if (!(ct.status & IPS_SEEN_REPLY)) s += "<unreplied/>";
  }
  if (timestamp && (ct.tsStart !== undefined || ct.tsStop !== undefined)) {
    s += "<timestamp>";
    if (ct.tsStart !== undefined) s += "<start>" + ct.tsStart + "</start>";
    if (ct.tsStop !== undefined) s += "<stop>" + ct.tsStop + "</stop>";
    s += "</timestamp>";
  }
  // One clock reading serves both <deltatime> and <when>, so they never disagree.
  const now = when || (ct.tsStart !== undefined && ct.tsStop === undefined) ? nowSeconds() : 0;
  if (ct.tsStart !== undefined) {
    s += "<deltatime>" +
      (ct.tsStop !== undefined
        ? wrappedDeltaSeconds(ct.tsStart, ct.tsStop)
        : unsignedSeconds(now - stampSeconds(ct.tsStart))) +
      "</deltatime>";
  }
  if (meta) s += "</meta>";
  if (when) s += whenXml(now);
  if (ct.helper !== undefined) s += "<helper>" + ct.helper + "</helper>";
  // Slicing off a sentinel flattens the result: the output buffer then holds one
  // flat string per line, not a tree of a few dozen concatenation nodes.
  return (s + "</flow>\n").slice(0, -1);
}

/** <labels><label>a</label>...</labels>, named bits only (an empty <labels></labels> when none is named). */
function labelsXml(bits: Uint8Array, map: LabelMap): string {
  let s = "<labels>";
  const limit = Math.min(bits.length, (map.names.length + 7) >>> 3);
  for (let byte = 0; byte < limit; byte++) {
    const v = bits[byte];
    if (v === 0) continue;
    for (let b = 0; b < 8; b++) {
      if (!(v & (1 << b))) continue;
      const name = map.nameOf(byte * 8 + b);
      if (name) s += "<label>" + name + "</label>";
    }
  }
  return s + "</labels>";
}
