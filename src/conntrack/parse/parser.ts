// do_parse(): one conntrack command line (argv[0] = program name, byte
// strings) to a CtCommand, with 1.4.7's option handlers, checks and messages.
import * as C from "../command.ts";
import { CtCommand, CtTemplate, newCommand, Table } from "../command.ts";
import { OTHER_PROBLEM, PARAMETER_PROBLEM } from "../errors.ts";
import { setLabelBit } from "../labels.ts";
import { Conntrack, NatRange } from "../model.ts";
import * as A from "./address.ts";
import { fromBytes } from "./bytes.ts";
import { genericOptCheck } from "./check.ts";
import { atol, strtoul, toUnsigned } from "./cnum.ts";
import { fail } from "./fail.ts";
import { Getopt, LongOption, MISSING_ARG, UNKNOWN_OPT } from "./getopt.ts";
import { EVENT_KEYWORDS, OUTPUT_KEYWORDS, parseKeywords, parseStatusKeywords } from "./keywords.ts";
import { getprotobynumber } from "./protocols.ts";
import type { ProtoHandler } from "./proto/handler.ts";
import { findProto, unknown } from "./proto/registry.ts";
import type { ParseSession } from "./session.ts";
import {
  BASE_OPTIONS,
  COMMAND_BY_LETTER,
  COMMAND_OPTIONS,
  commandIndex,
  longName,
  OPTION_NAMES,
  OPTSTRING,
} from "./tables.ts";

/** Option bit for each option letter that has one (opt2type). */
const OPTION_BIT: Record<string, number> = {
  s: C.CT_OPT_ORIG_SRC,
  d: C.CT_OPT_ORIG_DST,
  r: C.CT_OPT_REPL_SRC,
  q: C.CT_OPT_REPL_DST,
  "{": C.CT_OPT_MASK_SRC,
  "}": C.CT_OPT_MASK_DST,
  "[": C.CT_OPT_EXP_SRC,
  "]": C.CT_OPT_EXP_DST,
  n: C.CT_OPT_SRC_NAT,
  g: C.CT_OPT_DST_NAT,
  m: C.CT_OPT_MARK,
  c: C.CT_OPT_SECMARK,
  i: C.CT_OPT_ID,
  j: C.CT_OPT_ANY_NAT,
  w: C.CT_OPT_ZONE,
  l: C.CT_OPT_LABEL,
  "<": C.CT_OPT_ADD_LABEL,
  ">": C.CT_OPT_DEL_LABEL,
  "(": C.CT_OPT_ORIG_ZONE,
  ")": C.CT_OPT_REPL_ZONE,
};

/** Address options whose /CIDR sets this mask option (opt2maskopt). */
const MASK_OPTION: Record<string, string> = { s: "{", d: "}", "[": "{", "]": "}" };

const ADDRESS_PAIRS = [C.CT_OPT_ORIG, C.CT_OPT_REPL];

export interface ParsedLine {
  cmd: CtCommand;
  /** The `-h -p x` block ("Proto `x' help:" + options), for CT_HELP with -p. */
  protoHelp?: string;
}

export function doParse(session: ParseSession, argv: string[]): ParsedLine {
  return new LineParser(session, argv).run();
}

class LineParser {
  private readonly cmd = newCommand();
  private readonly tmpl: CtTemplate = this.cmd.tmpl;
  private readonly getopt: Getopt;
  private longopts: LongOption[] = [...BASE_OPTIONS];
  private optionOffset = 0;
  private readonly handlerOffset = new Map<ProtoHandler, number>();
  private options = 0;
  private command = 0;
  private type: Table = Table.Conntrack;
  private family = A.AF_UNSPEC;
  private protonum = 0;
  private l4flags = 0;
  private status = 0;
  private readonly statusFilter = { value: 0, mask: 0 };

  constructor(private readonly session: ParseSession, private readonly argv: string[]) {
    this.getopt = new Getopt(argv, OPTSTRING, session.posixlyCorrect);
  }

