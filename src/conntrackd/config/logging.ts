// `LogFile` and `Syslog` clauses, shared by General and Stats.

import type { Cursor } from "./cursor.ts";
import type { SyslogFacility } from "./types.ts";

const FACILITIES: ReadonlySet<string> = new Set([
  "daemon",
  "local0",
  "local1",
  "local2",
  "local3",
  "local4",
  "local5",
  "local6",
  "local7",
]);

/** Longest LogFile/LockFile path the reference stores. */
export const FILENAME_MAXLEN = 256;

/**
 * Parses the value after `LogFile`: on (the default path), off (keeps the
 * current value, as the reference does) or an absolute path.
 */
export function parseLogFile(
  c: Cursor,
  current: string | null,
  defaultPath: string,
  what: string,
): string | null {
  const kw = c.next();
  if (c.isBool()) return c.bool("LogFile") ? defaultPath : current;
  const t = c.peek();
  if (t.kind !== "path") throw c.unexpected(t, "on|off or an absolute path after LogFile");
  c.next();
  if (t.text.length > FILENAME_MAXLEN) {
    throw c.error(kw.line, `${what} path is longer than ${FILENAME_MAXLEN} characters`);
  }
  return t.text;
}

/**
 * Parses the value after `Syslog`. An unknown facility only warns and keeps
 * the current value; `other` is the facility of the other block, for the
 * reference's conflict warning.
 */
export function parseSyslog(
  c: Cursor,
  current: SyslogFacility | null,
  other: SyslogFacility | null,
  ignoredSuffix: string,
): SyslogFacility | null {
  c.next();
  if (c.isBool()) return c.bool("Syslog") ? "daemon" : null;
  const t = c.peek();
  if (t.kind !== "word") throw c.unexpected(t, "on|off or a facility (daemon, local0..local7) after Syslog");
  c.next();
  if (!FACILITIES.has(t.text)) {
    c.warnings.push(`'${t.text}' is not a known syslog facility, ignoring${ignoredSuffix}`);
    return current;
  }
  const facility = t.text as SyslogFacility;
  if (other !== null && other !== facility) {
    c.warnings.push("conflicting Syslog facility values, defaulting to General");
  }
  return facility;
}
