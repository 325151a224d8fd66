// Walks netlink attributes (struct nlattr) laid out back to back in a buffer.
import { NLA_TYPE_MASK } from "../netlink/constants.ts";

/** Calls `fn(type, payloadOffset, payloadLength)` for each attribute in [start, end). */
export function forEachAttr(
  view: DataView,
  start: number,
  end: number,
  fn: (type: number, off: number, len: number) => void,
): void {
  let off = start;
  while (off + 4 <= end) {
    const len = view.getUint16(off, true);
    if (len < 4 || off + len > end) return;
    fn(view.getUint16(off + 2, true) & NLA_TYPE_MASK, off + 4, len - 4);
    off += (len + 3) & ~3;
  }
}
