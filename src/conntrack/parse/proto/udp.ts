// -p udp and -p udplite: ports only.
import { IPPROTO_UDP, IPPROTO_UDPLITE } from "../../model.ts";
import { atoi, toUnsigned } from "../cnum.ts";
import { LongOption } from "../getopt.ts";
import * as H from "./handler.ts";
import { PORT_HELP, PORT_PAIR_MESSAGES, PortSlot, setPort } from "./ports.ts";

const opt = H.requiredOption;

const TABLE: H.LegalityTable = {
  [H.LIST]: "22220000",
  [H.CREATE]: "33330000",
  [H.UPDATE]: "22220000",
  [H.DELETE]: "22220000",
  [H.GET]: "33330000",
  [H.EVENT]: "22220000",
  [H.EXP_CREATE]: "11001111",
  [H.EXP_DELETE]: "11110000",
  [H.EXP_GET]: "11110000",
  [H.ADD]: "33330000",
};
const NAMES = [
  "sport",
  "dport",
  "reply-port-src",
  "reply-port-dst",
  "mask-port-src",
  "mask-port-dst",
  "tuple-port-src",
  "tuple-port-dst",
];

// Option '1'..'8' is slot 0..7 and flag bit 0..7.
function udpLike(name: string, protonum: number, options: LongOption[], width: number): H.ProtoHandler {
  return {
    name,
    protonum,
    options,
    parse(c, arg, tmpl, flags) {
      const slot = c - 0x31;
      if (slot < 0 || slot > 7) return flags;
      setPort(tmpl, slot as PortSlot, toUnsigned(atoi(arg), 16), protonum);
      return flags | (1 << slot);
    },
    finalCheck(flags, cmd) {
      H.checkProtoOptions(flags, cmd, TABLE, width, NAMES, { groups: [0b11, 0b1100], ...PORT_PAIR_MESSAGES });
    },
    help: PORT_HELP,
  };
}

export const udp = udpLike("udp", IPPROTO_UDP, [
  opt("orig-port-src", "1"),
  opt("sport", "1"),
  opt("orig-port-dst", "2"),
  opt("dport", "2"),
  opt("reply-port-src", "3"),
  opt("reply-port-dst", "4"),
  opt("mask-port-src", "5"),
  opt("mask-port-dst", "6"),
  opt("tuple-port-src", "7"),
  opt("tuple-port-dst", "8"),
], 9);

export const udplite = udpLike("udplite", IPPROTO_UDPLITE, [
  opt("orig-port-src", "1"),
  opt("orig-port-dst", "2"),
  opt("reply-port-src", "3"),
  opt("reply-port-dst", "4"),
  opt("mask-port-src", "5"),
  opt("mask-port-dst", "6"),
  opt("tuple-port-src", "7"),
  opt("tuple-port-dst", "8"),
  opt("sport", "1"),
  opt("dport", "2"),
], 11);
