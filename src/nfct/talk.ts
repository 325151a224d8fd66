// One request/response exchange, like the reference's nfct_mnl_talk(): send,
// hand every reply message to the callback, stop at the ACK or end of dump.
import { NetlinkError, type NetlinkSocket } from "../netlink/socket.ts";
import { nfctError } from "./io.ts";

export type ReplyHandler = (buf: Uint8Array, view: DataView, off: number, len: number) => void;

/** Returns 0 on success; a failure is reported as the reference does ("netlink error: …") and gives -1. */
export function talk(sock: NetlinkSocket, request: Uint8Array, onReply?: ReplyHandler): number {
  try {
    sock.request(request, onReply);
    return 0;
  } catch (e) {
    if (!(e instanceof NetlinkError)) throw e;
    nfctError("netlink error", e.errno);
    return -1;
  }
}
