// Which requests ctkit's `-o json` goes with, and the `section` member of each
// `-s` one. Kept apart from the converters so the argument parser (loaded by
// every client request) does not load them.
import * as C from "./codes.ts";

/** The `section` member for each stats request (`-s` without a word is `-s ct`). */
export const STATS_SECTIONS: ReadonlyMap<number, string> = new Map([
  [C.STATS, "ct"],
  [C.EXP_STATS, "expect"],
  [C.STATS_NETWORK, "network"],
  [C.STATS_CACHE, "cache"],
  [C.STATS_RUNTIME, "runtime"],
  [C.STATS_LINK, "link"],
  [C.STATS_RSQUEUE, "rsqueue"],
  [C.STATS_PROCESS, "process"],
  [C.STATS_QUEUE, "queue"],
]);

/** The cache dumps: conntracks or expectations. */
export const DUMP_TABLES: ReadonlyMap<number, "ct" | "expect"> = new Map([
  [C.CT_DUMP_INTERNAL, "ct"],
  [C.CT_DUMP_EXTERNAL, "ct"],
  [C.EXP_DUMP_INTERNAL, "expect"],
  [C.EXP_DUMP_EXTERNAL, "expect"],
]);

/** The requests `-o json` goes with: the `-s` sections and the four dumps. */
export function jsonRequest(code: number): boolean {
  return STATS_SECTIONS.has(code) || DUMP_TABLES.has(code);
}
