// conntrackd's command line, parsed the way 1.4.7's main() does it: one pass
// over argv that looks only at the second character of each word, optional
// words taken from the following argv entry by prefix, the last request flag
// winning. Parsing is pure: text the reference prints along the way is
// collected, not written.
import * as C from "./codes.ts";
import { logLine, type LogPriority, logStream, usageText } from "./usage.ts";
import { jsonRequest } from "./json_codes.ts";

export const DEFAULT_CONFIG_FILE = "/etc/conntrackd/conntrackd.conf";
/** The reference keeps at most PATH_MAX - 1 bytes of the -C argument (snprintf into PATH_MAX). */
const PATH_MAX = 4096;

export interface OutputChunk {
  stream: "stdout" | "stderr";
  text: string;
}

export interface DaemonArgs {
  /** "daemon" covers both `-d` and console mode (no option at all). */
  mode: "daemon" | "request" | "version" | "help";
  /** The config file to read (the default when -C was not given or was empty). */
  configPath: string;
  /** Set in request mode: the code sent to the daemon (may be NO_ACTION, as the reference sends it). */
  requestCode?: number;
  /** `-d`: fork into the background; false in console mode. */
  daemonize: boolean;
  /** ctkit's own `--check`: validate the config and print the effective configuration. */
  check: boolean;
  /** ctkit's own `-o json`: the reply of `-s`/`-i`/`-e` as JSON lines (json_request.ts). */
  json?: boolean;
  /** Text printed during parsing that did not end the program, in order (warnings, usage + error). */
  output: OutputChunk[];
}

/** Ends the program the way the reference's parser does: print `output` in order, exit `status`. */
export class DaemonArgsExit extends Error {
  constructor(readonly status: number, readonly output: OutputChunk[]) {
    super(`conntrackd exits with status ${status}`);
    this.name = "DaemonArgsExit";
  }

  get stdout(): string {
    return this.output.filter((c) => c.stream === "stdout").map((c) => c.text).join("");
  }

  get stderr(): string {
    return this.output.filter((c) => c.stream === "stderr").map((c) => c.text).join("");
  }
}

/** ctkit's addition; any other word starting with `--` is an unknown option, as in the reference. */
export const CHECK_FLAG = "--check";
/** ctkit's addition: exactly `-o json` (any other word with `o` second is an unknown option, as before). */
export const OUTPUT_FLAG = "-o";

type Kind = "unset" | "daemon" | "request";

/** strncmp(word, keyword, strlen(word)) == 0: the word is a prefix of the keyword ("" matches all). */
function prefixOf(word: string, keyword: string): boolean {
  return keyword.startsWith(word);
}

/** `-s` words in the reference's test order (so `c` is cache and `r` runtime). */
const STATS_WORDS: Array<[string, number]> = [
  ["network", C.STATS_NETWORK],
  ["cache", C.STATS_CACHE],
  ["runtime", C.STATS_RUNTIME],
  ["multicast", C.STATS_LINK],
  ["link", C.STATS_LINK],
  ["rsqueue", C.STATS_RSQUEUE],
  ["process", C.STATS_PROCESS],
  ["queue", C.STATS_QUEUE],
  ["ct", C.STATS],
  ["expect", C.EXP_STATS],
];

const XML_OF: Record<number, number> = {
  [C.CT_DUMP_INTERNAL]: C.CT_DUMP_INT_XML,
  [C.CT_DUMP_EXTERNAL]: C.CT_DUMP_EXT_XML,
  [C.EXP_DUMP_INTERNAL]: C.EXP_DUMP_INT_XML,
  [C.EXP_DUMP_EXTERNAL]: C.EXP_DUMP_EXT_XML,
};

/** The `ct|expect` flags: [code for ct, code for expect, code without a word]. */
const TABLE_FLAGS: Record<string, [number, number, number]> = {
  c: [C.CT_COMMIT, C.EXP_COMMIT, C.ALL_COMMIT],
  i: [C.CT_DUMP_INTERNAL, C.EXP_DUMP_INTERNAL, C.CT_DUMP_INTERNAL],
  e: [C.CT_DUMP_EXTERNAL, C.EXP_DUMP_EXTERNAL, C.CT_DUMP_EXTERNAL],
  F: [C.CT_FLUSH_MASTER, C.EXP_FLUSH_MASTER, C.ALL_FLUSH_MASTER],
  R: [C.CT_RESYNC_MASTER, C.EXP_RESYNC_MASTER, C.ALL_RESYNC_MASTER],
};

/** Flags that take no word: the request they send. */
const PLAIN_REQUESTS: Record<string, number> = {
  B: C.SEND_BULK,
  t: C.RESET_TIMERS,
  k: C.KILL,
  n: C.REQUEST_DUMP,
};

/**
 * The character the reference switches on for argv[i]: argv[i][1]. For a word of
 * one character that is its terminating NUL; for an empty word it is the byte
 * after that NUL, i.e. the first character of the next argv entry (the kernel
 * lays them out back to back). After the last entry the environment follows,
 * which we cannot see: we take NUL there (an unknown option).
 */
function switchChar(argv: string[], i: number): string {
  const word = argv[i];
  if (word.length >= 2) return word[1];
  if (word.length === 1) return "\0";
  return argv[i + 1]?.[0] ?? "\0";
}

/** Byte-wise truncation to at most `max` UTF-8 bytes (the reference counts bytes). */
function truncateBytes(s: string, max: number): string {
  const bytes = new TextEncoder().encode(s);
  if (bytes.length <= max) return s;
  return new TextDecoder().decode(bytes.subarray(0, max));
}

