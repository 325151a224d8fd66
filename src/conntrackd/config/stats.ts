// The `Stats { LogFile ...; Syslog ... }` block.

import type { Cursor } from "./cursor.ts";
import type { Draft } from "./draft.ts";
import { parseLogFile, parseSyslog } from "./logging.ts";

export function parseStats(c: Cursor, d: Draft): void {
  const st = d.stats;
  const open = c.next();
  c.block("Stats", (t) => {
    const kw = t.kind === "keyword" ? t.keyword : undefined;
    if (kw === "LogFile") {
      st.logFile = parseLogFile(c, st.logFile, "/var/log/conntrackd-stats.log", "stats LogFile");
    } else if (kw === "Syslog") {
      // The reference's Stats wording ends in a full stop, unlike General's.
      st.syslog = parseSyslog(c, st.syslog, d.general.syslog, ".");
    } else {
      // NetlinkEventsReliable is documented for Stats in the man page but is a General key.
      throw c.unknownClause(t, "the Stats block (expected LogFile or Syslog)");
    }
  });
  if (d.sync.present) {
    throw c.error(open.line, "cannot use both `Stats' and `Sync' clauses in conntrackd.conf");
  }
  st.present = true;
}
