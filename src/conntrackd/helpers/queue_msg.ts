// nfnetlink_queue messages (linux/netfilter/nfnetlink_queue.h), laid out as
// libnetfilter_queue's nfq_nlmsg_* helpers lay them out: queue configuration
// (commands, copy mode, flags, queue length), the queued-packet message the
// kernel sends, and verdicts (with a rewritten packet, the conntrack and an
// expectation attached). The tests compare these bytes with the library's.
import type { MessageBuilder } from "../../netlink/builder.ts";
import { NLA_TYPE_MASK, NLM_F_ACK, NLM_F_REQUEST } from "../../netlink/constants.ts";

export const NFNL_SUBSYS_QUEUE = 3;

export const NFQNL_MSG_PACKET = 0;
export const NFQNL_MSG_VERDICT = 1;
export const NFQNL_MSG_CONFIG = 2;

export const NFQNL_CFG_CMD_BIND = 1;
export const NFQNL_CFG_CMD_UNBIND = 2;
export const NFQNL_CFG_CMD_PF_BIND = 3;
export const NFQNL_CFG_CMD_PF_UNBIND = 4;

export const NFQNL_COPY_NONE = 0;
export const NFQNL_COPY_META = 1;
export const NFQNL_COPY_PACKET = 2;

export const NFQA_CFG_CMD = 1;
export const NFQA_CFG_PARAMS = 2;
export const NFQA_CFG_QUEUE_MAXLEN = 3;
export const NFQA_CFG_MASK = 4;
export const NFQA_CFG_FLAGS = 5;

export const NFQA_CFG_F_FAIL_OPEN = 1 << 0;
export const NFQA_CFG_F_CONNTRACK = 1 << 1;

export const NFQA_PACKET_HDR = 1;
export const NFQA_VERDICT_HDR = 2;
export const NFQA_PAYLOAD = 10;
export const NFQA_CT = 11;
export const NFQA_CT_INFO = 12;
export const NFQA_CAP_LEN = 13;
export const NFQA_EXP = 15;

export const NF_DROP = 0;
export const NF_ACCEPT = 1;

/** Starts a queue message (nfq_nlmsg_put): family AF_UNSPEC, res_id = queue number. */
export function beginQueueMsg(b: MessageBuilder, type: number, queue: number, ack = false): void {
  b.begin((NFNL_SUBSYS_QUEUE << 8) | type, NLM_F_REQUEST | (ack ? NLM_F_ACK : 0), 0, 0, queue);
}

/** NFQA_CFG_CMD (nfq_nlmsg_cfg_put_cmd): command, pad, protocol family. */
export function putConfigCmd(b: MessageBuilder, pf: number, cmd: number): void {
  const bytes = new Uint8Array(4);
  bytes[0] = cmd;
  new DataView(bytes.buffer).setUint16(2, pf, false);
  b.bytes(NFQA_CFG_CMD, bytes);
}

/** NFQA_CFG_PARAMS (nfq_nlmsg_cfg_put_params): copy range, copy mode (5 packed bytes). */
export function putConfigParams(b: MessageBuilder, mode: number, range: number): void {
  const bytes = new Uint8Array(5);
  new DataView(bytes.buffer).setUint32(0, range, false);
  bytes[4] = mode;
  b.bytes(NFQA_CFG_PARAMS, bytes);
}

/** Queue flags (NFQA_CFG_FLAGS) with the mask of the flags they set or clear. */
export function putConfigFlags(b: MessageBuilder, flags: number, mask: number): void {
  b.be32(NFQA_CFG_FLAGS, flags).be32(NFQA_CFG_MASK, mask);
}

export function putConfigMaxLen(b: MessageBuilder, maxLen: number): void {
  b.be32(NFQA_CFG_QUEUE_MAXLEN, maxLen);
}

/** NFQA_VERDICT_HDR (nfq_nlmsg_verdict_put): verdict, packet id. */
export function putVerdict(b: MessageBuilder, id: number, verdict: number): void {
  const at = b.len;
  b.bytesFrom(NFQA_VERDICT_HDR, ZERO8, 8);
  b.view.setUint32(at + 4, verdict >>> 0, false);
  b.view.setUint32(at + 8, id >>> 0, false);
}
const ZERO8 = new Uint8Array(8);

/** A queued packet: where its parts are inside the received buffer (no copies). */
export class QueuedPacket {
  queue = 0;
  family = 0;
  id = 0;
  hwProtocol = 0;
  hook = 0;
  payloadOff = -1;
  payloadLen = 0;
  ctOff = -1;
  ctLen = 0;
  ctInfo = -1;
  capLen = -1;
  hasHeader = false;
}

/** Reads an NFQNL_MSG_PACKET message at buf[off..off+len) into `p`. */
export function parseQueuedPacket(
  buf: Uint8Array,
  v: DataView,
  off: number,
  len: number,
  p: QueuedPacket,
): void {
  p.family = buf[off + 16];
  p.queue = v.getUint16(off + 18, false);
  p.hasHeader = false;
  p.payloadOff = p.ctOff = -1;
  p.payloadLen = p.ctLen = 0;
  p.ctInfo = p.capLen = -1;
  const end = off + len;
  let at = off + 20;
  while (at + 4 <= end) {
    const alen = v.getUint16(at, true);
    if (alen < 4 || at + alen > end) break;
    const type = v.getUint16(at + 2, true) & NLA_TYPE_MASK;
    const data = at + 4, dlen = alen - 4;
    switch (type) {
      case NFQA_PACKET_HDR:
        if (dlen >= 7) {
          p.id = v.getUint32(data, false);
          p.hwProtocol = v.getUint16(data + 4, false);
          p.hook = buf[data + 6];
          p.hasHeader = true;
        }
        break;
      case NFQA_PAYLOAD:
        p.payloadOff = data;
        p.payloadLen = dlen;
        break;
      case NFQA_CT:
        p.ctOff = data;
        p.ctLen = dlen;
        break;
      case NFQA_CT_INFO:
        if (dlen >= 4) p.ctInfo = v.getUint32(data, false);
        break;
      case NFQA_CAP_LEN:
        if (dlen >= 4) p.capLen = v.getUint32(data, false);
        break;
    }
    at += (alen + 3) & ~3;
  }
}
