// Does this kernel run user-space helpers? They need two optional parts:
// nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER), which binds helpers to
// queues, and the NFQUEUE conntrack glue (CONFIG_NETFILTER_NETLINK_GLUE_CT),
// which attaches the conntrack to each queued packet and takes expectations
// back with the verdict. Both are probed before anything is registered, so a
// kernel without them gets one message naming what is missing, not a
// half-started daemon (the reference only reports `Invalid argument`).
import { strerror } from "../../../ffi/libc.ts";
import { NetlinkError, NetlinkSocket } from "../../netlink/socket.ts";
import { buildHelperProbe } from "./cthelper_msg.ts";
import { NfQueue } from "./queue.ts";

const EPERM = 1;
const EBUSY = 16;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const ENOENT = 2;
const EPROTONOSUPPORT = 93;

export interface KernelSupport {
  cthelper: boolean;
  queueConntrack: boolean;
}

/** Why a probe could not tell (permissions, a queue owned by another process). */
export class SupportProbeError extends Error {}

function unsupported(errno: number): boolean {
  return errno === EINVAL || errno === EOPNOTSUPP || errno === ENOENT || errno === EPROTONOSUPPORT;
}

/** nfnetlink_cthelper answers an empty dump; without it nfnetlink refuses subsystem 9. */
export function probeCthelper(): boolean {
  const sock = NetlinkSocket.open(0, 1 << 16);
  try {
    sock.request(buildHelperProbe(sock.nextSeq()));
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && unsupported(e.errno)) return false;
    if (e instanceof NetlinkError && e.errno === EPERM) {
      throw new SupportProbeError("cannot query nfnetlink_cthelper: Operation not permitted (run as root)");
    }
    throw e;
  } finally {
    sock.close();
  }
}

/**
 * Binds `queueNum` on `queue` and asks for conntrack information; the kernel
 * refuses the flag without the glue. The queue stays bound when supported.
 */
export function probeQueueConntrack(queue: NfQueue, queueNum: number): boolean {
  try {
    queue.bind(queueNum);
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === EBUSY) {
      throw new SupportProbeError(`NFQUEUE queue ${queueNum} is already bound by another process`);
    }
    if (e instanceof NetlinkError) {
      throw new SupportProbeError(`cannot bind NFQUEUE queue ${queueNum}: ${strerror(e.errno)}`);
    }
    throw e;
  }
  try {
    queue.setParams(queueNum, { conntrack: true });
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && unsupported(e.errno)) {
      queue.unbind(queueNum);
      return false;
    }
    throw e;
  }
}

/** The one start-up message for a kernel that lacks part of what helpers need, or null. */
export function missingSupportMessage(s: KernelSupport): string | null {
  const missing: string[] = [];
  if (!s.cthelper) missing.push("nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER)");
  if (!s.queueConntrack) {
    missing.push("the NFQUEUE conntrack glue (CONFIG_NETFILTER_NETLINK_GLUE_CT)");
  }
  if (missing.length === 0) return null;
  return `cannot run the user-space helpers of the Helper section: this kernel lacks ${
    missing.join(" and ")
  }`;
}
