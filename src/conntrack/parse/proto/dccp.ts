// -p dccp: ports, --state and --role.
import { DCCP_STATES } from "../../states.ts";
import { PARAMETER_PROBLEM } from "../../errors.ts";
import { IPPROTO_DCCP } from "../../model.ts";
import { asciiLower } from "../bytes.ts";
import { atoi, toUnsigned } from "../cnum.ts";
import { fail } from "../fail.ts";
import * as H from "./handler.ts";
import { PORT_HELP, portHighByte, PortSlot, setPort } from "./ports.ts";

const opt = H.requiredOption;

export const DCCP_ROLE_CLIENT = 0, DCCP_ROLE_SERVER = 1;

const TABLE: H.LegalityTable = {
  [H.LIST]: "2222002000",
  [H.CREATE]: "3333001001",
  [H.UPDATE]: "2222002000",
  [H.DELETE]: "2222002000",
  [H.GET]: "3333002000",
  [H.EVENT]: "2222002000",
  [H.EXP_CREATE]: "1100110111",
  [H.EXP_DELETE]: "1111000000",
  [H.EXP_GET]: "1111000000",
  [H.ADD]: "3333001001",
};
const NAMES = [
  "sport",
  "dport",
  "reply-port-src",
  "reply-port-dst",
  "mask-port-src",
  "mask-port-dst",
  "state",
  "tuple-port-src",
  "tuple-port-dst",
  "role",
];

const SLOTS: Record<number, PortSlot> = {
  1: PortSlot.OrigSrc,
  2: PortSlot.OrigDst,
  3: PortSlot.ReplySrc,
  4: PortSlot.ReplyDst,
  5: PortSlot.MaskSrc,
  6: PortSlot.MaskDst,
  8: PortSlot.TupleSrc,
  9: PortSlot.TupleDst,
};

/** strncasecmp(arg, word, strlen(arg)) == 0: arg is a case-insensitive prefix (even ""). */
function isPrefixOf(arg: string, word: string): boolean {
  return arg.length <= word.length && asciiLower(word.slice(0, arg.length)) === asciiLower(arg);
}

export const dccp: H.ProtoHandler = {
  name: "dccp",
  protonum: IPPROTO_DCCP,
  options: [
    opt("orig-port-src", 1),
    opt("orig-port-dst", 2),
    opt("reply-port-src", 3),
    opt("reply-port-dst", 4),
    opt("mask-port-src", 5),
    opt("mask-port-dst", 6),
    opt("state", 7),
    opt("tuple-port-src", 8),
    opt("tuple-port-dst", 9),
    opt("sport", 1),
    opt("dport", 2),
    opt("role", 10),
  ],
  parse(c, arg, tmpl, flags) {
    if (c === 7) {
      const state = DCCP_STATES.indexOf(arg);
      if (state < 0) fail(PARAMETER_PROBLEM, `Unknown DCCP state \`${arg}'`);
      tmpl.ct.state = state;
    } else if (c === 10) {
      if (isPrefixOf(arg, "client")) tmpl.ct.dccpRole = DCCP_ROLE_CLIENT;
      else if (isPrefixOf(arg, "server")) tmpl.ct.dccpRole = DCCP_ROLE_SERVER;
      else fail(PARAMETER_PROBLEM, `Unknown DCCP role \`${arg}'`);
    } else if (SLOTS[c] !== undefined) {
      const port = toUnsigned(atoi(arg), 16);
      setPort(tmpl, SLOTS[c], port, IPPROTO_DCCP, portHighByte(port));
    } else {
      return flags;
    }
    return flags | (1 << (c - 1));
  },
  finalCheck(flags, cmd) {
    H.checkProtoOptions(flags, cmd, TABLE, 13, NAMES, {
      groups: [0b11, 0b1100],
      orig: "`--sport' and `--dport'",
      reply: "`--reply-port-src' and `--report-port-dst'",
    });
  },
  help: PORT_HELP + "  --state\t\t\tDCCP state, fe. RESPOND\n",
};
