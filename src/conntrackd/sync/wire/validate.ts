// The receive loop over one datagram (or stream chunk) of concatenated sync
// messages, with the framing checks and error counters of conntrackd 1.4.7's
// channel_handler_routine() and do_channel_handler_step() (sync-mode.c).
import type { Conntrack, Expect } from "../../../conntrack/model.ts";
import { decodeCtPayload } from "./ct_codec.ts";
import { decodeExpPayload } from "./exp_codec.ts";
import {
  CT_DEL,
  getLen,
  getSeq,
  hasRange,
  HDR_SIZE,
  type MessageHeader,
  MSG_BAD,
  MSG_CTL,
  MSG_DROP,
  newMessageHeader,
  PROTOCOL_VERSION,
  RANGE_HDR_SIZE,
  TYPE_MAX,
} from "./header.ts";
import { getU32 } from "./attr.ts";

/** The receive error counters `conntrackd -s network` prints (struct ct_sync_state.error). */
export interface NetworkStats {
  /** "Malformed messages" (recv), also "Malformed msgs" in `-s`: every rejected message. */
  malformed: number;
  /** "Wrong protocol version" */
  badVersion: number;
  /** "Malformed header": the sync mode found the header bad (MSG_BAD). */
  badHeader: number;
  /** "Malformed payload": an attribute the reference rejects. */
  badPayload: number;
  /** "Bad message type": a data message of type > 5. */
  badType: number;
  /** "Truncated message": less than a header left. */
  truncated: number;
  /** "Bad message size": length 0, beyond the data, or shorter than the header. */
  badSize: number;
  /** "Malformed messages" (send): the reference never counts any. */
  sendMalformed: number;
  /** "Packets lost" / "Lost msgs": sequence tracking, counted by the sync mode. */
  lost: number;
  /** "Packets before": sequence tracking, counted by the sync mode. */
  before: number;
}

export function newNetworkStats(): NetworkStats {
  return {
    malformed: 0,
    badVersion: 0,
    badHeader: 0,
    badPayload: 0,
    badType: 0,
    truncated: 0,
    badSize: 0,
    sendMalformed: 0,
    lost: 0,
    before: 0,
  };
}

/**
 * The receiving side. The header passed to the callbacks is reused for the
 * next message: copy what must outlive the call.
 */
export interface SyncVisitor {
  /**
   * The sync mode's recv() (sequence tracking, control messages): MSG_DATA,
   * MSG_CTL, MSG_DROP or MSG_BAD. Runs for every well-framed version-1 message
   * before its payload is looked at.
   */
  recv(h: MessageHeader): number;
  /** A conntrack message the mode accepted as data and whose payload is valid. */
  ct(h: MessageHeader, ct: Conntrack): void;
  /**
   * Optional, tried before the payload is decoded: a conntrack message the mode accepted as
   * data, payload in buf[off, end). True when it handled it without a Conntrack (it may only
   * do so for payloads decodeCtPayload accepts); false and `ct` gets it.
   */
  ctRaw?(h: MessageHeader, buf: Uint8Array, off: number, end: number): boolean;
  /** Same for expectations. */
  exp(h: MessageHeader, exp: Expect): void;
}

/**
 * Walks the messages in buf[0, len). A framing error (less than a header left,
 * length 0 or past the end, shorter than its header) is counted and ends the
 * walk; any other bad message is counted and skipped by its length, and the
 * walk goes on.
 *
 * With `stream` (TCP) an incomplete message at the end is not an error: the
 * return value is then the offset where it starts, to be kept and prefixed to
 * the next read. Otherwise (and when nothing is left over) it returns `len`.
 */
export function decodeMessages(
  buf: Uint8Array,
  len: number,
  visitor: SyncVisitor,
  stats: NetworkStats,
  stream = false,
): number {
  const h = newMessageHeader();
  let p = 0, remain = len;
  while (remain > 0) {
    if (remain < HDR_SIZE) {
      if (stream) return p;
      stats.malformed++, stats.truncated++;
      break;
    }
    const mlen = getLen(buf, p);
    if (mlen === 0) {
      stats.malformed++, stats.badSize++;
      break;
    }
    if (mlen > remain) {
      if (stream) return p;
      stats.malformed++, stats.badSize++;
      break;
    }
    const type = buf[p] & 0x0f, flags = buf[p + 1];
    const range = hasRange(type, flags);
    if (range) {
      if (remain < RANGE_HDR_SIZE) {
        if (stream) return p;
        stats.malformed++, stats.truncated++;
        break;
      }
      if (mlen < RANGE_HDR_SIZE) {
        stats.malformed++, stats.badSize++;
        break;
      }
    } else if (mlen < HDR_SIZE) {
      stats.malformed++, stats.badSize++;
      break;
    }
    h.version = buf[p] >> 4;
    h.type = type;
    h.flags = flags;
    h.len = mlen;
    h.seq = getSeq(buf, p);
    h.from = range ? getU32(buf, p + 8) : 0;
    h.to = range ? getU32(buf, p + 12) : 0;
    handleMessage(buf, p, len, h, visitor, stats);
    p += mlen, remain -= mlen;
  }
  return len;
}

function handleMessage(
  buf: Uint8Array,
  p: number,
  limit: number,
  h: MessageHeader,
  visitor: SyncVisitor,
  stats: NetworkStats,
): void {
  if (h.version !== PROTOCOL_VERSION) {
    stats.malformed++, stats.badVersion++;
    return;
  }
  const verdict = visitor.recv(h);
  if (verdict === MSG_CTL || verdict === MSG_DROP) return;
  if (verdict === MSG_BAD) {
    stats.malformed++, stats.badHeader++;
    return;
  }
  if (h.type > TYPE_MAX) {
    stats.malformed++, stats.badType++;
    return;
  }
  if (h.type <= CT_DEL) {
    if (visitor.ctRaw !== undefined && visitor.ctRaw(h, buf, p + HDR_SIZE, p + h.len)) return;
    const ct = decodeCtPayload(buf, p + HDR_SIZE, p + h.len, limit);
    if (ct === null) stats.malformed++, stats.badPayload++;
    else visitor.ct(h, ct);
  } else {
    const exp = decodeExpPayload(buf, p + HDR_SIZE, p + h.len, limit);
    if (exp === null) stats.malformed++, stats.badPayload++;
    else visitor.exp(h, exp);
  }
}
