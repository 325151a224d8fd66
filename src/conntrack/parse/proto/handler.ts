// The per-protocol extension interface (struct ctproto_handler): its long
// options, their parser, the final legality check and the -h text.
import { HasArg, type LongOption } from "../getopt.ts";
import type { CtTemplate } from "../../command.ts";
import type { Conntrack } from "../../model.ts";
import { PARAMETER_PROBLEM } from "../../errors.ts";
import { genericOptCheck } from "../check.ts";
import { fail } from "../fail.ts";

export interface ProtoHandler {
  readonly name: string;
  readonly protonum: number;
  /** Long options merged into the option table once `-p` names this protocol. */
  readonly options: readonly LongOption[];
  /**
   * Handles option `c` (the option value modulo 256, as C passes it through a
   * char) and returns the updated flag set. Absent for protocols without options.
   */
  parse?(c: number, arg: string, tmpl: CtTemplate, flags: number): number;
  finalCheck?(flags: number, cmd: number, ct: Conntrack): void;
  /** The lines printed after "Proto `x' help:". */
  readonly help: string;
}

/** A legality table: command bit index -> row digits; missing rows are all-illegal. */
export type LegalityTable = Readonly<Record<number, string>>;

// Command bit indexes used by the protocol tables.
export const LIST = 0, CREATE = 1, UPDATE = 2, DELETE = 3, GET = 4, FLUSH = 5, EVENT = 6;
export const EXP_CREATE = 10, EXP_DELETE = 11, EXP_GET = 12, ADD = 19;

/** Runs generic_opt_check for a protocol, with its own "you have to specify" texts. */
export function checkProtoOptions(
  flags: number,
  cmd: number,
  table: LegalityTable,
  width: number,
  names: readonly string[],
  pairs?: { groups: readonly number[]; orig: string; reply: string },
): void {
  const row = (table[cmd] ?? "").padEnd(width, "0").split("").map(Number);
  const res = genericOptCheck(flags, row, names, pairs?.groups);
  if (res.ok || !pairs) return;
  fail(PARAMETER_PROBLEM, `you have to specify ${res.partial === 1 ? pairs.reply : pairs.orig}`);
}

/** A protocol option that takes an argument; `val` is its option character or number. */
export function requiredOption(name: string, val: string | number): LongOption {
  return { name, hasArg: HasArg.Required, val: typeof val === "string" ? val.charCodeAt(0) : val };
}