  run(): ParsedLine {
    for (;;) {
      const c = this.getopt.next(this.longopts);
      if (c === -1) break;
      this.handle(c);
    }
    this.finish();
    const cmd = this.cmd;
    let protoHelp: string | undefined;
    const h = this.session.handler;
    if ((cmd.command & C.CT_HELP) && (cmd.options & C.CT_OPT_PROTO) && h) {
      protoHelp = protoHelpBlock(h, cmd.protonum);
    }
    return { cmd, protoHelp };
  }

  private get arg(): string {
    return this.getopt.optarg ?? "";
  }

  /** get_optional_arg(): the next word, unless a value was attached or it looks like an option. */
  private optionalArg(): string | undefined {
    const g = this.getopt;
    if (g.optarg !== undefined) return undefined;
    const next = this.argv[g.optind];
    if (g.optind < this.argv.length && next[0] !== "-" && next[0] !== "!") {
      g.optind++;
      return next;
    }
    return undefined;
  }

  private handle(c: number): void {
    const letter = c < 256 ? String.fromCharCode(c) : "";
    if (letter in COMMAND_BY_LETTER) return this.commandOption(letter);
    const t = this.tmpl;
    switch (letter) {
      case "s":
      case "d":
      case "r":
      case "q":
        return this.addressOption(letter, this.arg, t.ct, t.mask);
      case "[":
      case "]":
        return this.addressOption(letter, this.arg, t.exptuple, t.mask);
      case "{":
      case "}":
        return this.addressOption(letter, this.arg, t.mask, undefined);
      case "p":
        return this.protocolOption();
      case "t": {
        this.options |= C.CT_OPT_TIMEOUT;
        const timeout = toUnsigned(atol(this.arg), 32);
        t.ct.timeout = timeout;
        t.exp.timeout = timeout;
        return;
      }
      case "u":
        return this.statusOption();
      case "e":
        this.options |= C.CT_OPT_EVENT_MASK;
        this.cmd.eventMask = parseKeywords(
          this.arg,
          EVENT_KEYWORDS,
          this.cmd.eventMask,
          this.session.warnings,
        );
        return;
      case "o":
        return this.outputOption();
      case "z":
        this.options |= C.CT_OPT_ZERO;
        return;
      case "n":
      case "g":
      case "j":
        return this.natOption(letter);
      case "w":
      case "(":
      case ")": {
        this.options |= OPTION_BIT[letter];
        const zone = toUnsigned(strtoul(this.arg, 0).value, 16);
        if (letter === "w") t.ct.zone = zone;
        else if (letter === "(") t.ct.orig.zone = zone;
        else t.ct.reply.zone = zone;
        return;
      }
      case "i":
      case "c": {
        this.options |= OPTION_BIT[letter];
        // 1.4.7 dereferences the missing value of a bare --id and crashes.
        if (this.getopt.optarg === undefined) fail(PARAMETER_PROBLEM, "option `--id' requires an argument");
        const v = toUnsigned(strtoul(this.arg, 0).value, 32);
        if (letter === "i") t.ct.id = v;
        else t.ct.secmark = v;
        return;
      }
      case "m":
        return this.markOption();
      case "l":
      case "<":
      case ">":
        return this.labelOption(letter);
      case "a":
        this.session.warnings.push("WARNING: ignoring -a, deprecated option.");
        return;
      case "f":
        this.options |= C.CT_OPT_FAMILY;
        if (this.arg.startsWith("ipv4")) this.setFamily(A.AF_INET);
        else if (this.arg.startsWith("ipv6")) this.setFamily(A.AF_INET6);
        else fail(PARAMETER_PROBLEM, `\`${this.arg}' unsupported protocol`);
        return;
      case "b":
        this.cmd.socketBufferSize = toUnsigned(atol(this.arg), 64);
        this.options |= C.CT_OPT_BUFFERSIZE;
        return;
    }
    if (c === MISSING_ARG) {
      fail(PARAMETER_PROBLEM, `option \`${this.argv[this.getopt.optind - 1]}' requires an argument`);
    }
    if (c === UNKNOWN_OPT) fail(PARAMETER_PROBLEM, `unknown option \`${this.argv[this.getopt.optind - 1]}'`);
    this.protocolSpecific(c);
  }

