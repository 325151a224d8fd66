// One request/response exchange, like the reference's nfct_mnl_talk(): send,
// hand every reply message to the callback, stop at the ACK or end of dump.
import { NetlinkError, type NetlinkSocket } from "../netlink/socket.ts";

export type ReplyHandler = (buf: Uint8Array, view: DataView, off: number, len: number) => void;

/** Returns 0 on success or the positive errno the kernel (or the socket) reported. */
export function talk(sock: NetlinkSocket, request: Uint8Array, onReply?: ReplyHandler): number {
  try {
    sock.request(request, onReply ? (buf, view, off, len) => onReply(buf, view, off, len) : undefined);
    return 0;
  } catch (e) {
    if (e instanceof NetlinkError) return e.errno;
    throw e;
  }
}
