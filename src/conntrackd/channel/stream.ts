// Message boundaries in a TCP byte stream. Sync messages carry their own length
// (header bytes 2-3, big-endian, header included), so whole messages are handed
// on and a trailing partial one waits for the next read (sync-mode.c
// channel_handler_routine / channel_stream). The checks are the reference's, in
// its order: where it would count a malformed size and drop the rest of the
// read, the rest is handed on as is, for the sync layer to count.

/** Header of every message; ACK/NACK/RESYNC controls carry 8 more bytes (from, to). */
const HEADER = 8;
const RANGE_HEADER = 16;
const TYPE_CTL = 10;
const RANGE_FLAGS = 0x02 | 0x04 | 0x08; // RESYNC | NACK | ACK

/** Largest amount buffered (the reference's 64 KiB receive buffer; one message is at most 65535). */
export const STREAM_BUFFER = 65536;

/**
 * How many bytes of data[0, end) form whole messages (or a malformed run to
 * hand on as is); the rest is an incomplete message to keep.
 */
export function wholeMessages(data: Uint8Array, end: number): number {
  let pos = 0;
  while (pos < end) {
    const remain = end - pos;
    if (remain < HEADER) return pos;
    const len = (data[pos + 2] << 8) | data[pos + 3];
    if (len === 0) return end;
    if (len > remain) return pos;
    const ranged = (data[pos] & 0x0f) === TYPE_CTL && (data[pos + 1] & RANGE_FLAGS) !== 0;
    if (ranged) {
      if (remain < RANGE_HEADER) return pos;
      if (len < RANGE_HEADER) return end;
    } else if (len < HEADER) {
      return end;
    }
    pos += len;
  }
  return pos;
}

/** Reassembles messages from stream reads. */
export class StreamDeframer {
  readonly buffer = new Uint8Array(STREAM_BUFFER);
  /** Bytes of an incomplete message kept from earlier reads. */
  pending = 0;

  /** Where the next read goes. */
  space(): Uint8Array {
    return this.buffer.subarray(this.pending);
  }

  /** Takes `n` bytes just read into space(): visits the whole messages, keeps the rest. */
  push(n: number, visit: (data: Uint8Array) => void): void {
    const end = this.pending + n;
    const cut = wholeMessages(this.buffer, end);
    if (cut > 0) visit(this.buffer.subarray(0, cut));
    this.buffer.copyWithin(0, cut, end);
    this.pending = end - cut;
  }

  /** A new connection starts at a message boundary. */
  reset(): void {
    this.pending = 0;
  }
}