  private commandOption(letter: string): void {
    this.type = this.checkType();
    const dyingOrUnconfirmed = this.type === Table.Dying || this.type === Table.Unconfirmed;
    const [ctCommand, expCommand] = COMMAND_BY_LETTER[letter];
    if (letter === "L") {
      // Dying and unconfirmed lists are dumped like the conntrack table.
      return this.addCommand(dyingOrUnconfirmed || this.type === Table.Conntrack ? ctCommand : expCommand);
    }
    if (dyingOrUnconfirmed) {
      fail(PARAMETER_PROBLEM, "Can't do that command with tables `dying' and `unconfirmed'");
    }
    const command = this.type === Table.Conntrack ? ctCommand : expCommand;
    if (!command) {
      const where = this.type === Table.Conntrack ? "conntrack" : "expectations";
      fail(PARAMETER_PROBLEM, `Can't do --${longName(this.longopts, letter.charCodeAt(0))} on ${where}`);
    }
    this.addCommand(command);
  }

  /** check_type(): the table word (a prefix of a table name) after a command. */
  private checkType(): Table {
    const table = this.optionalArg();
    if (table === undefined) return Table.Conntrack;
    const names: [string, Table][] = [
      ["expect", Table.Expect],
      ["conntrack", Table.Conntrack],
      ["dying", Table.Dying],
      ["unconfirmed", Table.Unconfirmed],
    ];
    for (const [name, t] of names) if (name.startsWith(table)) return t;
    fail(PARAMETER_PROBLEM, `unknown type \`${table}'`);
  }

  private addCommand(command: number): void {
    if (this.command) fail(PARAMETER_PROBLEM, "Invalid commands combination");
    this.command |= command;
  }

  private setFamily(family: number): void {
    if (this.family === A.AF_UNSPEC) this.family = family;
    else if (this.family !== family) fail(PARAMETER_PROBLEM, "mismatched address family");
  }

  /** nfct_parse_addr_from_opt(): an address option, and its /CIDR mask into `maskCt`. */
  private addressOption(letter: string, text: string, ct: Conntrack, maskCt: Conntrack | undefined): void {
    const addr = A.parseAddr(text);
    if (addr.family === A.AF_UNSPEC) fail(PARAMETER_PROBLEM, `Invalid IP address \`${text}'`);
    this.setFamily(addr.family);
    const maskLetter = MASK_OPTION[letter];
    if (addr.mask !== A.NO_MASK && !maskLetter) {
      const name = longName(this.longopts, letter.charCodeAt(0));
      fail(PARAMETER_PROBLEM, `CIDR notation unavailable for \`--${name}'`);
    } else if (addr.mask === A.BAD_MASK) {
      fail(PARAMETER_PROBLEM, "Invalid netmask");
    }
    this.setAddressAttr(letter, ct, A.addrText(addr), addr.family);
    if (addr.mask === A.NO_MASK || !maskLetter || !maskCt) return;
    const full = addr.family === A.AF_INET ? 32 : 128;
    if (addr.mask === full) return;
    this.setAddressAttr(maskLetter, maskCt, A.netmaskText(addr.family, addr.mask), addr.family);
  }

