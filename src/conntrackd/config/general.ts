// The `General { ... }` block.

import type { Cursor } from "./cursor.ts";
import type { Draft } from "./draft.ts";
import { parseFilter } from "./filter.ts";
import { FILENAME_MAXLEN, parseLogFile, parseSyslog } from "./logging.ts";
import { parseMetrics } from "./metrics.ts";

/** sun_path is 108 bytes including the terminating NUL. */
const UNIX_PATH_MAX = 108;

export function parseGeneral(c: Cursor, d: Draft): void {
  const g = d.general;
  c.next();
  c.block("General", (t) => {
    const kw = t.kind === "keyword" ? t.keyword : undefined;
    switch (kw) {
      case "HashSize":
        c.next();
        g.hashSize = c.number("HashSize");
        return;
      case "HashLimit":
        c.next();
        g.hashLimit = c.number("HashLimit");
        return;
      case "LogFile":
        g.logFile = parseLogFile(c, g.logFile, "/var/log/conntrackd.log", "LogFile");
        return;
      case "Syslog":
        g.syslog = parseSyslog(c, g.syslog, d.stats.syslog, "");
        return;
      case "LockFile": {
        c.next();
        const p = c.path("LockFile");
        if (p.length > FILENAME_MAXLEN) {
          throw c.error(t.line, `LockFile path is longer than ${FILENAME_MAXLEN} characters`);
        }
        g.lockFile = p;
        return;
      }
      case "UNIX":
        c.next();
        c.block("UNIX", (u) => {
          if (u.kind === "keyword" && u.keyword === "Path") {
            c.next();
            const p = c.path("Path");
            if (p.length >= UNIX_PATH_MAX) {
              throw c.error(u.line, `Path is longer than ${UNIX_PATH_MAX - 1} characters`);
            }
            g.unixPath = p;
          } else if (u.kind === "keyword" && u.keyword === "Backlog") {
            c.next();
            g.backlog = c.number("Backlog");
            c.warnings.push("deprecated unix backlog configuration, ignoring.");
          } else {
            throw c.unknownClause(u, "the UNIX block (expected Path or Backlog)");
          }
        });
        return;
      case "NetlinkBufferSize":
        c.next();
        g.netlinkBufferSize = c.number(t.text);
        return;
      case "NetlinkBufferSizeMaxGrowth":
        c.next();
        g.netlinkBufferSizeMaxGrowth = c.number(t.text);
        return;
      case "NetlinkOverrunResync":
        c.next();
        if (c.isBool()) g.netlinkOverrunResync = c.bool(t.text) ? 30 : -1;
        else g.netlinkOverrunResync = c.number("NetlinkOverrunResync (or on|off)");
        return;
      case "NetlinkEventsReliable":
        c.next();
        g.netlinkEventsReliable = c.bool(t.text);
        return;
      case "EventIterationLimit":
        c.next();
        g.eventIterationLimit = c.number(t.text);
        return;
      case "PollSecs": {
        c.next();
        const n = c.number(t.text);
        if (n === 0) throw c.error(t.line, "`PollSecs' clause must be > 0");
        g.pollSecs = n;
        return;
      }
      case "Nice": {
        c.next();
        const v = c.peek();
        // The grammar wants an explicit sign here: `Nice 0` is a syntax error in the reference.
        if (v.kind !== "signed") throw c.unexpected(v, "a signed number (e.g. -1 or +0) after Nice");
        c.next();
        c.warnings.push(
          "deprecated nice configuration, ignoring. The nice value can be set externally with nice(1) and renice(1).",
        );
        return;
      }
      case "Scheduler":
        c.next();
        parseScheduler(c, d);
        return;
      case "Systemd":
        c.next();
        g.systemd = c.bool(t.text);
        return;
      case "Filter":
        parseFilter(c, g.filter);
        return;
      default:
        // ctkit's Prometheus endpoint (config/metrics.ts); `Metrics` is a plain word to the lexer.
        if (t.kind === "word" && t.text === "Metrics") return parseMetrics(c, d);
        throw c.unknownClause(t, "the General block");
    }
  });
}

function parseScheduler(c: Cursor, d: Draft): void {
  const s = d.general.scheduler ??= { type: null, priority: 0 };
  c.block("Scheduler", (t) => {
    if (t.kind === "keyword" && t.keyword === "Type") {
      c.next();
      const name = c.word("Type");
      const up = name.toUpperCase();
      if (up !== "RR" && up !== "FIFO") throw c.error(t.line, `unknown scheduler \`${name}'`);
      s.type = up;
    } else if (t.kind === "keyword" && t.keyword === "Priority") {
      c.next();
      const prio = c.number("Priority");
      if (prio < 0 || prio > 99) throw c.error(t.line, "`Priority' must be [0, 99]");
      s.priority = prio;
    } else {
      throw c.unknownClause(t, "the Scheduler block (expected Type or Priority)");
    }
  });
}
