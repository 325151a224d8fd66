// The config lexer tries a rule only where its first character allows a match
// (start-up of every client request). That gating must not change a single
// token: random texts from the config alphabet, tokenized by tokenize() and by
// the plain flex-style longest match over every rule at every position.
import { deepStrictEqual as assertEquals } from "node:assert";
import { IPV6_FULL, KEYWORDS, RULES, tokenize } from "../src/conntrackd/config/lexer.ts";
import { draws } from "./lib/prng.ts";

/** flex\'s longest IPv6 literal at `pos`: every length tried, longest first. */
function ipv6(src: string, pos: number): number {
  let end = pos;
  while (end < src.length && /[0-9a-fA-F:/]/.test(src[end])) end++;
  for (let len = end - pos; len > 0; len--) if (IPV6_FULL.test(src.slice(pos, pos + len))) return len;
  return 0;
}

/** [kind, text] of each token by trying every rule at every position. */
function ungated(src: string): [string, string][] {
  const out: [string, string][] = [];
  let pos = 0;
  while (pos < src.length) {
    const c = src[pos];
    if (c === "\n" || c === " " || c === "\t" || c === "\r") {
      pos++;
      continue;
    }
    if (c === "#") {
      while (pos < src.length && src[pos] !== "\n") pos++;
      continue;
    }
    let bestLen = 0, bestKind = "char";
    const word = /[a-zA-Z][a-zA-Z0-9._-]*/y;
    word.lastIndex = pos;
    const w = word.exec(src);
    if (w && KEYWORDS.has(w[0])) bestLen = w[0].length, bestKind = "keyword";
    for (const rule of RULES) {
      rule.re.lastIndex = pos;
      const m = rule.re.exec(src);
      if (m && m[0].length > bestLen) bestLen = m[0].length, bestKind = rule.kind;
      const v6 = rule.kind === "ip" ? ipv6(src, pos) : 0;
      if (v6 > bestLen) bestLen = v6, bestKind = "ip";
    }
    if (bestLen === 0) bestLen = 1;
    out.push([bestKind, src.slice(pos, pos + bestLen)]);
    pos += bestLen;
  }
  return out;
}

/** The mode rules come out as kind "mode"; everything else keeps its rule's kind. */
function kindOf(kind: string): string {
  return kind.startsWith("mode-") ? "mode" : kind;
}

Deno.test("config lexer: first-character gating gives the tokens of the ungated longest match", () => {
  const rng = draws(0x1e7e4);
  const pieces = [
    "General",
    "Sync",
    "Mode",
    "FTFW",
    "ftfw",
    "nack",
    "NOTRACK",
    "alarm",
    "Persistent",
    "on",
    "Off",
    "yes",
    "No",
    "|",
    "o|n",
    "n|o",
    "UDP",
    "IPv4_address",
    "192.168.0.1",
    "10.0.0.0/8",
    "42",
    "-7",
    "+3",
    "/var/run/x",
    "{",
    "}",
    '"',
    "#c\n",
    "\n",
    " ",
    "\t",
    "Port",
    "Stats",
    "Filter",
    "ignoretrafficfor",
    "x.y-z_w",
    "0x1",
    "LogFile",
    "on|off",
    "99999999999999999999",
    "::1",
    "fe80::1/64",
    "2001:db8::",
    "ab:cd",
    "dead",
    "a",
    ":",
    "/",
    "1.2.3.4/24",
  ];
  for (let i = 0; i < 3000; i++) {
    let src = "";
    const n = 1 + rng.int(30);
    for (let k = 0; k < n; k++) src += rng.pick(pieces) + (rng.int(2) ? " " : "");
    const got = tokenize(src).filter((t) => t.kind !== "eof").map((t) => [t.kind, t.text]);
    const want = ungated(src).map(([k, t]) => [kindOf(k), t]);
    assertEquals(got, want, JSON.stringify(src));
  }
});
