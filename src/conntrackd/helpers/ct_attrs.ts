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

function readTuple(buf: Uint8Array, v: DataView, at: number, len: number, t: CtTuple): void {
  forEach(v, at, at + len, (type, a, l) => {
    if (type === A.CTA_TUPLE_IP) {
      forEach(v, a, a + l, (ipType, ia, il) => {
        if (ipType === A.CTA_IP_V4_SRC && il >= 4) t.src.set(buf.subarray(ia, ia + 4));
        else if (ipType === A.CTA_IP_V4_DST && il >= 4) t.dst.set(buf.subarray(ia, ia + 4));
        else if (ipType === A.CTA_IP_V6_SRC && il >= 16) t.src.set(buf.subarray(ia, ia + 16));
        else if (ipType === A.CTA_IP_V6_DST && il >= 16) t.dst.set(buf.subarray(ia, ia + 16));
      });
    } else if (type === A.CTA_TUPLE_PROTO) {
      forEach(v, a, a + l, (pType, pa, pl) => {
        if (pType === A.CTA_PROTO_NUM && pl >= 1) t.proto = buf[pa];
        else if (pType === A.CTA_PROTO_SRC_PORT && pl >= 2) t.sport = v.getUint16(pa, false);
        else if (pType === A.CTA_PROTO_DST_PORT && pl >= 2) t.dport = v.getUint16(pa, false);
      });
    }
  });
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
  ct.l3 = family;
  forEach(v, off, off + len, (type, at, l) => {
    switch (type) {
      case A.CTA_TUPLE_ORIG:
        readTuple(buf, v, at, l, ct.tuples[0]);
        break;
      case A.CTA_TUPLE_REPLY:
        readTuple(buf, v, at, l, ct.tuples[1]);
        break;
      case A.CTA_STATUS:
        if (l >= 4) ct.status = v.getUint32(at, false);
        break;
      case A.CTA_TIMEOUT:
        if (l >= 4) ct.timeout = v.getUint32(at, false);
        break;
      case A.CTA_HELP:
        forEach(v, at, at + l, (hType, ha, hl) => {
          if (hType === A.CTA_HELP_NAME) {
            const nul = buf.subarray(ha, ha + hl).indexOf(0);
            ct.helperName = String.fromCharCode(...buf.subarray(ha, nul < 0 ? ha + hl : ha + nul));
          } else if (hType === CTA_HELP_INFO) {
            ct.helperInfo = buf.subarray(ha, ha + hl);
          }
        });
        break;
    }
  });
  if (ct.l3 !== AF_INET6 && ct.l3 !== 2) ct.l3 = 2;
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
