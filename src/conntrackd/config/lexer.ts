// Tokenizer for conntrackd.conf. It reproduces the reference scanner's
// choice rule exactly: at each position the longest match wins, and on a tie
// the earlier rule wins (keywords, booleans, numbers, IPv4, IPv6, paths, mode
// names, words). This matters: `dead` lexes as an IPv6 literal, `persistent`
// in lower case is a plain word, and `|n` is the boolean "on" in 1.4.7.

export type TokenKind =
  | "keyword" // a reserved word; `text` is the keyword
  | "on"
  | "off"
  | "number" // [0-9]+
  | "signed" // [+-][0-9]+
  | "ip" // IPv4 or IPv6 literal, optionally with /prefix
  | "path" // starts with '/'
  | "mode" // FTFW | ALARM | NOTRACK (value = canonical name)
  | "word" // [A-Za-z][A-Za-z0-9._-]*
  | "char" // any other single character, e.g. '{' '}'
  | "eof";

export interface Token {
  kind: TokenKind;
  /** The source text of the token. */
  text: string;
  /** 1-based line the token starts on. */
  line: number;
  /** Keywords: the canonical keyword (aliases resolved). */
  keyword?: string;
  /** Numbers: the value as the reference's atoi() gives it. */
  value?: number;
  /** Mode names: canonical mode. */
  mode?: "FTFW" | "ALARM" | "NOTRACK";
  /** Set when the reference prints a deprecation warning on scanning this token. */
  warning?: string;
}

/** The TCP state names a `Filter { State … }` clause accepts (reserved words too). */
export const FILTER_TCP_STATES: readonly string[] = [
  "SYN_SENT",
  "SYN_RECV",
  "ESTABLISHED",
  "FIN_WAIT",
  "CLOSE_WAIT",
  "LAST_ACK",
  "TIME_WAIT",
  "CLOSE",
  "LISTEN",
];

/** Reserved words; all case-sensitive. Aliases map to their canonical keyword. */
export const KEYWORDS: ReadonlyMap<string, string> = new Map([
  ...[
    "UNIX",
    "IPv4_address",
    "IPv6_address",
    "IPv4_Destination_Address",
    "IPv6_Destination_Address",
    "IPv4_interface",
    "IPv6_interface",
    "Interface",
    "Multicast",
    "UDP",
    "TCP",
    "HashSize",
    "RefreshTime",
    "CacheTimeout",
    "CommitTimeout",
    "HashLimit",
    "Path",
    "Backlog",
    "Group",
    "Port",
    "LogFile",
    "Syslog",
    "LockFile",
    "General",
    "Sync",
    "Stats",
    "NetlinkBufferSize",
    "NetlinkBufferSizeMaxGrowth",
    "Mode",
    "ResendQueueSize",
    "Checksum",
    "ACKWindowSize",
    "for",
    ...FILTER_TCP_STATES,
    "SndSocketBuffer",
    "RcvSocketBuffer",
    "Filter",
    "Protocol",
    "Address",
    "State",
    "Accept",
    "Ignore",
    "PurgeTimeout",
    "From",
    "Userspace",
    "Kernelspace",
    "EventIterationLimit",
    "Default",
    "PollSecs",
    "NetlinkOverrunResync",
    "Nice",
    "Scheduler",
    "Type",
    "Priority",
    "NetlinkEventsReliable",
    "DisableInternalCache",
    "DisableExternalCache",
    "Options",
    "TCPWindowTracking",
    "ExpectationSync",
    "ErrorQueueLength",
    "Helper",
    "QueueNum",
    "QueueLen",
    "Policy",
    "ExpectMax",
    "ExpectTimeout",
    "Systemd",
    "StartupResync",
    "Setup",
  ].map((k) => [k, k] as [string, string]),
  ["SocketBufferSize", "NetlinkBufferSize"],
  ["SocketBufferSizeMaxGrown", "NetlinkBufferSizeMaxGrowth"],
  ["SocketBufferSizeMaxGrowth", "NetlinkBufferSizeMaxGrowth"],
  ["CLOSED", "CLOSE"],
]);

