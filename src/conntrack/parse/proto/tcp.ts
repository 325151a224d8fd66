// -p tcp: ports, --state, and the liberal window-tracking flags every TCP
// template gets in the final check.
import { TCP_STATES } from "../../states.ts";
import { PARAMETER_PROBLEM } from "../../errors.ts";
import { IPPROTO_TCP } from "../../model.ts";
import { atoi, toUnsigned } from "../cnum.ts";
import { fail } from "../fail.ts";
import * as H from "./handler.ts";
import { PORT_HELP, PORT_PAIR_MESSAGES, portHighByte, PortSlot, setPort } from "./ports.ts";

const opt = H.requiredOption;

const TCP_STATE_LISTEN = 9;

const STATE_FLAG = 1 << 6;
const TIME_WAIT = 7;
const FLAG_SACK_PERM = 0x02, FLAG_CLOSE_INIT = 0x04, FLAG_BE_LIBERAL = 0x08;

const TABLE: H.LegalityTable = {
  [H.LIST]: "222200200",
  [H.CREATE]: "333300100",
  [H.UPDATE]: "222200200",
  [H.DELETE]: "222200200",
  [H.GET]: "333300200",
  [H.EVENT]: "222200200",
  [H.EXP_CREATE]: "110011011",
  [H.EXP_DELETE]: "111100000",
  [H.EXP_GET]: "111100000",
  [H.ADD]: "333300100",
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
];

const SLOTS: Record<string, PortSlot> = {
  "1": PortSlot.OrigSrc,
  "2": PortSlot.OrigDst,
  "3": PortSlot.ReplySrc,
  "4": PortSlot.ReplyDst,
  "5": PortSlot.MaskSrc,
  "6": PortSlot.MaskDst,
  "8": PortSlot.TupleSrc,
  "9": PortSlot.TupleDst,
};

export const tcp: H.ProtoHandler = {
  name: "tcp",
  protonum: IPPROTO_TCP,
  options: [
    opt("orig-port-src", "1"),
    opt("sport", "1"),
    opt("orig-port-dst", "2"),
    opt("dport", "2"),
    opt("reply-port-src", "3"),
    opt("reply-port-dst", "4"),
    opt("mask-port-src", "5"),
    opt("mask-port-dst", "6"),
    opt("state", "7"),
    opt("tuple-port-src", "8"),
    opt("tuple-port-dst", "9"),
  ],
  parse(c, arg, tmpl, flags) {
    const key = String.fromCharCode(c);
    if (key === "7") {
      const state = TCP_STATES.indexOf(arg);
      if (state >= 0) tmpl.ct.state = state;
      // "LISTEN" is the pre-2.6.31 name of SYN_SENT2.
      if (arg === "LISTEN") tmpl.ct.state = TCP_STATE_LISTEN;
      else if (state < 0) fail(PARAMETER_PROBLEM, `unknown TCP state \`${arg}'`);
      return flags | STATE_FLAG;
    }
    const slot = SLOTS[key];
    if (slot === undefined) return flags;
    const port = toUnsigned(atoi(arg), 16);
    setPort(tmpl, slot, port, IPPROTO_TCP, portHighByte(port));
    // Option '1'..'9' sets flag bit 0..8.
    return flags | (1 << (c - 0x31));
  },
  finalCheck(flags, cmd, ct) {
    H.checkProtoOptions(flags, cmd, TABLE, 10, NAMES, { groups: [0b11, 0b1100], ...PORT_PAIR_MESSAGES });
    let f = FLAG_BE_LIBERAL | FLAG_SACK_PERM;
    // Lets a TIME_WAIT entry be reopened (RFC 1122).
    if ((ct.state ?? 0) >= TIME_WAIT) f |= FLAG_CLOSE_INIT;
    ct.tcpFlagsOrig = f;
    ct.tcpMaskOrig = f;
    ct.tcpFlagsReply = f;
    ct.tcpMaskReply = f;
  },
  help: PORT_HELP + "  --state\t\t\tTCP state, fe. ESTABLISHED\n",
};
