// Pieces both the conntrack and the expectation printers use: message types,
// tuple fields, and the fixed-size buffer the C tools print through.
import type { Tuple } from "../model.ts";

/** NFCT_T_*: 0 for listings, otherwise the event kind (prints the [NEW]/<flow type=...> tag). */
export type MsgType = 0 | 1 | 2 | 4;
export const MSG_UNKNOWN = 0;
export const MSG_NEW = 1;
export const MSG_UPDATE = 2;
export const MSG_DESTROY = 4;

/** "%9s " of the event tag, indexed by message type. */
export const EVENT_TAG: readonly string[] = ["", "    [NEW] ", " [UPDATE] ", "", "[DESTROY] "];
/** The opening <flow> element, indexed by message type. */
export const XML_FLOW_OPEN: readonly string[] = [
  "<flow>",
  '<flow type="new">',
  '<flow type="update">',
  "<flow>",
  '<flow type="destroy">',
];

export function eventTag(msgType: number): string {
  return EVENT_TAG[msgType] ?? "";
}
export function xmlFlowOpen(msgType: number): string {
  return XML_FLOW_OPEN[msgType] ?? "<flow>";
}

/**
 * conntrack's print buffers: `-L`/`-G` print through char[4096]; events, `-D`,
 * `-U` and expectations through char[1024]. snprintf() truncates longer text.
 */
export const BUF_LIST = 4096;
export const BUF_SMALL = 1024;

/** UTF-8 bytes beyond one per UTF-16 unit (0 for ASCII), for the rare non-ASCII strings. */
export function extraUtf8(s: string | undefined): number {
  if (s === undefined) return 0;
  let extra = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) extra += 1;
    else if (c >= 0xd800 && c <= 0xdbff) extra += 1, i++; // surrogate pair: 4 bytes for 2 units
    else extra += 2;
  }
  return extra;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * What survives snprintf() into a buffer of `bufSize` bytes. `extra` is the
 * count of UTF-8 bytes the string has beyond its length (see extraUtf8).
 */
export function clip(s: string, bufSize: number, extra: number): string {
  const max = bufSize - 1;
  if (s.length + extra <= max) return s;
  if (extra === 0) return s.slice(0, max);
  return utf8Decoder.decode(utf8Encoder.encode(s).subarray(0, max));
}

/** Address text of one side of a tuple; unset addresses are all-zero in the C object. */
export function srcAddr(t: Tuple): string {
  return t.src ?? (t.l3 === 10 ? "::" : "0.0.0.0");
}
export function dstAddr(t: Tuple): string {
  return t.dst ?? (t.l3 === 10 ? "::" : "0.0.0.0");
}

/** __snprintf_address(): "<srcTag>=A <dstTag>=B " for IPv4/IPv6 tuples, nothing otherwise. */
export function addressText(t: Tuple, srcTag: string, dstTag: string): string {
  if (t.l3 !== 2 && t.l3 !== 10) return "";
  return srcTag + srcAddr(t) + " " + dstTag + dstAddr(t) + " ";
}

/** __snprintf_proto(): the L4 fields of a tuple in the default output. */
export function protoText(t: Tuple): string {
  switch (t.proto) {
    case 6:
    case 17:
    case 136:
    case 132:
    case 33:
      return "sport=" + (t.sport ?? 0) + " dport=" + (t.dport ?? 0) + " ";
    case 47:
      return "srckey=0x" + (t.sport ?? 0).toString(16) + " dstkey=0x" + (t.dport ?? 0).toString(16) + " ";
    case 1:
    case 58:
      return "type=" + (t.icmpType ?? 0) + " code=" + (t.icmpCode ?? 0) + " id=" + (t.icmpId ?? 0) + " ";
  }
  return "";
}

/** __snprintf_addr_xml() for both addresses: "<src>A</src><dst>B</dst>". */
export function addressXml(t: Tuple): string {
  if (t.l3 !== 2 && t.l3 !== 10) return "<src></src><dst></dst>";
  return "<src>" + srcAddr(t) + "</src><dst>" + dstAddr(t) + "</dst>";
}

/** __snprintf_proto_xml() for both directions: ports or GRE keys, nothing for other protocols. */
export function protoXml(t: Tuple): string {
  switch (t.proto) {
    case 6:
    case 17:
    case 136:
    case 132:
    case 33:
      return "<sport>" + (t.sport ?? 0) + "</sport><dport>" + (t.dport ?? 0) + "</dport>";
    case 47:
      return "<srckey>0x" + (t.sport ?? 0).toString(16) + "</srckey><dstkey>0x" +
        (t.dport ?? 0).toString(16) + "</dstkey>";
  }
  return "";
}