function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

/**
 * Parses conntrackd's argv (without the program name). `progname` is argv[0] as
 * the usage text shows it. Returns the parsed command line, or throws
 * DaemonArgsExit where the reference exits during parsing (including the
 * unknown-option case, which exits 0).
 */
export function parseDaemonArgs(argv: string[], progname: string): DaemonArgs {
  const output: OutputChunk[] = [];
  const log = (prio: LogPriority, message: string) =>
    output.push({ stream: logStream(prio), text: logLine(prio, message) });
  const usage = () => output.push({ stream: "stdout", text: usageText(progname) });
  const fail = (status: number): never => {
    throw new DaemonArgsExit(status, output);
  };
  const invalid = (): never => {
    usage();
    log("ERROR", "Invalid parameters");
    return fail(1);
  };

  let kind = "unset" as Kind;
  let check = false;
  let json = false;
  let action: number = C.NO_ACTION;
  let configPath = "";

  // set_operation_mode(): the first mode sticks, a different one is an error.
  // `--check` belongs with the daemon side (it validates a daemon config).
  const setKind = (want: Kind) => {
    if (want === "request" && check) invalid();
    if (kind === "unset") kind = want;
    else if (kind !== want) invalid();
  };

  /** The next argv entry if it is an optional word (present and not starting with '-'). */
  const wordAt = (i: number): string | undefined => {
    const next = argv[i + 1];
    return next !== undefined && next[0] !== "-" ? next : undefined;
  };

  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === CHECK_FLAG) {
      if (kind === "request") invalid();
      check = true;
      continue;
    }
    if (argv[i] === OUTPUT_FLAG) {
      const word = argv[++i];
      if (word !== "json") {
        log(
          "ERROR",
          word === undefined
            ? "option `-o' needs a format: -o json"
            : `unknown parameter \`${word}' for option \`-o' (the format is json)`,
        );
        fail(1);
      }
      json = true;
      continue;
    }
    const ch = switchChar(argv, i);
    const table = TABLE_FLAGS[ch];
    if (table) {
      setKind("request");
      const word = wordAt(i);
      if (word === undefined) {
        action = table[2];
      } else if (prefixOf(word, "ct")) {
        action = table[0];
        i++;
      } else if (prefixOf(word, "expect")) {
        action = table[1];
        i++;
      }
      // any other word stays in argv (and the action unchanged): the next round handles it
      continue;
    }
    if (ch in PLAIN_REQUESTS) {
      setKind("request");
      action = PLAIN_REQUESTS[ch];
      continue;
    }
    switch (ch) {
      case "d":
        setKind("daemon");
        break;
      case "C":
        if (++i < argv.length) {
          if (byteLength(argv[i]) > PATH_MAX) {
            log("warning", `Path to config file to long. Cutting it down to ${PATH_MAX} characters`);
          }
          configPath = truncateBytes(argv[i], PATH_MAX - 1);
          break;
        }
        // the reference complains and carries on with the config path it had
        usage();
        log("ERROR", "Missing config filename");
        break;
      case "f": {
        setKind("request");
        const word = wordAt(i);
        if (word === undefined) {
          action = C.ALL_FLUSH_CACHE;
        } else if (prefixOf(word, "internal")) {
          action = C.CT_FLUSH_INT_CACHE;
          i++;
        } else if (prefixOf(word, "external")) {
          action = C.CT_FLUSH_EXT_CACHE;
          i++;
        } else {
          log("ERROR", `unknown parameter \`${word}' for option \`-f'`);
          fail(1);
        }
        break;
      }
      case "s": {
        setKind("request");
        const word = wordAt(i);
        if (word === undefined) {
          action = C.STATS;
          break;
        }
        const hit = STATS_WORDS.find(([keyword]) => prefixOf(word, keyword));
        if (!hit) {
          log("ERROR", `unknown parameter \`${word}' for option \`-s'`);
          fail(1);
        }
        if (hit![0] === "multicast") log("warning", "use `link' instead of `multicast' as parameter.");
        action = hit![1];
        i++;
        break;
      }
      case "x":
        // not a mode of its own: it upgrades a dump requested just before
        if (!(action in XML_OF)) invalid();
        action = XML_OF[action];
        break;
      case "v":
        return {
          mode: "version",
          configPath: configPath || DEFAULT_CONFIG_FILE,
          daemonize: false,
          check,
          output,
        };
      case "h":
        return {
          mode: "help",
          configPath: configPath || DEFAULT_CONFIG_FILE,
          daemonize: false,
          check,
          output,
        };
      default:
        usage();
        log("ERROR", `Unknown option: ${argv[i]}`);
        fail(0);
    }
  }

  const path = configPath || DEFAULT_CONFIG_FILE;
  if (json && !(kind === "request" && jsonRequest(action))) {
    log(
      "ERROR",
      Object.values(XML_OF).includes(action)
        ? "-o json cannot be combined with -x"
        : "-o json goes with -s [section], -i [ct|expect] or -e [ct|expect] only",
    );
    fail(1);
  }
  if (json) {
    return { mode: "request", configPath: path, requestCode: action, daemonize: false, check, output, json };
  }
  if (kind === "request") {
    return { mode: "request", configPath: path, requestCode: action, daemonize: false, check, output };
  }
  return { mode: "daemon", configPath: path, daemonize: kind === "daemon", check, output };
}