  /** nfct_set_addr_opt(): the option bit, the address attribute and its tuple's family. */
  private setAddressAttr(letter: string, ct: Conntrack, text: string, family: number): void {
    this.options |= OPTION_BIT[letter];
    switch (letter) {
      case "s":
      case "{":
      case "[":
        ct.orig.src = text;
        ct.orig.l3 = family;
        return;
      case "d":
      case "}":
      case "]":
        ct.orig.dst = text;
        ct.orig.l3 = family;
        return;
      case "r":
        ct.reply.src = text;
        ct.reply.l3 = family;
        return;
      case "q":
        ct.reply.dst = text;
        ct.reply.l3 = family;
        return;
      case "n":
        setNat(ct, "snat", { addr: text });
        ct.orig.l3 = family;
        return;
      case "g":
        setNat(ct, "dnat", { addr: text });
        ct.orig.l3 = family;
        return;
      case "j":
        // 1.4.7 has no attribute for -j here and writes the family byte plus stack
        // garbage into the original source, so its filters rarely match anything.
        // ctkit sets only the family (docs/COMPAT.md); the NAT details follow.
        ct.orig.l3 = family;
        return;
    }
  }

  private protocolOption(): void {
    this.options |= C.CT_OPT_PROTO;
    const found = findProto(this.arg);
    if (!found) fail(PARAMETER_PROBLEM, `\`${this.arg}' unsupported protocol`);
    const h = found.handler;
    this.session.handler = h;
    this.protonum = found.protonum;
    // Each -p appends the protocol's options, numbered past all earlier ones.
    this.optionOffset += 256;
    this.handlerOffset.set(h, this.optionOffset);
    const offset = this.optionOffset;
    this.longopts = [...this.longopts, ...h.options.map((o) => ({ ...o, val: o.val + offset }))];
    this.tmpl.ct.orig.proto = found.protonum;
  }

  private protocolSpecific(c: number): void {
    const h = this.session.handler;
    if (!h?.parse) return;
    // C hands the option to the current handler through a char: only the low byte counts.
    const local = (c - (this.handlerOffset.get(h) ?? 0)) & 0xff;
    this.l4flags = h.parse(local, this.arg, this.tmpl, this.l4flags);
  }

  private statusOption(): void {
    this.options |= C.CT_OPT_STATUS;
    const st = { value: this.status, mask: this.statusFilter.mask };
    parseStatusKeywords(this.arg, st, this.session.warnings);
    this.status = st.value;
    this.statusFilter.mask = st.mask;
    this.tmpl.ct.status = this.status;
    if (this.statusFilter.mask === 0) this.statusFilter.mask = this.status;
    // 1.4.7 also overwrites the -m value with the status bits.
    this.tmpl.mark.value = this.status;
    this.statusFilter.value = this.status;
    this.tmpl.filterStatusKernel = { ...this.statusFilter };
  }

  private outputOption(): void {
    this.options |= C.CT_OPT_OUTPUT;
    const s = this.session;
    s.outputMask = parseKeywords(this.arg, OUTPUT_KEYWORDS, s.outputMask, s.warnings);
    if (s.outputMask & C.O_CL) s.initLabelMap();
    const others = C.O_EXT | C.O_TMS | C.O_ID | C.O_KTMS | C.O_CL | C.O_XML;
    if ((s.outputMask & C.O_SAVE) && (s.outputMask & (others | C.O_JSON))) {
      fail(OTHER_PROBLEM, "cannot combine save output with any other output type, use -o save only");
    }
    if ((s.outputMask & C.O_JSON) && (s.outputMask & others)) {
      fail(OTHER_PROBLEM, "cannot combine json output with any other output type, use -o json only");
    }
  }

  private natOption(letter: string): void {
    this.options |= OPTION_BIT[letter];
    const value = this.optionalArg();
    if (value === undefined) return;
    const { address, port } = A.splitAddressAndPort(value);
    const ct = this.tmpl.ct;
    this.addressOption(letter, address, ct, undefined);
    const text = A.addrText(A.parseAddr(address));
    // splitAddressAndPort() only lets through digits up to 65535.
    const portNum = port === undefined ? undefined : Number(port);
    // --any-nat sets both directions.
    if (letter !== "n") setNat(ct, "dnat", { addr: text, port: portNum });
    if (letter !== "g") setNat(ct, "snat", { addr: text, port: portNum });
  }

