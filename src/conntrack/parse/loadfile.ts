// -R/--load-file: ct_parse_file() reads the file in fgets() chunks, splits
// each into words iptables-style, parses every line before anything runs and
// then accepts only -I, -A, -U, -D and -F.
import * as C from "../command.ts";
import type { CtCommand } from "../command.ts";
import { PARAMETER_PROBLEM } from "../errors.ts";
import { rawToBytes } from "./bytes.ts";
import { fail } from "./fail.ts";
import { doParse } from "./parser.ts";
import type { ParseSession } from "./session.ts";

/** fgets() buffer size: longer lines are parsed in pieces. */
const LINE_BUFFER = 10240;
/** argv slots (the program name included, one kept for the terminating NULL). */
const MAX_ARGC = 255;
/** Bytes per word, the terminating NUL included. */
const PARAM_BUFFER = 1024;

/** The file's bytes, or undefined when fopen() would fail. Directories read as empty. */
function readInput(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    if (file.statSync().isDirectory) return "";
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = file.readSync(buf);
      if (n === null || n === 0) break;
      chunks.push(buf.slice(0, n));
    }
    let size = 0;
    for (const c of chunks) size += c.length;
    const all = new Uint8Array(size);
    let off = 0;
    for (const c of chunks) all.set(c, off), off += c.length;
    return rawToBytes(all);
  } catch {
    return "";
  } finally {
    file.close();
  }
}

/** The pieces fgets() returns: up to a newline (kept) or LINE_BUFFER - 1 bytes. */
export function fgetsChunks(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const nl = text.indexOf("\n", i);
    const lineEnd = nl < 0 ? text.length : nl + 1;
    const end = Math.min(lineEnd, i + LINE_BUFFER - 1);
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

/** add_param_to_argv(): whitespace-separated words, "…" groups, \x escapes inside quotes. */
export function splitWords(line: string, argv: string[]): void {
  let quoteOpen = false, escaped = false;
  let word = "";
  const addChar = (ch: string) => {
    word += ch;
    if (word.length >= PARAM_BUFFER) fail(PARAMETER_PROBLEM, "Parameter too long!");
  };
  const flush = () => {
    addArg(argv, word);
    word = "";
  };
  for (const ch of line) {
    if (quoteOpen) {
      if (escaped) {
        addChar(ch);
        escaped = false;
        continue;
      }
      if (ch === "\\") {
        escaped = true;
        continue;
      }
      if (ch !== '"') {
        addChar(ch);
        continue;
      }
      // A closing quote ends the word.
      quoteOpen = false;
      flush();
      continue;
    }
    if (ch === '"') {
      quoteOpen = true;
      continue;
    }
    if (ch === " " || ch === "\t" || ch === "\n") {
      if (word.length) flush();
      continue;
    }
    addChar(ch);
  }
  if (word.length) flush();
}

function addArg(argv: string[], word: string): void {
  if (argv.length + 1 >= MAX_ARGC) fail(PARAMETER_PROBLEM, "too many arguments");
  argv.push(word);
}

/** The text of ct_unsupp_cmd_parse_file for a command -R refuses. */
const REFUSED_COMMAND_TEXT: ReadonlyMap<number, string> = new Map([
  [C.CT_LIST, "-L"],
  [C.CT_GET, "-G"],
  [C.CT_EVENT, "-E"],
  [C.CT_VERSION, "-V"],
  [C.CT_HELP, "-h"],
  [C.EXP_LIST, "-L expect"],
  [C.EXP_CREATE, "-C expect"],
  [C.EXP_DELETE, "-D expect"],
  [C.EXP_GET, "-G expect"],
  [C.EXP_FLUSH, "-F expect"],
  [C.EXP_EVENT, "-E expect"],
  [C.CT_COUNT, "-C"],
  [C.EXP_COUNT, "-C expect"],
  [C.CT_STATS, "-S"],
  [C.EXP_STATS, "-S expect"],
]);

const FILE_COMMANDS = C.CT_CREATE | C.CT_ADD | C.CT_UPDATE | C.CT_DELETE | C.CT_FLUSH;

/** ct_parse_file() plus main()'s command check; `fileName` and `progname` are byte strings. */
export function parseFile(session: ParseSession, fileName: string, progname: string): CtCommand[] {
  const path = fileName === "-" ? "/dev/stdin" : fileName;
  const text = readInput(path);
  if (text === undefined) fail(PARAMETER_PROBLEM, `Failed to open file ${path} for reading`);
  const cmds: CtCommand[] = [];
  for (const chunk of fgetsChunks(text)) {
    // C string handling stops at a NUL byte.
    const nul = chunk.indexOf("\0");
    const line = (nul < 0 ? chunk : chunk.slice(0, nul)).replace(/^[ \t]*/, "");
    if (line[0] === "\n" || line[0] === "#") continue;
    const argv = [progname];
    splitWords(line, argv);
    cmds.push(doParse(session, argv).cmd);
  }
  for (const cmd of cmds) {
    if (!(cmd.command & FILE_COMMANDS)) {
      const text = REFUSED_COMMAND_TEXT.get(cmd.command) ?? "unknown";
      fail(PARAMETER_PROBLEM, `Cannot use command \`${text}' with --load-file`);
    }
  }
  // -o is global in conntrack: every command runs with the mask of all lines.
  for (const cmd of cmds) cmd.output = session.outputMask;
  return cmds;
}
