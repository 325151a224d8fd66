// The sync message of a plain flow written from flat scratch state
// (cache/flat_ct.ts): the same bytes encodeCt (ct_codec.ts) writes for the
// Conntrack the flow decodes to. The transmit round reads a cached record into
// flat state (cache/flat_record.ts) and writes this, instead of decoding the
// record into a Conntrack and encoding that.
import { IPPROTO_TCP, IPS_DST_NAT_DONE, IPS_SRC_NAT_DONE } from "../../../conntrack/model.ts";
import * as F from "../../cache/flat_ct.ts";
import { type FlatCt } from "../../cache/flat_ct.ts";
import { putHeader, putPorts, putU16BE, putU16Swapped, putU32, putU8, setU32 } from "./attr.ts";
import {
  type CtEncodeOptions,
  NTA_DNAT_IPV4,
  NTA_DNAT_IPV6,
  NTA_DPAT_PORT,
  NTA_ICMP_CODE,
  NTA_ICMP_ID,
  NTA_ICMP_TYPE,
  NTA_IPV4,
  NTA_IPV6,
  NTA_L4PROTO,
  NTA_MARK,
  NTA_PORT,
  NTA_SNAT_IPV4,
  NTA_SNAT_IPV6,
  NTA_SPAT_PORT,
  NTA_STATUS,
  NTA_SYNPROXY,
  NTA_TCP_STATE,
  NTA_TCP_WSCALE_ORIG,
  NTA_TCP_WSCALE_REPL,
  NTA_TIMEOUT,
  NTA_ZONE,
} from "./ct_codec.ts";
import { HDR_SIZE, writeHeader } from "./header.ts";

function copy(out: Uint8Array, p: number, a: Uint8Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) out[p + i] = a[from + i];
}

function same(a: Uint8Array, x: number, y: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[x + i] !== a[y + i]) return false;
  return true;
}

/**
 * Writes the message of the plain flow in `f` at `off` with seq 0 and no flags; returns its
 * length. `out` must have room for it (CT_MSG_MAX always does).
 */
export function encodeFlatCt(
  out: Uint8Array,
  off: number,
  type: number,
  f: FlatCt,
  opts: CtEncodeOptions,
): number {
  const t = f.t, has = f.has, n = f.n, a = f.addr;
  const v6 = f.l3 === 10, size = v6 ? 16 : 4;
  let p = off + HDR_SIZE;
  const q = putHeader(out, p, v6 ? NTA_IPV6 : NTA_IPV4, 2 * size);
  copy(out, q, a, F.A_ORIG_SRC, size);
  copy(out, q + size, a, F.A_ORIG_DST, size);
  p = q + 2 * size;
  const hasStatus = (has & (1 << F.N_STATUS)) !== 0;
  const status = hasStatus ? n[F.N_STATUS] : 0;
  p = putU32(out, p, NTA_STATUS, status);
  const proto = t[F.TF_PROTO], icmp = f.isIcmp();
  p = putU8(out, p, NTA_L4PROTO, proto);
  if (icmp) {
    p = putU8(out, p, NTA_ICMP_TYPE, t[F.TF_ICMP_TYPE]);
    p = putU8(out, p, NTA_ICMP_CODE, t[F.TF_ICMP_CODE]);
    p = putU16Swapped(out, p, NTA_ICMP_ID, t[F.TF_ICMP_ID]);
  } else {
    p = putPorts(out, p, NTA_PORT, t[F.TF_SPORT], t[F.TF_DPORT]);
    if (proto === IPPROTO_TCP && has & (1 << F.N_STATE)) {
      p = putU8(out, p, NTA_TCP_STATE, n[F.N_STATE]);
      if (opts.tcpWindowTracking) {
        p = putU8(out, p, NTA_TCP_WSCALE_ORIG, has & (1 << F.N_WSO) ? n[F.N_WSO] : 0);
        p = putU8(out, p, NTA_TCP_WSCALE_REPL, has & (1 << F.N_WSR) ? n[F.N_WSR] : 0);
      }
    }
  }
  if (opts.withTimeout && has & (1 << F.N_TIMEOUT)) p = putU32(out, p, NTA_TIMEOUT, n[F.N_TIMEOUT]);
  if (has & (1 << F.N_MARK)) p = putU32(out, p, NTA_MARK, n[F.N_MARK]);
  // NAT as encodeCt derives it from the reply tuple; without a status any difference counts.
  const srcDone = !hasStatus || (status & IPS_SRC_NAT_DONE) !== 0;
  const dstDone = !hasStatus || (status & IPS_DST_NAT_DONE) !== 0;
  if (srcDone && !same(a, F.A_REPLY_DST, F.A_ORIG_SRC, size)) {
    const r = putHeader(out, p, v6 ? NTA_SNAT_IPV6 : NTA_SNAT_IPV4, size);
    copy(out, r, a, F.A_REPLY_DST, size);
    p = r + size;
  }
  if (dstDone && !same(a, F.A_REPLY_SRC, F.A_ORIG_DST, size)) {
    const r = putHeader(out, p, v6 ? NTA_DNAT_IPV6 : NTA_DNAT_IPV4, size);
    copy(out, r, a, F.A_REPLY_SRC, size);
    p = r + size;
  }
  // The 16-bit l4 unions: for ICMP the id, and type << 8 | code; the reply's port value sent
  // is 0 when its tuple has no ports.
  const oSrc = icmp ? t[F.TF_ICMP_ID] : t[F.TF_SPORT];
  const oDst = icmp ? (t[F.TF_ICMP_TYPE] << 8) | t[F.TF_ICMP_CODE] : t[F.TF_DPORT];
  const rSrc = icmp ? t[6 + F.TF_ICMP_ID] : t[6 + F.TF_SPORT];
  const rDst = icmp ? (t[6 + F.TF_ICMP_TYPE] << 8) | t[6 + F.TF_ICMP_CODE] : t[6 + F.TF_DPORT];
  if (srcDone && rDst !== oSrc) p = putU16Swapped(out, p, NTA_SPAT_PORT, icmp ? 0 : t[6 + F.TF_DPORT]);
  if (dstDone && rSrc !== oDst) p = putU16Swapped(out, p, NTA_DPAT_PORT, icmp ? 0 : t[6 + F.TF_SPORT]);
  if (has & F.H_SYNPROXY) {
    // struct nta_attr_synproxy: its, isn, tsoff
    const r = putHeader(out, p, NTA_SYNPROXY, 12);
    setU32(out, r, n[F.N_SP_ITS]);
    setU32(out, r + 4, n[F.N_SP_ISN]);
    setU32(out, r + 8, n[F.N_SP_TSOFF]);
    p = r + 12;
  }
  if (has & (1 << F.N_ZONE)) p = putU16BE(out, p, NTA_ZONE, n[F.N_ZONE]);
  writeHeader(out, off, type, 0, p - off);
  return p - off;
}