  private markOption(): void {
    this.options |= C.CT_OPT_MARK;
    const { value, end } = strtoul(this.arg, 0);
    const mark = toUnsigned(value, 32);
    const mask = this.arg[end] === "/"
      ? toUnsigned(strtoul(this.arg.slice(end + 1), 0).value, 32)
      : 0xffffffff;
    this.tmpl.mark = { value: mark, mask };
    this.tmpl.filterMarkKernel = { value: mark, mask };
  }

  private labelOption(letter: string): void {
    this.options |= OPTION_BIT[letter];
    this.session.initLabelMap();
    const both = C.CT_OPT_DEL_LABEL | C.CT_OPT_ADD_LABEL;
    if ((this.options & both) === both) {
      fail(OTHER_PROBLEM, "cannot use --label-add and --label-del at the same time");
    }
    let names = this.arg;
    if (letter === ">") {
      const value = this.optionalArg();
      // No names: delete all labels (the bitmap stays unset, as in C).
      if (value === undefined) return;
      names = value;
    }
    const bits = names.split(",").map((name) => {
      const bit = this.session.labelMap?.bitOf(name) ?? -1;
      if (bit < 0) fail(PARAMETER_PROBLEM, `unknown label '${name}'`);
      return bit;
    });
    const max = Math.max(0, ...bits);
    const bitmap = new Uint8Array(((max >> 5) + 1) * 4);
    for (const bit of bits) setLabelBit(bitmap, bit);
    if (letter === "l") this.tmpl.label = mergeBitmaps(this.tmpl.label, bitmap);
    else this.tmpl.labelModify = mergeBitmaps(this.tmpl.labelModify, bitmap);
  }

  private finish(): void {
    const command = this.command;
    const defaultsToInet = ![C.CT_LIST, C.CT_UPDATE, C.CT_DELETE, C.CT_GET, C.CT_FLUSH, C.CT_EVENT].includes(
      command,
    );
    if (this.family === A.AF_UNSPEC && defaultsToInet) this.family = A.AF_INET;
    if ((this.options & C.CT_OPT_ANY_NAT) && (this.options & (C.CT_OPT_SRC_NAT | C.CT_OPT_DST_NAT))) {
      fail(PARAMETER_PROBLEM, "cannot specify `--src-nat' or `--dst-nat' with `--any-nat'");
    }
    const index = commandIndex(command);
    const res = genericOptCheck(this.options, COMMAND_OPTIONS[index], OPTION_NAMES, ADDRESS_PAIRS);
    if (!res.ok) {
      const which = res.partial === 1 ? "`--reply-src' and `--reply-dst'" : "`--src' and `--dst'";
      fail(PARAMETER_PROBLEM, `you have to specify ${which}`);
    }
    const h = this.session.handler;
    if (!(command & C.CT_HELP) && h?.finalCheck) h.finalCheck(this.l4flags, index, this.tmpl.ct);

    const cmd = this.cmd;
    cmd.command = command;
    cmd.options = this.options;
    cmd.family = this.family;
    cmd.type = this.type;
    cmd.protonum = this.protonum;
    cmd.output = this.session.outputMask;
  }
}

function setNat(ct: Conntrack, which: "snat" | "dnat", range: NatRange): void {
  const cur = ct[which] ?? {};
  ct[which] = { addr: range.addr ?? cur.addr, port: range.port ?? cur.port };
}

/** merge_bitmasks(): OR into the larger of the two. */
function mergeBitmaps(current: Uint8Array | undefined, add: Uint8Array): Uint8Array {
  if (!current) return add;
  const [big, small] = current.length >= add.length ? [current, add] : [add, current];
  for (let i = 0; i < small.length; i++) big[i] |= small[i];
  return big;
}

/** extension_help(): generic protocols are named after protocols(5) when known. */
export function protoHelpBlock(h: ProtoHandler, protonum: number): string {
  const name = h === unknown ? (getprotobynumber(protonum)?.name ?? h.name) : h.name;
  return `Proto \`${fromBytes(name)}' help:\n${h.help}`;
}
