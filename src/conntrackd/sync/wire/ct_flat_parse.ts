// The receiving side's flat parse of a conntrack message (CT_NEW/CT_UPD) of a
// plain flow into FlatCt scratch state (cache/flat_ct.ts), so the external
// cache gets its key and record (cache/flat_record.ts) without a Conntrack.
// It declines whatever it cannot prove gives decodeCtPayload's result: NAT,
// master, sequence adjustment, helper, labels, SCTP/DCCP attributes, partial
// tuples, and every message the reference rejects (the decoder must count
// those in `-s network`, so they take the normal path).
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from "../../../conntrack/model.ts";
import * as F from "../../cache/flat_ct.ts";
import { type FlatCt } from "../../cache/flat_ct.ts";
import { align4, getU16, getU16Swapped, getU32, NTA_HDR } from "./attr.ts";
import {
  NTA_ICMP_CODE,
  NTA_ICMP_ID,
  NTA_ICMP_TYPE,
  NTA_IPV4,
  NTA_IPV6,
  NTA_L4PROTO,
  NTA_MARK,
  NTA_PORT,
  NTA_STATUS,
  NTA_SYNPROXY,
  NTA_TCP_STATE,
  NTA_TCP_WSCALE_ORIG,
  NTA_TCP_WSCALE_REPL,
  NTA_TIMEOUT,
  NTA_ZONE,
} from "./ct_codec.ts";

const PORTS = (1 << F.TF_SPORT) | (1 << F.TF_DPORT);
const ICMP = (1 << F.TF_ICMP_TYPE) | (1 << F.TF_ICMP_CODE) | (1 << F.TF_ICMP_ID);
const PORT_TUPLE = F.HT_SRC | F.HT_DST | (1 << F.TF_PROTO) | PORTS;
const ICMP_TUPLE = F.HT_SRC | F.HT_DST | (1 << F.TF_PROTO) | ICMP;

/**
 * Parses the payload in [off, end) (after the header) into the original tuple and meta
 * fields of `f` (the reply tuple stays empty, as the wire has none). False when the message
 * is not a plain flow or is one the reference rejects: the caller then takes decodeCtPayload.
 */
export function parseFlatCtPayload(f: FlatCt, buf: Uint8Array, off: number, end: number): boolean {
  f.reset(0);
  const t = f.t, n = f.n, a = f.addr;
  let ht = 0;
  let p = off, rem = end - off;
  // decodeCtPayload's walk: later attributes of the same id win, a tail of up to 4 bytes is ignored.
  while (rem > NTA_HDR) {
    const len = getU16(buf, p), id = getU16(buf, p + 2);
    if (len > rem || len < NTA_HDR) return false;
    const q = p + NTA_HDR;
    switch (id) {
      case NTA_IPV4:
        if (len !== NTA_HDR + 8 || f.l3 === 10) return false;
        f.l3 = 2;
        for (let i = 0; i < 4; i++) a[F.A_ORIG_SRC + i] = buf[q + i], a[16 + i] = buf[q + 4 + i];
        ht |= F.HT_SRC | F.HT_DST;
        break;
      case NTA_IPV6:
        if (len !== NTA_HDR + 32 || f.l3 === 2) return false;
        f.l3 = 10;
        for (let i = 0; i < 32; i++) a[i] = buf[q + i];
        ht |= F.HT_SRC | F.HT_DST;
        break;
      case NTA_L4PROTO:
        if (len !== NTA_HDR + 1) return false;
        t[F.TF_PROTO] = buf[q], ht |= 1 << F.TF_PROTO;
        break;
      case NTA_PORT:
        if (len !== NTA_HDR + 4) return false;
        t[F.TF_SPORT] = getU16(buf, q), t[F.TF_DPORT] = getU16(buf, q + 2), ht |= PORTS;
        break;
      case NTA_ICMP_TYPE:
        if (len !== NTA_HDR + 1) return false;
        t[F.TF_ICMP_TYPE] = buf[q], ht |= 1 << F.TF_ICMP_TYPE;
        break;
      case NTA_ICMP_CODE:
        if (len !== NTA_HDR + 1) return false;
        t[F.TF_ICMP_CODE] = buf[q], ht |= 1 << F.TF_ICMP_CODE;
        break;
      case NTA_ICMP_ID:
        if (len !== NTA_HDR + 2) return false;
        t[F.TF_ICMP_ID] = getU16Swapped(buf, q), ht |= 1 << F.TF_ICMP_ID;
        break;
      case NTA_STATUS:
        if (len !== NTA_HDR + 4) return false;
        n[F.N_STATUS] = getU32(buf, q), f.has |= 1 << F.N_STATUS;
        break;
      case NTA_TIMEOUT:
        if (len !== NTA_HDR + 4) return false;
        n[F.N_TIMEOUT] = getU32(buf, q), f.has |= 1 << F.N_TIMEOUT;
        break;
      case NTA_MARK:
        if (len !== NTA_HDR + 4) return false;
        n[F.N_MARK] = getU32(buf, q), f.has |= 1 << F.N_MARK;
        break;
      case NTA_TCP_STATE:
        if (len !== NTA_HDR + 1) return false;
        n[F.N_STATE] = buf[q], f.has |= 1 << F.N_STATE;
        break;
      case NTA_TCP_WSCALE_ORIG:
        if (len !== NTA_HDR + 1) return false;
        n[F.N_WSO] = buf[q], f.has |= 1 << F.N_WSO;
        break;
      case NTA_TCP_WSCALE_REPL:
        if (len !== NTA_HDR + 1) return false;
        n[F.N_WSR] = buf[q], f.has |= 1 << F.N_WSR;
        break;
      case NTA_SYNPROXY:
        // struct nta_attr_synproxy: its, isn, tsoff
        if (len !== NTA_HDR + 12) return false;
        n[F.N_SP_ITS] = getU32(buf, q),
          n[F.N_SP_ISN] = getU32(buf, q + 4),
          n[F.N_SP_TSOFF] = getU32(buf, q + 8);
        f.has |= F.H_SYNPROXY;
        break;
      case NTA_ZONE:
        if (len !== NTA_HDR + 2) return false;
        n[F.N_ZONE] = getU16(buf, q), f.has |= 1 << F.N_ZONE;
        break;
      default:
        return false;
    }
    const step = align4(len);
    p += step, rem -= step;
  }
  f.hasT[F.DIR_ORIG] = ht;
  if (f.l3 === 0) return false;
  const proto = t[F.TF_PROTO];
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) return ht === PORT_TUPLE;
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) return ht === ICMP_TUPLE;
  return false;
}
