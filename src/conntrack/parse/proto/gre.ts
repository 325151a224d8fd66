// -p gre: 16-bit keys (any base), carried in the port slots.
import { IPPROTO_GRE } from "../../model.ts";
import { strtoul, toUnsigned } from "../cnum.ts";
import * as H from "./handler.ts";
import { PortSlot, setPort } from "./ports.ts";

const opt = H.requiredOption;

const TABLE: H.LegalityTable = {
  [H.LIST]: "22220000",
  [H.CREATE]: "33330000",
  [H.UPDATE]: "22220000",
  [H.DELETE]: "22220000",
  [H.GET]: "33330000",
  [H.EVENT]: "22220000",
  [H.EXP_CREATE]: "11111111",
  [H.EXP_DELETE]: "11110000",
  [H.EXP_GET]: "11110000",
  [H.ADD]: "33330000",
};
const NAMES = [
  "srckey",
  "dstkey",
  "reply-key-src",
  "reply-key-dst",
  "mask-key-src",
  "mask-key-dst",
  "tuple-key-src",
  "tuple-key-dst",
];

export const gre: H.ProtoHandler = {
  name: "gre",
  protonum: IPPROTO_GRE,
  options: [
    opt("orig-key-src", "1"),
    opt("srckey", "1"),
    opt("orig-key-dst", "2"),
    opt("dstkey", "2"),
    opt("reply-key-src", "3"),
    opt("reply-key-dst", "4"),
    opt("mask-key-src", "5"),
    opt("mask-key-dst", "6"),
    opt("tuple-key-src", "7"),
    opt("tuple-key-dst", "8"),
  ],
  // Option '1'..'8' is slot 0..7 and flag bit 0..7.
  parse(c, arg, tmpl, flags) {
    const slot = c - 0x31;
    if (slot < 0 || slot > 7) return flags;
    setPort(tmpl, slot as PortSlot, toUnsigned(strtoul(arg, 0).value, 16), IPPROTO_GRE);
    return flags | (1 << slot);
  },
  finalCheck(flags, cmd) {
    H.checkProtoOptions(flags, cmd, TABLE, 11, NAMES, {
      groups: [0b11, 0b1100],
      orig: "`--srckey' and `--dstkey'",
      reply: "`--reply-src-key' and `--reply-dst-key'",
    });
  },
  help: "  --orig-key-src\t\toriginal source key\n" +
    "  --orig-key-dst\t\toriginal destination key\n" +
    "  --reply-key-src\t\treply source key\n" +
    "  --reply-key-dst\t\treply destination key\n" +
    "  --mask-key-src\t\tmask source key\n" +
    "  --mask-key-dst\t\tmask destination key\n" +
    "  --tuple-key-src\t\texpectation tuple src key\n" +
    "  --tuple-key-src\t\texpectation tuple dst key\n",
};
