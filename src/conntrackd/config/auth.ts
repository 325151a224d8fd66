// ctkit's `Authentication { … }` clause inside `Sync { … }`: sealed sync records
// (src/conntrackd/auth/). Not in conntrackd 1.4.7's grammar; without it the
// wire is 1.4.7's. The words are plain words to the lexer, as the reference's
// scanner has no such keywords.
//
//   Authentication {
//   	KeyFile /etc/conntrackd/sync.key          # required
//   	NextKeyFile /etc/conntrackd/sync.next.key # optional: accepted too (key rollover)
//   	Encrypt on                                # optional, default off
//   }

import type { Cursor } from "./cursor.ts";
import type { Draft } from "./draft.ts";

/** Parses the block after `Authentication` (the cursor is on the word). */
export function parseAuthentication(c: Cursor, d: Draft): void {
  const open = c.next();
  const s = d.sync;
  if (s.authentication !== null) throw c.error(open.line, "Authentication is given twice in the Sync block");
  let keyFile: string | null = null, nextKeyFile: string | null = null, encrypt: boolean | null = null;
  c.block("Authentication", (t) => {
    const word = t.kind === "word" ? t.text : "";
    const once = (seen: unknown) => {
      if (seen !== null) throw c.error(t.line, `${word} is given twice in the Authentication block`);
    };
    if (word === "KeyFile") {
      once(keyFile);
      c.next();
      keyFile = c.path("KeyFile");
    } else if (word === "NextKeyFile") {
      once(nextKeyFile);
      c.next();
      nextKeyFile = c.path("NextKeyFile");
    } else if (word === "Encrypt") {
      once(encrypt);
      c.next();
      encrypt = c.bool("Encrypt");
    } else {
      throw c.unknownClause(t, "the Authentication block (expected KeyFile, NextKeyFile or Encrypt)");
    }
  });
  if (keyFile === null) throw c.error(open.line, "the Authentication block needs a KeyFile");
  if (keyFile === nextKeyFile) {
    throw c.error(open.line, "KeyFile and NextKeyFile name the same file");
  }
  s.authentication = { keyFile, nextKeyFile, encrypt: encrypt ?? false };
}
