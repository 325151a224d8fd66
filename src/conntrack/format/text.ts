// conntrack's default one-line output (nfct_snprintf with NFCT_O_DEFAULT), and
// the single entry point that picks default or XML from the -o flags.
import type { Conntrack } from "../model.ts";
import type { LabelMap } from "../labels.ts";
import { O_EXT, O_ID, O_KTMS, O_TMS, O_XML } from "../command.ts";
import {
  addressText,
  BUF_LIST,
  BUF_SMALL,
  clip,
  eventTag,
  extraUtf8,
  type MsgType,
  protoText,
} from "./common.ts";
import { dccpStateField, l3Column, protoColumn, sctpStateField, tcpStateField } from "./tables.ts";
import { ctime, nowSeconds, stampSeconds, unsignedSeconds } from "./time.ts";
import { formatConntrackXml } from "./xml.ts";

export {
  BUF_LIST,
  BUF_SMALL,
  MSG_DESTROY,
  MSG_NEW,
  MSG_UNKNOWN,
  MSG_UPDATE,
  type MsgType,
} from "./common.ts";
export { formatExpect } from "./expect.ts";
export { XML_FOOTER_CT, XML_FOOTER_EXP, XML_HEADER_CT, XML_HEADER_EXP } from "./xml.ts";

const IPS_SEEN_REPLY = 1 << 1;
const IPS_ASSURED = 1 << 2;
const IPS_OFFLOAD = 1 << 14;
const IPS_HW_OFFLOAD = 1 << 15;

/**
 * One conntrack entry as conntrack 1.4.7 prints it (no trailing newline).
 *
 * `output` is the -o bitmask (O_*): O_XML selects XML; O_EXT shows the L3
 * column; O_ID adds id=; O_KTMS adds [start=] [stop=] (or <timestamp>); O_TMS
 * adds <when> in XML only (the text prefix is the caller's). conntrack 1.4.7
 * does not pass every flag everywhere, so the runner masks them first: only
 * -E honours O_TMS; -D and -U also drop O_KTMS; -D prints no labels (pass a
 * null map). Labels print when a map is given. `bufSize` is the C print buffer: BUF_LIST for -L/-G, BUF_SMALL
 * for events, -D and -U (defaults by message type).
 */
export function formatConntrack(
  ct: Conntrack,
  msgType: MsgType,
  output: number,
  labelMap: LabelMap | null,
  bufSize: number = msgType === 0 ? BUF_LIST : BUF_SMALL,
): string {
  const text = output & O_XML
    ? formatConntrackXml(ct, msgType, (output & O_KTMS) !== 0, (output & O_TMS) !== 0, labelMap)
    : formatConntrackDefault(ct, msgType, output, labelMap);
  // Only helper and secctx can hold non-ASCII text; label names are ASCII by the map's grammar.
  return clip(
    text,
    bufSize,
    ct.helper === undefined && ct.secctx === undefined ? 0 : extraUtf8(ct.helper) + extraUtf8(ct.secctx),
  );
}

function stateField(ct: Conntrack, state: number): string {
  const proto = ct.orig.proto;
  if (proto === 132) return sctpStateField(state);
  if (proto === 33) return dccpStateField(state);
  return tcpStateField(state);
}

function formatConntrackDefault(
  ct: Conntrack,
  msgType: MsgType,
  output: number,
  map: LabelMap | null,
): string {
  const o = ct.orig, r = ct.reply, status = ct.status;
  let s = eventTag(msgType);
  if (output & O_EXT) s += l3Column(o.l3 & 0xff);
  s += protoColumn(o.proto ?? 0);
  if (ct.timeout !== undefined) s += ct.timeout + " ";
  if (ct.state !== undefined) s += stateField(ct, ct.state & 0xff);
  s += addressText(o, "src=", "dst=") + protoText(o);
  if (o.zone !== undefined) s += "zone-orig=" + o.zone + " ";
  if (ct.countersOrig !== undefined) {
    s += "packets=" + ct.countersOrig.packets + " bytes=" + ct.countersOrig.bytes + " ";
  }
  if (status !== undefined && !(status & IPS_SEEN_REPLY)) s += "[UNREPLIED] ";
  s += addressText(r, "src=", "dst=") + protoText(r);
  if (r.zone !== undefined) s += "zone-reply=" + r.zone + " ";
  if (ct.countersReply !== undefined) {
    s += "packets=" + ct.countersReply.packets + " bytes=" + ct.countersReply.bytes + " ";
  }
  if (status !== undefined) {
    if (status & IPS_HW_OFFLOAD) s += "[HW_OFFLOAD] ";
    else if (status & IPS_OFFLOAD) s += "[OFFLOAD] ";
    else if (status & IPS_ASSURED) s += "[ASSURED] ";
  }
  if (ct.mark !== undefined) s += "mark=" + ct.mark + " ";
  if (ct.secmark !== undefined) s += "secmark=" + ct.secmark + " ";
  if (ct.secctx !== undefined) s += "secctx=" + ct.secctx + " ";
  if (ct.zone !== undefined) s += "zone=" + ct.zone + " ";
  if (ct.tsStart !== undefined) {
    const start = stampSeconds(ct.tsStart);
    // A zero (or absent) stop stamp means "still running": measured against now.
    const stop = ct.tsStop === undefined || ct.tsStop === 0n ? nowSeconds() : stampSeconds(ct.tsStop);
    s += "delta-time=" + unsignedSeconds(stop - start) + " ";
  }
  if (output & O_KTMS) {
    if (ct.tsStart !== undefined) s += "[start=" + ctime(stampSeconds(ct.tsStart)) + "] ";
    if (ct.tsStop !== undefined) s += "[stop=" + ctime(stampSeconds(ct.tsStop)) + "] ";
  }
  if (ct.helper !== undefined) s += "helper=" + ct.helper + " ";
  if (ct.use !== undefined) s += "use=" + ct.use + " ";
  if (output & O_ID && ct.id !== undefined) s += "id=" + ct.id + " ";
  if (map !== null && ct.labels !== undefined && ct.labels.length > 0) s += labelsText(ct.labels, map);
  // Every field ends in a blank; the last one is dropped.
  return s.slice(0, -1);
}

/**
 * "labels=a,b " for the named bits that are set. With none named the C
 * printer still writes "labels=" and then overwrites its last byte, giving
 * "labels ".
 */
function labelsText(bits: Uint8Array, map: LabelMap): string {
  let names = "";
  const limit = Math.min(bits.length, (map.names.length + 7) >>> 3);
  for (let byte = 0; byte < limit; byte++) {
    const v = bits[byte];
    if (v === 0) continue;
    for (let b = 0; b < 8; b++) {
      if (!(v & (1 << b))) continue;
      // Bytes hold little-endian u32 words, so byte order already is bit order.
      const name = map.nameOf(byte * 8 + b);
      if (name) names += name + ",";
    }
  }
  return names.length ? "labels=" + names.slice(0, -1) + " " : "labels ";
}
