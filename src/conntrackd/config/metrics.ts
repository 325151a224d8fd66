// ctkit's `Metrics { Address A; Port N }` clause inside `General { … }`: where
// the daemon serves its Prometheus endpoint (src/conntrackd/metrics/). Not in
// conntrackd 1.4.7's grammar; without it nothing listens.

import type { Cursor } from "./cursor.ts";
import type { Draft } from "./draft.ts";
import { parseIpv4, parseIpv6 } from "./inet.ts";
import type { MetricsConfig } from "./types.ts";

/** Parses the block after `Metrics` (the cursor is on the word). */
export function parseMetrics(c: Cursor, d: Draft): void {
  const open = c.next();
  const g = d.general;
  if (g.metrics !== null) {
    throw c.error(open.line, `Metrics is given twice (first on line ${g.metrics.line})`);
  }
  // Filled in by the clauses (a holder: assignments in the callback are invisible to narrowing).
  const m: Partial<MetricsConfig> = {};
  c.block("Metrics", (t) => {
    if (t.kind === "keyword" && t.keyword === "Address") {
      c.next();
      const v = c.peek();
      if (v.kind !== "ip") throw c.unexpected(v, "an IPv4 or IPv6 address after Metrics Address");
      c.next();
      if (v.text.includes("/")) {
        throw c.error(v.line, `Metrics Address takes an address, not a prefix: '${v.text}'`);
      }
      const v4 = v.text.includes(":") ? null : parseIpv4Strict(v.text);
      const v6 = v.text.includes(":") ? parseIpv6(v.text) : null;
      if (v4 === null && v6 === null) {
        throw c.error(v.line, `Metrics Address '${v.text}' is not a valid address`);
      }
      m.address = (v4 ?? v6)!;
      m.family = v4 !== null ? "ipv4" : "ipv6";
    } else if (t.kind === "keyword" && t.keyword === "Port") {
      c.next();
      const v = c.peek();
      if (v.kind !== "number") throw c.unexpected(v, "a port number (1-65535) after Metrics Port");
      c.next();
      const n = Number(v.text);
      if (!/^[0-9]+$/.test(v.text) || n < 1 || n > 65535) {
        throw c.error(v.line, `Metrics Port ${v.text} is out of range (1-65535)`);
      }
      m.port = n;
    } else {
      throw c.unknownClause(t, "the Metrics block (expected Address or Port)");
    }
  });
  if (m.address === undefined) throw c.error(open.line, "the Metrics block needs an Address");
  if (m.port === undefined) throw c.error(open.line, "the Metrics block needs a Port");
  g.metrics = { address: m.address, family: m.family ?? "ipv4", port: m.port, line: open.line };
}

/** Dotted-quad only (four decimal parts 0-255): what the listener will be given as written. */
function parseIpv4Strict(text: string): string | null {
  if (!/^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$/.test(text)) return null;
  return parseIpv4(text);
}

/** `host:port` for messages and URLs: IPv6 addresses in brackets. */
export function metricsHostPort(m: MetricsConfig): string {
  return m.family === "ipv6" ? `[${m.address}]:${m.port}` : `${m.address}:${m.port}`;
}
