// -p icmp and -p icmpv6: type, code and id of the original tuple.
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from "../../model.ts";
import { atoi, toUnsigned } from "../cnum.ts";
import { HasArg } from "../getopt.ts";
import * as H from "./handler.ts";

const TABLE: H.LegalityTable = {
  [H.LIST]: "222",
  [H.CREATE]: "112",
  [H.UPDATE]: "222",
  [H.DELETE]: "222",
  [H.GET]: "112",
  [H.EVENT]: "222",
  [H.ADD]: "112",
};

function icmpLike(name: string, protonum: number, prefix: string, what: string): H.ProtoHandler {
  const names = [`${prefix}-type`, `${prefix}-code`, `${prefix}-id`];
  return {
    name,
    protonum,
    options: names.map((n, i) => ({ name: n, hasArg: HasArg.Required, val: 0x31 + i })),
    parse(c, arg, tmpl, flags) {
      const ct = tmpl.ct;
      if (c === 0x31) ct.orig.icmpType = toUnsigned(atoi(arg), 8);
      else if (c === 0x32) ct.orig.icmpCode = toUnsigned(atoi(arg), 8);
      else if (c === 0x33) ct.orig.icmpId = toUnsigned(atoi(arg), 16);
      else return flags;
      ct.orig.proto = protonum;
      // The reply tuple's protocol follows once a reply address was given.
      if (ct.reply.l3 !== 0) ct.reply.proto = protonum;
      return flags | (1 << (c - 0x31));
    },
    finalCheck(flags, cmd) {
      H.checkProtoOptions(flags, cmd, TABLE, 4, names);
    },
    help: `  --${prefix}-type\t\t\t${what} type\n` +
      `  --${prefix}-code\t\t\t${what} code\n` +
      `  --${prefix}-id\t\t\t${what} id\n`,
  };
}

export const icmp = icmpLike("icmp", IPPROTO_ICMP, "icmp", "icmp");
export const icmpv6 = icmpLike("icmpv6", IPPROTO_ICMPV6, "icmpv6", "icmpv6");
