// Writes a cache dump into a reply in slices, sending each to the client and
// yielding to the event loop between them, so dumping 100 000 entries never
// holds up event processing nor holds the whole text (the reference forks a
// child that writes to the client as it goes).
import { yieldToLoop } from "../ctnl/events.ts";
import type { Reply } from "./mode.ts";

const SLICE = 1024;

export async function writeDump<T>(
  reply: Reply,
  items: Iterable<T>,
  line: (item: T) => string | null,
): Promise<void> {
  // Snapshot first: the cache may change while we yield.
  const all = [...items];
  for (let i = 0; i < all.length; i += SLICE) {
    const lines: string[] = [];
    const end = Math.min(all.length, i + SLICE);
    for (let k = i; k < end; k++) {
      const s = line(all[k]);
      if (s !== null) lines.push(s);
    }
    // One flat string per slice: a chain of += keeps every line and a node per line alive.
    reply.write(lines.join(""));
    if (end < all.length) {
      // Out to the client before the next slice: 100 000 lines never sit in memory at once.
      await reply.flush();
      await yieldToLoop();
    }
  }
}
