// Protocols without an extension (-p 2, -p igmp…): no options; the reply
// tuple inherits the L4 protocol when a reply address was given.
import type { ProtoHandler } from "./handler.ts";

export const unknown: ProtoHandler = {
  name: "unknown",
  protonum: 0,
  options: [],
  finalCheck(_flags, _cmd, ct) {
    if (ct.reply.l3 !== 0 && ct.orig.proto !== undefined && ct.reply.proto === undefined) {
      ct.reply.proto = ct.orig.proto;
    }
  },
  help: "  no options (unsupported)\n",
};
