// ctkit as a library: the ctnetlink socket, the conntrack model with its
// decoder/encoder and printers, and the three command-line tools' entry points.

export { NetlinkError, NetlinkSocket } from "./src/netlink/socket.ts";
export { MessageBuilder } from "./src/netlink/builder.ts";
export { Conntrack, Expect } from "./src/conntrack/model.ts";
export type { Counters, NatRange, Tuple } from "./src/conntrack/model.ts";
export { decodeConntrack, decodeExpect } from "./src/conntrack/decode.ts";
export { putConntrack, putExpect } from "./src/conntrack/encode.ts";
export { formatConntrack, formatExpect } from "./src/conntrack/format/text.ts";
export { formatSave } from "./src/conntrack/format/save.ts";
export { formatConntrackJson, formatExpectJson } from "./src/conntrack/format/json.ts";
export { LabelMap, loadLabelMap } from "./src/conntrack/labels.ts";
export { main as conntrack } from "./src/conntrack/main.ts";
export { main as conntrackd } from "./src/conntrackd/main.ts";
export { main as nfct } from "./src/nfct/main.ts";
