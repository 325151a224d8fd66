// conntrack 1.4.7's command-line parser. Entry points for main and the runner.
import type { CtCommand } from "../command.ts";
import type { LabelMap } from "../labels.ts";
import { fromBytes, toBytes } from "./bytes.ts";
import { parseFile } from "./loadfile.ts";
import { doParse } from "./parser.ts";
import { ParseOptions, ParseSession } from "./session.ts";

export type { ParseOptions } from "./session.ts";

export interface ParseResult {
  cmd: CtCommand;
  /** Lines 1.4.7 prints to stderr while parsing and then carries on (no trailing newline). */
  warnings: string[];
  /** The label map, when an option needed it and it loaded. */
  labelMap?: LabelMap;
  /** For `-h -p x`: the "Proto `x' help:" block to print after the usage text. */
  protoHelp?: string;
}

export interface LoadFileResult {
  cmds: CtCommand[];
  warnings: string[];
  labelMap?: LabelMap;
}

/**
 * Parses one invocation (argv without the program name). Errors are thrown as
 * CtExit (errors.ts); warnings collected before the error ride on it (warningsOf).
 */
export function parseArgsWithWarnings(
  argv: string[],
  progname: string,
  opts: ParseOptions = {},
): ParseResult {
  const session = new ParseSession(opts);
  try {
    const { cmd, protoHelp } = doParse(session, [progname, ...argv].map(toBytes));
    return { cmd, warnings: session.warnings.map(fromBytes), labelMap: session.labelMap, protoHelp };
  } catch (e) {
    attachWarnings(e, session);
    throw e;
  }
}

export function parseArgs(argv: string[], progname: string): CtCommand {
  return parseArgsWithWarnings(argv, progname).cmd;
}

/** `conntrack -R file` / `--load-file file`: every line parsed, nothing run. */
export function parseLoadFile(path: string, progname: string, opts: ParseOptions = {}): LoadFileResult {
  const session = new ParseSession(opts);
  try {
    const cmds = parseFile(session, toBytes(path), toBytes(progname));
    return { cmds, warnings: session.warnings.map(fromBytes), labelMap: session.labelMap };
  } catch (e) {
    attachWarnings(e, session);
    throw e;
  }
}

/**
 * The file argument when argv (without the program name) selects batch mode:
 * exactly "-R" or "--load-file" first, followed by a file name.
 */
export function loadFileArgument(argv: string[]): string | undefined {
  return argv.length >= 2 && (argv[0] === "-R" || argv[0] === "--load-file") ? argv[1] : undefined;
}

/**
 * Warnings printed before an error still reach stderr in 1.4.7; they ride on
 * the thrown CtExit as `warnings` so main can print them first.
 */
function attachWarnings(e: unknown, session: ParseSession): void {
  if (e && typeof e === "object") {
    (e as { warnings?: string[] }).warnings = session.warnings.map(fromBytes);
  }
}

/** Warnings carried by an error thrown from the parser ([] if none). */
export function warningsOf(e: unknown): string[] {
  if (!e || typeof e !== "object") return [];
  return (e as { warnings?: string[] }).warnings ?? [];
}
