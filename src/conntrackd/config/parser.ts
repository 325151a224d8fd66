// Top level of conntrackd.conf: any number of General, Sync, Stats and
// Helper blocks in any order.

import { Cursor } from "./cursor.ts";
import { applyDefaults } from "./defaults.ts";
import { type Draft, newDraft } from "./draft.ts";
import { parseGeneral } from "./general.ts";
import { finishHelpers, parseHelper } from "./helper.ts";
import { parseStats } from "./stats.ts";
import { parseSync } from "./sync.ts";
import type { Config } from "./types.ts";

const BLOCKS: Record<string, (c: Cursor, d: Draft) => void> = {
  General: parseGeneral,
  Sync: parseSync,
  Stats: parseStats,
  Helper: parseHelper,
};

/** Parses a whole configuration text; throws ConfigError on anything the reference rejects. */
export function parseConfig(text: string, file: string): Config {
  const c = new Cursor(text, file);
  const d = newDraft();
  while (!c.atEof()) {
    const t = c.peek();
    const parse = t.kind === "keyword" ? BLOCKS[t.keyword!] : undefined;
    if (!parse) {
      if (t.kind === "char" && t.text === "}") throw c.error(t.line, "unexpected '}' outside of any block");
      throw c.unknownClause(t, "the top level (expected General, Sync, Stats or Helper)");
    }
    parse(c, d);
  }
  finishHelpers(d);
  return applyDefaults(d, file, c.warnings);
}
