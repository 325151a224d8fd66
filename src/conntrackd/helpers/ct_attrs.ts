// The conntrack nest of a queued packet (NFQA_CT, ctnetlink attributes):
// read into a MasterCt without building strings, and written back in the
// verdict the way the reference does (nfct_nlmsg_build of the parsed entry):
// the entry's own attributes, the timeout the helper set, and the helper's
// private data in CTA_HELP_INFO.
import * as A from "../../conntrack/attrs.ts";
import type { MessageBuilder } from "../../netlink/builder.ts";
import { NLA_TYPE_MASK } from "../../netlink/constants.ts";
import { AF_INET6, type CtTuple, type HelperCall, type MasterCt } from "./context.ts";

const CTA_HELP_INFO = 2;

function forEach(
  v: DataView,
  from: number,
  to: number,
  fn: (type: number, at: number, len: number, whole: number, wholeLen: number) => void,
): void {
  let at = from;
  while (at + 4 <= to) {
    const len = v.getUint16(at, true);
    if (len < 4 || at + len > to) return;
    fn(v.getUint16(at + 2, true) & NLA_TYPE_MASK, at + 4, len - 4, at, len);
    at += (len + 3) & ~3;
  }
}

function readTuple(buf: Uint8Array, v: DataView, from: number, to: number, t: CtTuple): void {
  for (let at = from; at + 4 <= to;) {
    const len = v.getUint16(at, true);
    if (len < 4 || at + len > to) return;
    const type = v.getUint16(at + 2, true) & NLA_TYPE_MASK;
    if (type === A.CTA_TUPLE_IP) {
      for (let a = at + 4; a + 4 <= at + len;) {
        const l = v.getUint16(a, true);
        if (l < 4 || a + l > at + len) break;
        const ipType = v.getUint16(a + 2, true) & NLA_TYPE_MASK;
        const n = ipType === A.CTA_IP_V4_SRC || ipType === A.CTA_IP_V4_DST ? 4 : 16;
        if (l - 4 >= n) {
          if (ipType === A.CTA_IP_V4_SRC || ipType === A.CTA_IP_V6_SRC) copy(buf, a + 4, t.src, n);
          else if (ipType === A.CTA_IP_V4_DST || ipType === A.CTA_IP_V6_DST) copy(buf, a + 4, t.dst, n);
        }
        a += (l + 3) & ~3;
      }
    } else if (type === A.CTA_TUPLE_PROTO) {
      for (let a = at + 4; a + 4 <= at + len;) {
        const l = v.getUint16(a, true);
        if (l < 4 || a + l > at + len) break;
        const pType = v.getUint16(a + 2, true) & NLA_TYPE_MASK;
        if (pType === A.CTA_PROTO_NUM && l >= 5) t.proto = buf[a + 4];
        else if (pType === A.CTA_PROTO_SRC_PORT && l >= 6) t.sport = v.getUint16(a + 4, false);
        else if (pType === A.CTA_PROTO_DST_PORT && l >= 6) t.dport = v.getUint16(a + 4, false);
        a += (l + 3) & ~3;
      }
    }
    at += (len + 3) & ~3;
  }
}

function copy(buf: Uint8Array, at: number, to: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) to[i] = buf[at + i];
}

/** Fills `ct` from the NFQA_CT payload at buf[off..off+len); `family` is the message's. */
export function readMasterCt(
  buf: Uint8Array,
  v: DataView,
  off: number,
  len: number,
  family: number,
  ct: MasterCt,
) {
  ct.clear();
  ct.l3 = family === AF_INET6 ? AF_INET6 : 2;
  const end = off + len;
  for (let at = off; at + 4 <= end;) {
    const alen = v.getUint16(at, true);
    if (alen < 4 || at + alen > end) break;
    const type = v.getUint16(at + 2, true) & NLA_TYPE_MASK;
    const p = at + 4, l = alen - 4;
    if (type === A.CTA_TUPLE_ORIG) readTuple(buf, v, p, p + l, ct.tuples[0]);
    else if (type === A.CTA_TUPLE_REPLY) readTuple(buf, v, p, p + l, ct.tuples[1]);
    else if (type === A.CTA_STATUS && l >= 4) ct.status = v.getUint32(p, false);
    else if (type === A.CTA_TIMEOUT && l >= 4) ct.timeout = v.getUint32(p, false);
    else if (type === A.CTA_HELP) readHelp(buf, v, p, p + l, ct);
    at += (alen + 3) & ~3;
  }
}

let lastName = "";
let lastNameBytes = new Uint8Array(0);

function readHelp(buf: Uint8Array, v: DataView, from: number, to: number, ct: MasterCt): void {
  for (let a = from; a + 4 <= to;) {
    const l = v.getUint16(a, true);
    if (l < 4 || a + l > to) return;
    const type = v.getUint16(a + 2, true) & NLA_TYPE_MASK;
    if (type === A.CTA_HELP_NAME) {
      let n = 0;
      while (n < l - 4 && buf[a + 4 + n] !== 0) n++;
      // The same helper name packet after packet: reuse the decoded string.
      let same = n === lastNameBytes.length;
      for (let i = 0; same && i < n; i++) same = buf[a + 4 + i] === lastNameBytes[i];
      if (!same) {
        lastNameBytes = buf.slice(a + 4, a + 4 + n);
        lastName = String.fromCharCode(...lastNameBytes);
      }
      ct.helperName = lastName;
    } else if (type === CTA_HELP_INFO) {
      ct.helperInfo = buf.subarray(a + 4, a + l);
    }
    a += (l + 3) & ~3;
  }
}

/** Attributes of the received entry the reference sends back unchanged. */
const KEPT = new Set([
  A.CTA_TUPLE_ORIG,
  A.CTA_TUPLE_REPLY,
  A.CTA_STATUS,
  A.CTA_PROTOINFO,
  A.CTA_MARK,
  A.CTA_TUPLE_MASTER,
  A.CTA_SEQ_ADJ_ORIG,
  A.CTA_SEQ_ADJ_REPLY,
  A.CTA_SECMARK,
  A.CTA_ZONE,
  A.CTA_LABELS,
]);

/**
 * The verdict's NFQA_CT nest contents: the received entry's attributes, its
 * timeout (or the one the helper set), and CTA_HELP with the helper's name
 * and private data when the helper keeps any.
 */
export function putVerdictCt(
  b: MessageBuilder,
  buf: Uint8Array,
  v: DataView,
  off: number,
  len: number,
  call: HelperCall,
): void {
  const ct = call.ct;
  forEach(v, off, off + len, (type, _at, _l, whole, wholeLen) => {
    if (KEPT.has(type)) b.bytesFrom(v.getUint16(whole + 2, true), buf.subarray(whole + 4), wholeLen - 4);
  });
  const timeout = call.setTimeout ?? ct.timeout;
  if (timeout !== undefined) b.be32(A.CTA_TIMEOUT, timeout);
  if (ct.helperName !== undefined) {
    b.nest(A.CTA_HELP).str(A.CTA_HELP_NAME, ct.helperName);
    if (ct.helperInfo && call.priv.length > 0) b.bytesFrom(CTA_HELP_INFO, call.priv, call.priv.length);
    b.endNest();
  }
}
