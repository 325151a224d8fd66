// nfnetlink_cttimeout messages: the request layout libnetfilter_cttimeout
// builds, and the parsing and text rendering of the kernel's replies.
import { MessageBuilder } from "../netlink/builder.ts";
import { AF_UNSPEC, NFNL_SUBSYS_CTNETLINK_TIMEOUT, NLM_F_REQUEST } from "../netlink/constants.ts";
import { forEachAttr } from "./attrs.ts";
import { type Chunk } from "./io.ts";
import { cStringBytes } from "./cstring.ts";
import {
  IPPROTO_DCCP,
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_RAW,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_UDPLITE,
} from "./protocols.ts";

export const IPCTNL_MSG_TIMEOUT_NEW = 0;
export const IPCTNL_MSG_TIMEOUT_GET = 1;
export const IPCTNL_MSG_TIMEOUT_DELETE = 2;
export const IPCTNL_MSG_TIMEOUT_DEFAULT_SET = 3;
export const IPCTNL_MSG_TIMEOUT_DEFAULT_GET = 4;

const CTA_TIMEOUT_NAME = 1;
const CTA_TIMEOUT_L3PROTO = 2;
const CTA_TIMEOUT_L4PROTO = 3;
const CTA_TIMEOUT_DATA = 4;
const CTA_TIMEOUT_MAX = 5; // CTA_TIMEOUT_USE: sent by the kernel, never shown

/** Policy names keep at most 31 bytes (the library's 32-byte buffer). */
export const TIMEOUT_NAME_SIZE = 32;

const UDP_LIKE = ["UNREPLIED", "REPLIED"] as const;
const SINGLE = ["TIMEOUT"] as const;

/**
 * State names per tracker, in attribute order (attribute type = index + 1).
 * Upper case is how they print; the command line matches them case-insensitively.
 */
const STATE_NAMES: Readonly<Record<number, readonly string[]>> = {
  [IPPROTO_ICMP]: SINGLE,
  [IPPROTO_TCP]: [
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "SYN_SENT2",
    "RETRANS",
    "UNACKNOWLEDGED",
  ],
  [IPPROTO_UDP]: UDP_LIKE,
  [IPPROTO_GRE]: UDP_LIKE,
  [IPPROTO_UDPLITE]: UDP_LIKE,
  [IPPROTO_SCTP]: [
    "CLOSED",
    "COOKIE_WAIT",
    "COOKIE_ECHOED",
    "ESTABLISHED",
    "SHUTDOWN_SENT",
    "SHUTDOWN_RECD",
    "SHUTDOWN_ACK_SENT",
  ],
  [IPPROTO_DCCP]: ["REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT"],
  [IPPROTO_ICMPV6]: SINGLE,
  [IPPROTO_RAW]: SINGLE,
};

/** The states a tracker knows; empty for a protocol without its own tracker. */
export function timeoutStates(l4proto: number): readonly string[] {
  return STATE_NAMES[l4proto] ?? [];
}

/** One timeout policy object; any field may be absent, as in the library. */
export interface TimeoutObject {
  name?: Uint8Array;
  l3proto?: number;
  l4proto?: number;
  /** State index -> timeout in seconds; a later value for the same state wins. */
  policy: Map<number, number>;
}

export function newTimeoutObject(): TimeoutObject {
  return { policy: new Map() };
}

/** One request to the cttimeout subsystem, payload in the library's attribute order. */
export function buildTimeoutRequest(
  msgType: number,
  flags: number,
  seq: number,
  t?: TimeoutObject,
): Uint8Array {
  const b = new MessageBuilder(512);
  b.begin((NFNL_SUBSYS_CTNETLINK_TIMEOUT << 8) | msgType, NLM_F_REQUEST | flags, seq, AF_UNSPEC);
  if (t) {
    if (t.name) b.bytes(CTA_TIMEOUT_NAME, withNul(t.name));
    if (t.l3proto !== undefined) b.be16(CTA_TIMEOUT_L3PROTO, t.l3proto);
    if (t.l4proto !== undefined) b.u8(CTA_TIMEOUT_L4PROTO, t.l4proto);
    if (t.policy.size > 0 && t.l4proto !== undefined) {
      b.nest(CTA_TIMEOUT_DATA);
      const states = timeoutStates(t.l4proto);
      for (let i = 0; i < states.length; i++) {
        const v = t.policy.get(i);
        if (v !== undefined) b.be32(i + 1, v);
      }
      b.endNest();
    }
  }
  return b.end().bytesView().slice();
}

function withNul(name: Uint8Array): Uint8Array {
  const out = new Uint8Array(name.length + 1);
  out.set(name);
  return out;
}

/** Reads one cttimeout message (header at `off`, `len` bytes) into an object. */
export function parseTimeoutMessage(
  buf: Uint8Array,
  view: DataView,
  off: number,
  len: number,
): TimeoutObject {
  const t = newTimeoutObject();
  let data: [number, number] | undefined;
  forEachAttr(view, off + 20, off + len, (type, at, size) => {
    if (type > CTA_TIMEOUT_MAX) return;
    if (type === CTA_TIMEOUT_NAME && size > 0) {
      t.name = cStringBytes(buf.subarray(at, at + size), TIMEOUT_NAME_SIZE);
    } else if (type === CTA_TIMEOUT_L3PROTO && size >= 2) t.l3proto = view.getUint16(at, false);
    else if (type === CTA_TIMEOUT_L4PROTO && size >= 1) t.l4proto = buf[at];
    else if (type === CTA_TIMEOUT_DATA) data = [at, size];
  });
  // The policy can only be read once the tracker is known, as in the library.
  if (data && t.l4proto !== undefined) {
    const count = timeoutStates(t.l4proto).length;
    forEachAttr(view, data[0], data[0] + data[1], (type, at, size) => {
      if (type >= 1 && type <= count && size >= 4) t.policy.set(type - 1, view.getUint32(at, false));
    });
  }
  return t;
}

/** The library's text form, e.g. `.name = {\n\t.l3proto = 2,\n…};` plus the newline nfct adds. */
export function formatTimeout(t: TimeoutObject): Chunk[] {
  const out: Chunk[] = [];
  if (t.name) out.push(".", t.name, " = {\n");
  if (t.l3proto !== undefined) out.push(`\t.l3proto = ${t.l3proto},\n`);
  if (t.l4proto !== undefined) out.push(`\t.l4proto = ${t.l4proto},\n`);
  if (t.policy.size > 0 && t.l4proto !== undefined) {
    // A protocol without its own tracker prints as the generic one.
    let states = timeoutStates(t.l4proto);
    if (states.length === 0) states = timeoutStates(IPPROTO_RAW);
    out.push("\t.policy = {\n");
    states.forEach((state, i) => out.push(`\t\t.${state} = ${t.policy.get(i) ?? 0},\n`));
    out.push("\t},\n");
  }
  out.push("};\n");
  return out;
}
