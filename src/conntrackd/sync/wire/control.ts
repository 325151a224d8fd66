// Control messages (type 10): ACK, NACK and RESYNC carry a sequence range and
// are 16 bytes long; ALIVE is the bare 8-byte header.
import { CTL, F_ACK, F_NACK, F_RESYNC, HDR_SIZE, RANGE_HDR_SIZE, writeHeader } from "./header.ts";

/**
 * Writes a control message with seq 0 at `off`; returns its length. The length
 * follows the flags as in the reference: 16 when ACK, NACK or RESYNC is set
 * (from/to written BE), 8 otherwise.
 */
export function encodeControl(out: Uint8Array, off: number, flags: number, from = 0, to = 0): number {
  if ((flags & (F_ACK | F_NACK | F_RESYNC)) === 0) {
    writeHeader(out, off, CTL, flags, HDR_SIZE);
    return HDR_SIZE;
  }
  writeHeader(out, off, CTL, flags, RANGE_HDR_SIZE);
  putU32(out, off + 8, from);
  putU32(out, off + 12, to);
  return RANGE_HDR_SIZE;
}

function putU32(out: Uint8Array, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = (v >>> 16) & 0xff;
  out[p + 2] = (v >>> 8) & 0xff;
  out[p + 3] = v & 0xff;
}
