// -p sctp: ports, --state and the verification tags.
import { SCTP_STATES as ALL_SCTP_STATES } from "../../states.ts";
import { PARAMETER_PROBLEM } from "../../errors.ts";
import { IPPROTO_SCTP } from "../../model.ts";
import { atoi, toUnsigned } from "../cnum.ts";
import { fail } from "../fail.ts";
import * as H from "./handler.ts";
import { PORT_HELP, PORT_PAIR_MESSAGES, portHighByte, PortSlot, setPort } from "./ports.ts";

const opt = H.requiredOption;

/**
 * State names conntrack accepts. 1.4.7's table has two more (unnamed) slots, so
 * an unknown name makes it crash; we report it as an error instead.
 */
export const SCTP_STATES = ALL_SCTP_STATES.slice(0, 8);

const TABLE: H.LegalityTable = {
  [H.LIST]: "22220020000",
  [H.CREATE]: "33330010011",
  [H.UPDATE]: "22220020022",
  [H.DELETE]: "22220020000",
  [H.GET]: "33330020022",
  [H.EVENT]: "22220020000",
  [H.EXP_CREATE]: "11001101111",
  [H.EXP_DELETE]: "11110000000",
  [H.EXP_GET]: "11110000000",
  [H.ADD]: "33330010011",
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
  "orig-vtag",
  "reply-vtag",
];

// Option ids 1..6 and 8..9 are port slots; flag bit = id - 1.
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

export const sctp: H.ProtoHandler = {
  name: "sctp",
  protonum: IPPROTO_SCTP,
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
    opt("orig-vtag", 10),
    opt("reply-vtag", 11),
    opt("sport", 1),
    opt("dport", 2),
  ],
  parse(c, arg, tmpl, flags) {
    if (c === 7) {
      const state = SCTP_STATES.indexOf(arg);
      if (state < 0) fail(PARAMETER_PROBLEM, `unknown SCTP state \`${arg}'`);
      tmpl.ct.state = state;
    } else if (c === 10) {
      tmpl.ct.sctpVtagOrig = byteSwapped(toUnsigned(atoi(arg), 32));
    } else if (c === 11) {
      tmpl.ct.sctpVtagReply = byteSwapped(toUnsigned(atoi(arg), 32));
    } else if (SLOTS[c] !== undefined) {
      const port = toUnsigned(atoi(arg), 16);
      setPort(tmpl, SLOTS[c], port, IPPROTO_SCTP, portHighByte(port));
    } else {
      return flags;
    }
    return flags | (1 << (c - 1));
  },
  finalCheck(flags, cmd) {
    H.checkProtoOptions(flags, cmd, TABLE, 14, NAMES, { groups: [0b11, 0b1100], ...PORT_PAIR_MESSAGES });
  },
  help: PORT_HELP +
    "  --state\t\t\tSCTP state, fe. ESTABLISHED\n" +
    "  --orig-vtag\t\toriginal verification tag\n" +
    "  --reply-vtag\t\treply verification tag\n",
};

/**
 * 1.4.7 stores htonl(value) and libnetfilter_conntrack converts it again when
 * sending, so the kernel holds the byte-swapped tag; `-o save` swaps it back.
 * Kept so that tables and save/restore round trips match the reference.
 */
function byteSwapped(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}
