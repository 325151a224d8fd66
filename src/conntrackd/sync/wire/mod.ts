// The conntrackd sync wire format (conntrackd 1.4.7, protocol version 1):
// pure encode/decode, no sockets and no sync-mode state.
export * from "./header.ts";
export { encodeControl } from "./control.ts";
export { CT_MSG_MAX, type CtEncodeOptions, decodeCtPayload, encodeCt } from "./ct_codec.ts";
export { decodeExpPayload, encodeExp, type ExpEncodeOptions } from "./exp_codec.ts";
export { decodeMessages, type NetworkStats, newNetworkStats, type SyncVisitor } from "./validate.ts";
