// -E: conntrack and expectation events. The wait for the socket runs off the JS
// thread (nonblocking poll), so SIGINT/SIGTERM handlers run and print the summary.
import { stderr, stdout } from "../../common/output.ts";
import { strerror } from "../../../ffi/libc.ts";
import {
  ENOBUFS,
  NF_NETLINK_CONNTRACK_DESTROY,
  NF_NETLINK_CONNTRACK_EXP_DESTROY,
  NF_NETLINK_CONNTRACK_EXP_NEW,
  NF_NETLINK_CONNTRACK_EXP_UPDATE,
  NF_NETLINK_CONNTRACK_NEW,
  NF_NETLINK_CONNTRACK_UPDATE,
} from "../../netlink/constants.ts";
import { NetlinkError, NetlinkSocket } from "../../netlink/socket.ts";
import { CT_OPT_BUFFERSIZE, CT_OPT_EVENT_MASK, O_JSON, O_SAVE, O_TMS, O_XML } from "../command.ts";
import { decodeConntrack, decodeExpect, eventMsgType } from "../decode.ts";
import { exitError, OTHER_PROBLEM, PREFIX } from "../errors.ts";
import { filterEntry, prepareNetworkFilter } from "../filter.ts";
import { XML_FOOTER_CT, XML_FOOTER_EXP } from "../format/text.ts";
import { EVENT_STYLE, type RunContext } from "./context.ts";
import { prefetchPrognames, prognameOf } from "./progname.ts";
import { timestampPrefix } from "./timestamp.ts";
import { expectLine } from "./expect.ts";
import { MmsgBatch } from "../../netlink/mmsg.ts";

const EVENT_NEW = 1, EVENT_UPDATE = 2, EVENT_DESTROY = 4;

function groups(ctx: RunContext, expect: boolean): number {
  const m = ctx.cmd.options & CT_OPT_EVENT_MASK
    ? ctx.cmd.eventMask
    : EVENT_NEW | EVENT_UPDATE | EVENT_DESTROY;
  let g = 0;
  if (m & EVENT_NEW) g |= expect ? NF_NETLINK_CONNTRACK_EXP_NEW : NF_NETLINK_CONNTRACK_NEW;
  if (m & EVENT_UPDATE) g |= expect ? NF_NETLINK_CONNTRACK_EXP_UPDATE : NF_NETLINK_CONNTRACK_UPDATE;
  if (m & EVENT_DESTROY) g |= expect ? NF_NETLINK_CONNTRACK_EXP_DESTROY : NF_NETLINK_CONNTRACK_DESTROY;
  return g;
}

export async function events(ctx: RunContext, expect: boolean): Promise<never> {
  const cmd = ctx.cmd;
  let sock: NetlinkSocket;
  try {
    sock = NetlinkSocket.open(groups(ctx, expect));
  } catch {
    exitError(OTHER_PROBLEM, expect ? "Can't open handler" : "Can't open netlink socket");
  }
  if (!expect && (cmd.options & CT_OPT_BUFFERSIZE)) {
    // The reference sets this on its request socket by mistake; ctkit sizes the
    // event socket, which is what the option is for (docs/COMPAT.md).
    const size = sock.setReceiveBuffer(cmd.socketBufferSize);
    stderr.write(`NOTICE: Netlink socket buffer size has been set to ${size} bytes.\n`);
  }
  const net = expect ? { family: 0 } : prepareNetworkFilter(cmd);
  const out = cmd.output;

  const finish = () => {
    ctx.endXml(expect ? XML_FOOTER_EXP : XML_FOOTER_CT);
    stdout.flush();
    stderr.write(
      PREFIX + `${ctx.counter} ${expect ? "expectation events" : "flow events"} have been shown.\n`,
    );
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", finish);
  Deno.addSignalListener("SIGTERM", finish);

  const onMessage = (
    buf: Uint8Array,
    v: DataView,
    off: number,
    len: number,
    type: number,
    flags: number,
    pid: number,
  ) => {
    const msgType = eventMsgType(type, flags);
    if (expect) {
      stdout.line(expectLine(ctx, decodeExpect(buf, v, off, len), msgType));
      ctx.counter++;
      return;
    }
    const family = buf[off + 16];
    if (cmd.family !== 0 && cmd.family !== family) return;
    const ct = decodeConntrack(buf, v, off, len);
    if (filterEntry(cmd, net, ct)) return;
    let line: string;
    if (out & (O_SAVE | O_JSON)) line = ctx.format(ct, msgType, msgType, EVENT_STYLE);
    else {
      const prefix = (out & O_TMS) && !(out & O_XML) ? timestampPrefix(false) : "";
      line = prefix + ctx.format(ct, msgType, msgType, EVENT_STYLE);
    }
    if (pid !== 0 && !(out & O_JSON)) {
      const prog = prognameOf(pid);
      line += prog !== undefined
        ? ` [USERSPACE] portid=${pid} progname=${prog}`
        : ` [USERSPACE] portid=${pid}`;
    }
    stdout.line(line);
    ctx.counter++;
  };

  // Events come one per datagram: take them a batch per system call.
  const batch = new MmsgBatch(64, 1 << 14);
  for (;;) {
    await sock.waitReadable(-1);
    for (;;) {
      let k: number;
      try {
        k = sock.tryRecvMany(batch);
      } catch (e) {
        if (e instanceof NetlinkError && e.errno === ENOBUFS) {
          stdout.flush();
          stderr.write(
            "WARNING: We have hit ENOBUFS! We are losing events.\n" +
              "This message means that the current netlink socket buffer size is too small.\n" +
              "Please, check --buffer-size in conntrack(8) manpage.\n",
          );
          continue;
        }
        const code = e instanceof NetlinkError ? e.errno : 5;
        stdout.flush();
        exitError(OTHER_PROBLEM, `failed to received netlink event: ${strerror(code)}`);
      }
      if (k === 0) break;
      // Events come one per datagram; the sender's port id is in its header.
      if (!expect && !(out & O_JSON)) prefetchPrognames(portids(batch, k));
      for (let i = 0; i < k; i++) sock.walk(batch.length(i), onMessage, batch.slot(i), batch.slotView(i));
      if (k < batch.count) break;
    }
    stdout.flush();
  }
}

/** The nlmsg_pid of the first message of each of the batch's k datagrams. */
function* portids(batch: MmsgBatch, k: number): Generator<number> {
  for (let i = 0; i < k; i++) if (batch.length(i) >= 16) yield batch.slotView(i).getUint32(12, true);
}
