// conntrack 1.4.7's static parser tables: long options, option names, the
// command/option legality matrix and the command letter -> command mapping.
import * as C from "../command.ts";
import { HasArg, LongOption } from "./getopt.ts";

const ch = (c: string) => c.charCodeAt(0);

/** getopt string: commands take an optional attached table, -n/-g/-j/--label-del optional values. */
export const OPTSTRING = ":L::I::U::D::G::E::F::A::hVs:d:r:q:p:t:u:e:a:z[:]:{:}:m:i:f:o:n::" +
  "g::c:b:C::Sj::w:l:<:>::(:):";

const opt = (name: string, hasArg: HasArg, c: string): LongOption => ({ name, hasArg, val: ch(c) });

export const BASE_OPTIONS: readonly LongOption[] = [
  opt("dump", HasArg.Optional, "L"),
  opt("create", HasArg.Optional, "I"),
  opt("add", HasArg.Optional, "A"),
  opt("delete", HasArg.Optional, "D"),
  opt("update", HasArg.Optional, "U"),
  opt("get", HasArg.Optional, "G"),
  opt("flush", HasArg.Optional, "F"),
  opt("event", HasArg.Optional, "E"),
  opt("counter", HasArg.Optional, "C"),
  opt("stats", HasArg.No, "S"),
  opt("version", HasArg.No, "V"),
  opt("help", HasArg.No, "h"),
  opt("orig-src", HasArg.Required, "s"),
  opt("src", HasArg.Required, "s"),
  opt("orig-dst", HasArg.Required, "d"),
  opt("dst", HasArg.Required, "d"),
  opt("reply-src", HasArg.Required, "r"),
  opt("reply-dst", HasArg.Required, "q"),
  opt("protonum", HasArg.Required, "p"),
  opt("timeout", HasArg.Required, "t"),
  opt("status", HasArg.Required, "u"),
  opt("zero", HasArg.No, "z"),
  opt("event-mask", HasArg.Required, "e"),
  opt("tuple-src", HasArg.Required, "["),
  opt("tuple-dst", HasArg.Required, "]"),
  opt("mask-src", HasArg.Required, "{"),
  opt("mask-dst", HasArg.Required, "}"),
  opt("nat-range", HasArg.Required, "a"),
  opt("mark", HasArg.Required, "m"),
  opt("secmark", HasArg.Required, "c"),
  // 1.4.7 declares --id's value optional (so `--id 5` leaves it unset).
  opt("id", HasArg.Optional, "i"),
  opt("family", HasArg.Required, "f"),
  opt("src-nat", HasArg.Optional, "n"),
  opt("dst-nat", HasArg.Optional, "g"),
  opt("output", HasArg.Required, "o"),
  opt("buffer-size", HasArg.Required, "b"),
  opt("any-nat", HasArg.Optional, "j"),
  opt("zone", HasArg.Required, "w"),
  opt("label", HasArg.Required, "l"),
  opt("label-add", HasArg.Required, "<"),
  opt("label-del", HasArg.Optional, ">"),
  opt("orig-zone", HasArg.Required, "("),
  opt("reply-zone", HasArg.Required, ")"),
];

/** Option names by CT_OPT_* bit, as the legality errors print them. */
export const OPTION_NAMES: readonly string[] = [
  "src",
  "dst",
  "reply-src",
  "reply-dst",
  "protonum",
  "timeout",
  "status",
  "zero",
  "event-mask",
  "tuple-src",
  "tuple-dst",
  "mask-src",
  "mask-dst",
  "nat-range",
  "mark",
  "id",
  "family",
  "src-nat",
  "dst-nat",
  "output",
  "secmark",
  "buffer-size",
  "any-nat",
  "zone",
  "label",
  "label-add",
  "label-del",
  "orig-zone",
  "reply-zone",
];

export const NUMBER_OF_CMD = 20;

// Columns: s d r q p t u z e [ ] { } a m i f n g o c b j w l < > ( )
// (0 illegal, 1 required, 2 optional, 3 paired).
const row = (s: string) => s.split("").map(Number);
/** commands_v_options, indexed by command bit. */
export const COMMAND_OPTIONS: readonly (readonly number[])[] = [
  row("22222022000220202222202220022"), // CT_LIST
  row("33331120000002200220000202022"), // CT_CREATE
  row("22222220000220222222000022200"), // CT_UPDATE
  row("22222220000220222222000220022"), // CT_DELETE
  row("33331000000000020002000020000"), // CT_GET
  row("00000000000000002000000000000"), // CT_FLUSH
  row("22222000200220202222222220022"), // CT_EVENT
  row("00000000000000000000000000000"), // CT_VERSION
  row("00002000000000000000000000000"), // CT_HELP
  row("00000000000000002002000000000"), // EXP_LIST
  row("11221120011110000000000000000"), // EXP_CREATE
  row("11221000000000000000000000000"), // EXP_DELETE
  row("11221000000000000000000000000"), // EXP_GET
  row("00000000000000000000000000000"), // EXP_FLUSH
  row("00000000000000000002000000000"), // EXP_EVENT
  row("00000000000000000000000000000"), // CT_COUNT
  row("00000000000000000000000000000"), // EXP_COUNT
  row("00000000000000000000000000000"), // CT_STATS
  row("00000000000000000000000000000"), // EXP_STATS
  row("33331120000002200220000202022"), // CT_ADD
  // No command: 1.4.7 reads one row past the table; on the installed binary
  // that row allows only --reply-zone.
  row("00000000000000000000000000002"),
];

/** Commands for a command letter: [conntrack table, expect table] (0 = unsupported). */
export const COMMAND_BY_LETTER: Record<string, readonly [number, number]> = {
  L: [C.CT_LIST, C.EXP_LIST],
  I: [C.CT_CREATE, C.EXP_CREATE],
  D: [C.CT_DELETE, C.EXP_DELETE],
  G: [C.CT_GET, C.EXP_GET],
  F: [C.CT_FLUSH, C.EXP_FLUSH],
  E: [C.CT_EVENT, C.EXP_EVENT],
  V: [C.CT_VERSION, C.CT_VERSION],
  h: [C.CT_HELP, C.CT_HELP],
  C: [C.CT_COUNT, C.EXP_COUNT],
  S: [C.CT_STATS, C.EXP_STATS],
  U: [C.CT_UPDATE, 0],
  A: [C.CT_ADD, 0],
};

/** Index of the lowest command bit (NUMBER_OF_CMD when none), as bit2cmd(). */
export function commandIndex(command: number): number {
  for (let i = 0; i < NUMBER_OF_CMD; i++) if (command & (1 << i)) return i;
  return NUMBER_OF_CMD;
}

/** The first long option name returning `val` (get_long_opt), or "unknown". */
export function longName(options: readonly LongOption[], val: number): string {
  return options.find((o) => o.val === val)?.name ?? "unknown";
}
