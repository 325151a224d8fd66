// nfnetlink_cthelper requests of the helper mode, laid out as
// libnetfilter_cthelper's nfct_helper_nlmsg_build_payload() lays them out:
// NEW registers a user-space helper bound to its queue (with its policies),
// DEL removes it at shutdown, and an empty GET dump probes for the subsystem.
import type { HelperPolicy } from "../config/types.ts";
import { MessageBuilder } from "../../netlink/builder.ts";
import {
  AF_UNSPEC,
  NFNL_SUBSYS_CTHELPER,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
} from "../../netlink/constants.ts";

export const NFNL_MSG_CTHELPER_NEW = 0;
export const NFNL_MSG_CTHELPER_GET = 1;
export const NFNL_MSG_CTHELPER_DEL = 2;

const NFCTH_NAME = 1;
const NFCTH_TUPLE = 2;
const NFCTH_QUEUE_NUM = 3;
const NFCTH_POLICY = 4;
const NFCTH_PRIV_DATA_LEN = 5;
const NFCTH_STATUS = 6;
const NFCTH_TUPLE_L3PROTONUM = 1;
const NFCTH_TUPLE_L4PROTONUM = 2;
const NFCTH_POLICY_SET_NUM = 1;
const NFCTH_POLICY_SET = 2;
const NFCTH_POLICY_NAME = 1;
const NFCTH_POLICY_EXPECT_MAX = 2;
const NFCTH_POLICY_EXPECT_TIMEOUT = 3;

export const NFCT_HELPER_STATUS_ENABLED = 1;

/** Names keep at most 15 bytes and a NUL (the library's 16-byte buffers). */
function name15(s: string): string {
  return s.length > 15 ? s.slice(0, 15) : s;
}

export interface HelperRegistration {
  name: string;
  queueNum: number;
  l3proto: number;
  l4proto: number;
  /** Sent only with `Setup on` (the kernel then keeps that much private data per conntrack). */
  privDataLen?: number;
  policies: readonly HelperPolicy[];
}

function header(b: MessageBuilder, type: number, flags: number, seq: number): void {
  b.begin((NFNL_SUBSYS_CTHELPER << 8) | type, NLM_F_REQUEST | flags, seq, AF_UNSPEC);
}

/** NFNL_MSG_CTHELPER_NEW with NLM_F_CREATE|NLM_F_ACK, as cthelper_setup() sends it. */
export function buildHelperNew(r: HelperRegistration, seq: number): Uint8Array {
  const b = new MessageBuilder(512);
  header(b, NFNL_MSG_CTHELPER_NEW, NLM_F_CREATE | NLM_F_ACK, seq);
  b.str(NFCTH_NAME, name15(r.name));
  b.be32(NFCTH_QUEUE_NUM, r.queueNum);
  if (r.privDataLen !== undefined) b.be32(NFCTH_PRIV_DATA_LEN, r.privDataLen);
  b.nest(NFCTH_TUPLE).be16(NFCTH_TUPLE_L3PROTONUM, r.l3proto).u8(NFCTH_TUPLE_L4PROTONUM, r.l4proto).endNest();
  if (r.policies.length > 0) {
    b.nest(NFCTH_POLICY);
    // The library files every policy under the first set number; kept as it is.
    for (const p of r.policies) {
      b.nest(NFCTH_POLICY_SET)
        .str(NFCTH_POLICY_NAME, name15(p.name))
        .be32(NFCTH_POLICY_EXPECT_MAX, p.expectMax)
        .be32(NFCTH_POLICY_EXPECT_TIMEOUT, p.expectTimeout)
        .endNest();
    }
    b.be32(NFCTH_POLICY_SET_NUM, r.policies.length);
    b.endNest();
  }
  b.be32(NFCTH_STATUS, NFCT_HELPER_STATUS_ENABLED);
  return b.end().bytesView().slice();
}

/** NFNL_MSG_CTHELPER_DEL of one helper (name and tuple identify it). */
export function buildHelperDel(name: string, l3proto: number, l4proto: number, seq: number): Uint8Array {
  const b = new MessageBuilder(128);
  header(b, NFNL_MSG_CTHELPER_DEL, NLM_F_ACK, seq);
  b.str(NFCTH_NAME, name15(name));
  b.nest(NFCTH_TUPLE).be16(NFCTH_TUPLE_L3PROTONUM, l3proto).u8(NFCTH_TUPLE_L4PROTONUM, l4proto).endNest();
  return b.end().bytesView().slice();
}

/** An empty dump request: answered by NLMSG_DONE when the kernel has nfnetlink_cthelper. */
export function buildHelperProbe(seq: number): Uint8Array {
  const b = new MessageBuilder(32);
  header(b, NFNL_MSG_CTHELPER_GET, NLM_F_DUMP | NLM_F_ACK, seq);
  return b.end().bytesView().slice();
}
