// nfnetlink_cthelper messages: requests laid out as libnetfilter_cthelper
// builds them, and the parsing and text rendering of helper objects.
import { MessageBuilder } from "../netlink/builder.ts";
import { AF_UNSPEC, NFNL_SUBSYS_CTHELPER, NLM_F_REQUEST } from "../netlink/constants.ts";
import { type Chunk } from "./io.ts";
import { cStringBytes } from "./cstring.ts";
import { type ExpectPolicy } from "./helper_table.ts";
import { forEachAttr } from "./attrs.ts";

export const NFNL_MSG_CTHELPER_NEW = 0;
export const NFNL_MSG_CTHELPER_GET = 1;
export const NFNL_MSG_CTHELPER_DEL = 2;

const NFCTH_NAME = 1;
const NFCTH_TUPLE = 2;
const NFCTH_QUEUE_NUM = 3;
const NFCTH_POLICY = 4;
const NFCTH_PRIV_DATA_LEN = 5;
const NFCTH_STATUS = 6;
const NFCTH_MAX = 6;

const NFCTH_TUPLE_L3PROTONUM = 1;
const NFCTH_TUPLE_L4PROTONUM = 2;

const NFCTH_POLICY_SET_NUM = 1;
const NFCTH_POLICY_SET = 2;

const NFCTH_POLICY_NAME = 1;
const NFCTH_POLICY_EXPECT_MAX = 2;
const NFCTH_POLICY_EXPECT_TIMEOUT = 3;

export const NFCT_HELPER_STATUS_DISABLED = 0;

/** Helper and policy names keep at most 15 bytes (the library's 16-byte buffers). */
export const HELPER_NAME_SIZE = 16;

/** The fields a request may carry; absent ones are not sent. */
export interface HelperRequest {
  name?: Uint8Array;
  privDataLen?: number;
  l3proto?: number;
  l4proto?: number;
  policies?: ExpectPolicy[];
  status?: number;
}

export function buildHelperRequest(
  msgType: number,
  flags: number,
  seq: number,
  h?: HelperRequest,
): Uint8Array {
  const b = new MessageBuilder(512);
  b.begin((NFNL_SUBSYS_CTHELPER << 8) | msgType, NLM_F_REQUEST | flags, seq, AF_UNSPEC);
  if (h) {
    if (h.name) b.bytes(NFCTH_NAME, strz(h.name));
    if (h.privDataLen !== undefined) b.be32(NFCTH_PRIV_DATA_LEN, h.privDataLen);
    // The tuple always carries both numbers; an unset one goes out as zero.
    if (h.l3proto !== undefined || h.l4proto !== undefined) {
      b.nest(NFCTH_TUPLE);
      b.be16(NFCTH_TUPLE_L3PROTONUM, h.l3proto ?? 0);
      b.u8(NFCTH_TUPLE_L4PROTONUM, h.l4proto ?? 0);
      b.endNest();
    }
    if (h.policies && h.policies.length > 0) {
      b.nest(NFCTH_POLICY);
      // The library files every policy under the first set slot; kept as it is.
      for (const p of h.policies) {
        b.nest(NFCTH_POLICY_SET);
        b.bytes(NFCTH_POLICY_NAME, strz(new TextEncoder().encode(p.name).slice(0, HELPER_NAME_SIZE - 1)));
        b.be32(NFCTH_POLICY_EXPECT_MAX, p.expectMax);
        b.be32(NFCTH_POLICY_EXPECT_TIMEOUT, p.expectTimeout);
        b.endNest();
      }
      b.be32(NFCTH_POLICY_SET_NUM, h.policies.length);
      b.endNest();
    }
    if (h.status !== undefined) b.be32(NFCTH_STATUS, h.status);
  }
  return b.end().bytesView().slice();
}

function strz(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

export interface HelperObject {
  name: Uint8Array;
  queueNum: number;
  l3proto: number;
  l4proto: number;
  privDataLen: number;
  status: number;
}

/** Reads a helper object; undefined when a mandatory attribute is missing (as the library). */
export function parseHelperMessage(
  buf: Uint8Array,
  view: DataView,
  off: number,
  len: number,
): HelperObject | undefined {
  const seen = new Set<number>();
  const h: HelperObject = {
    name: new Uint8Array(),
    queueNum: 0,
    l3proto: 0,
    l4proto: 0,
    privDataLen: 0,
    status: 0,
  };
  forEachAttr(view, off + 20, off + len, (type, at, size) => {
    if (type > NFCTH_MAX) return;
    seen.add(type);
    if (type === NFCTH_NAME) h.name = cStringBytes(buf.subarray(at, at + size), HELPER_NAME_SIZE);
    else if (type === NFCTH_QUEUE_NUM && size >= 4) h.queueNum = view.getUint32(at, false);
    else if (type === NFCTH_PRIV_DATA_LEN && size >= 4) h.privDataLen = view.getUint32(at, false);
    else if (type === NFCTH_STATUS && size >= 4) h.status = view.getUint32(at, false);
    else if (type === NFCTH_TUPLE) {
      forEachAttr(view, at, at + size, (t, a, s) => {
        if (t === NFCTH_TUPLE_L3PROTONUM && s >= 2) h.l3proto = view.getUint16(a, false);
        else if (t === NFCTH_TUPLE_L4PROTONUM && s >= 1) h.l4proto = buf[a];
      });
    }
  });
  for (const required of [NFCTH_NAME, NFCTH_QUEUE_NUM, NFCTH_TUPLE, NFCTH_POLICY, NFCTH_STATUS]) {
    if (!seen.has(required)) return undefined;
  }
  return h;
}

export function formatHelper(h: HelperObject): Chunk[] {
  return [
    "{\n\t.name = ",
    h.name,
    `,\n\t.queuenum = ${h.queueNum},\n\t.l3protonum = ${h.l3proto},\n\t.l4protonum = ${h.l4proto},\n` +
    `\t.priv_data_len = ${h.privDataLen},\n\t.status = ${h.status ? "enabled" : "disabled"},\n};\n`,
  ];
}