// Each rule is anchored (sticky) so it only matches at the current position.
// The reference's character classes contain a literal '|' (e.g. `[o|O]`), kept here.
// `first` lists the characters a match can start with: a rule is only tried
// where it could match (the answer is the same; a client's start-up is shorter).
const DIGITS = "0123456789";
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
export const RULES: {
  kind: TokenKind | "mode-alarm" | "mode-persistent" | "mode-ftfw" | "mode-nack" | "mode-notrack";
  re: RegExp;
  first: string;
}[] = [
  { kind: "on", re: /[o|O][n|N]|[y|Y][e|E][s|S]/y, first: "oOyY|" },
  { kind: "off", re: /[o|O][f|F][f|F]|[n|N][o|O]/y, first: "oOnN|" },
  { kind: "number", re: /[0-9]+/y, first: DIGITS },
  { kind: "signed", re: /[-+][0-9]+/y, first: "-+" },
  { kind: "ip", re: /[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(?:\/[0-9]+)?/y, first: DIGITS },
  // IPv6 is handled by longestIpv6() because a backtracking regex does not give flex's longest match.
  { kind: "path", re: /\/[^"\n ]*/y, first: "/" },
  { kind: "mode-alarm", re: /[A|a][L|l][A|a][R|r][M|m]/y, first: "Aa|" },
  { kind: "mode-persistent", re: /[P|p][E|e][R|r][S|s][I|i][S|s][T|t][E|e][N|n][T|T]/y, first: "Pp|" },
  { kind: "mode-ftfw", re: /[F|f][T|t][F|f][W|w]/y, first: "Ff|" },
  { kind: "mode-nack", re: /[N|n][A|a][C|c][K|k]/y, first: "Nn|" },
  { kind: "mode-notrack", re: /[N|n][O|o][T|t][R|r][A|a][C|c][K|k]/y, first: "Nn|" },
  { kind: "word", re: /[a-zA-Z][a-zA-Z0-9._-]*/y, first: LETTERS },
];
const WORD = /[a-zA-Z][a-zA-Z0-9._-]*/y;
/** What an IPv6 literal can start and continue with. */
const IPV6_FIRST = "0123456789abcdefABCDEF:";
const IPV6_CHARS = IPV6_FIRST + "/";

export const IPV6_FULL = new RegExp(
  "^(?:(?:[0-9a-fA-F]{1,4}:?){0,7}::(?:[0-9a-fA-F]{1,4}:?){0,7}|(?:[0-9a-fA-F]{1,4}:){0,7}[0-9a-fA-F]{1,4})" +
    "(?:\\/[0-9]+)?$",
);

/** Length of the longest IPv6-literal match at `pos` (0 if none), as flex would find it. */
function longestIpv6(src: string, pos: number): number {
  if (!IPV6_FIRST.includes(src[pos])) return 0;
  let end = pos;
  while (end < src.length && IPV6_CHARS.includes(src[end])) end++;
  for (let len = end - pos; len > 0; len--) {
    if (IPV6_FULL.test(src.slice(pos, pos + len))) return len;
  }
  return 0;
}

/** C's atoi(): strtol() saturates at the long range, then the result is truncated to int. */
export function atoi(text: string): number {
  let v = BigInt(text);
  const max = (1n << 63n) - 1n;
  if (v > max) v = max;
  if (v < -max - 1n) v = -max - 1n;
  return Number(BigInt.asIntN(32, v));
}

const PERSISTENT_WARNING =
  "Now `persistent' mode is called `alarm'. Please, update your conntrackd.conf file.";
const NACK_WARNING = "Now `nack' mode is called `ftfw'. Please, update your conntrackd.conf file.";

/** Splits the whole file into tokens, ending with one `eof` token. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  let line = 1;
  while (pos < src.length) {
    const c = src[pos];
    if (c === "\n") {
      line++;
      pos++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      pos++;
      continue;
    }
    if (c === "#") {
      while (pos < src.length && src[pos] !== "\n") pos++;
      continue;
    }
    // Candidates: keyword (rule 0), then RULES in order, with IPv6 slotted after IPv4.
    let bestLen = 0;
    let bestKind: string = "char";
    const consider = (kind: string, len: number) => {
      if (len > bestLen) {
        bestLen = len;
        bestKind = kind;
      }
    };
    if (LETTERS.includes(c)) {
      WORD.lastIndex = pos;
      const w = WORD.exec(src);
      if (w && KEYWORDS.has(w[0])) consider("keyword", w[0].length);
    }
    for (const rule of RULES) {
      if (rule.first.includes(c)) {
        rule.re.lastIndex = pos;
        const m = rule.re.exec(src);
        if (m) consider(rule.kind, m[0].length);
      }
      if (rule.kind === "ip") consider("ip", longestIpv6(src, pos));
    }
    if (bestLen === 0) {
      out.push({ kind: "char", text: c, line });
      pos++;
      continue;
    }
    const text = src.slice(pos, pos + bestLen);
    pos += bestLen;
    out.push(makeToken(bestKind, text, line));
  }
  out.push({ kind: "eof", text: "", line });
  return out;
}

function makeToken(kind: string, text: string, line: number): Token {
  switch (kind) {
    case "keyword":
      return { kind: "keyword", text, line, keyword: KEYWORDS.get(text)! };
    case "number":
    case "signed":
      return { kind, text, line, value: atoi(text) };
    case "mode-alarm":
      return { kind: "mode", text, line, mode: "ALARM" };
    case "mode-persistent":
      return { kind: "mode", text, line, mode: "ALARM", warning: PERSISTENT_WARNING };
    case "mode-ftfw":
      return { kind: "mode", text, line, mode: "FTFW" };
    case "mode-nack":
      return { kind: "mode", text, line, mode: "FTFW", warning: NACK_WARNING };
    case "mode-notrack":
      return { kind: "mode", text, line, mode: "NOTRACK" };
    default:
      return { kind: kind as TokenKind, text, line };
  }
}
