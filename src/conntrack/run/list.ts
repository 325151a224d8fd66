// -L (conntrack, dying, unconfirmed), -G, -C and -S.
import { stdout } from "../../common/output.ts";
import { EINVAL, NLM_F_ACK, NLM_F_DUMP } from "../../netlink/constants.ts";
import * as A from "../attrs.ts";
import { CT_COMPARISON, CT_OPT_ZERO, Table } from "../command.ts";
import { decodeConntrack } from "../decode.ts";
import { exitError, PARAMETER_PROBLEM } from "../errors.ts";
import { filterEntry, type NetworkFilter, prepareNetworkFilter } from "../filter.ts";
import { putConntrack } from "../encode.ts";
import { MSG_NEW, MSG_UNKNOWN } from "../format/common.ts";
import { DUMP_STYLE, type RunContext } from "./context.ts";
import { dumpPipelined } from "../../netlink/dump_pipeline.ts";
import { type MessageVisitor, NetlinkError } from "../../netlink/socket.ts";

const NO_FILTER: NetworkFilter = { family: 0 };

/** The callback behind -L and -G (mnl_nfct_dump_cb): filter, print, count. */
function printer(ctx: RunContext, net: NetworkFilter): MessageVisitor {
  return (buf, v, off, len) => {
    const ct = decodeConntrack(buf, v, off, len);
    if (filterEntry(ctx.cmd, net, ct)) return;
    stdout.line(ctx.format(ct, MSG_UNKNOWN, MSG_NEW, DUMP_STYLE));
    ctx.counter++;
  };
}

export async function listConntrack(ctx: RunContext): Promise<void> {
  const cmd = ctx.cmd;
  if (cmd.type === Table.Dying || cmd.type === Table.Unconfirmed) {
    // The reference dumps these tables without any filter.
    const msg = cmd.type === Table.Dying ? A.IPCTNL_MSG_CT_GET_DYING : A.IPCTNL_MSG_CT_GET_UNCONFIRMED;
    await dumpPipelined(
      ctx.sock,
      ctx.request(msg, NLM_F_DUMP).end().bytesView(),
      printer(ctx, NO_FILTER),
    );
    ctx.endXml();
    return;
  }
  if ((cmd.options & CT_COMPARISON) && (cmd.options & CT_OPT_ZERO)) {
    exitError(PARAMETER_PROBLEM, "Can't use -z with filtering parameters");
  }
  const net = prepareNetworkFilter(cmd);
  const msg = cmd.options & CT_OPT_ZERO ? A.IPCTNL_MSG_CT_GET_CTRZERO : A.IPCTNL_MSG_CT_GET;
  const b = ctx.request(msg, NLM_F_DUMP);
  putKernelFilter(ctx, b, true);
  await dumpPipelined(ctx.sock, b.end().bytesView(), printer(ctx, net));
  ctx.endXml();
}

/** The kernel-side dump filter the reference sends (mark, optionally status). */
export function putKernelFilter(
  ctx: RunContext,
  b: ReturnType<RunContext["request"]>,
  status: boolean,
): void {
  const t = ctx.cmd.tmpl;
  if (t.filterMarkKernel) {
    b.be32(A.CTA_MARK, t.filterMarkKernel.value).be32(A.CTA_MARK_MASK, t.filterMarkKernel.mask);
  }
  if (status && t.filterStatusKernel) {
    b.be32(A.CTA_STATUS, t.filterStatusKernel.value).be32(A.CTA_STATUS_MASK, t.filterStatusKernel.mask);
  }
}

export function getConntrack(ctx: RunContext): void {
  const b = ctx.request(A.IPCTNL_MSG_CT_GET, NLM_F_ACK);
  if (!putConntrack(b, ctx.cmd.tmpl.ct)) throw new NetlinkError(EINVAL);
  // Unlike -L, the reference prints no closing </conntrack> after -G.
  ctx.sock.request(b.end().bytesView(), printer(ctx, NO_FILTER));
}

export function countConntrack(ctx: RunContext): void {
  let count: number | undefined;
  try {
    ctx.sock.talk(ctx.request(A.IPCTNL_MSG_CT_GET_STATS, 0, 0).end().bytesView(), (_b, v, off, len) => {
      forEachU32(v, off + 20, off + len, (type, value) => {
        if (type === A.CTA_STATS_GLOBAL_ENTRIES) count = value | 0;
      });
    });
  } catch {
    count = undefined;
  }
  if (count === undefined) {
    // Old kernels: fall back to /proc, as the reference does.
    const path = "/proc/sys/net/netfilter/nf_conntrack_count";
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch {
      exitError(1, `Can't open ${path}`);
    }
    const n = parseInt(text.trim(), 10);
    if (Number.isNaN(n)) exitError(1, `Can't read ${path}`);
    count = n;
  }
  stdout.line(String(count));
}

const STAT_NAMES = [
  "",
  "searched",
  "found",
  "new",
  "invalid",
  "ignore",
  "delete",
  "delete_list",
  "insert",
  "insert_failed",
  "drop",
  "early_drop",
  "error",
  "search_restart",
  "clash_resolve",
  "chaintoolong",
];
const EXP_STAT_NAMES = ["", "expect_new", "expect_create", "expect_delete"];

function forEachU32(v: DataView, off: number, end: number, fn: (type: number, value: number) => void) {
  while (off + 4 <= end) {
    const len = v.getUint16(off, true);
    if (len < 4 || off + len > end) break;
    const type = v.getUint16(off + 2, true) & 0x3fff;
    if (len >= 8) fn(type, v.getUint32(off + 4, false));
    off += (len + 3) & ~3;
  }
}

/** -S and -S expect: per-CPU counters (netlink, else /proc/net/stat/nf_conntrack). */
export function statsConntrack(ctx: RunContext, expect: boolean): void {
  const names = expect ? EXP_STAT_NAMES : STAT_NAMES;
  const msg = expect ? A.IPCTNL_MSG_EXP_GET_STATS_CPU : A.IPCTNL_MSG_CT_GET_STATS_CPU;
  const subsys = expect ? 2 : 1;
  try {
    ctx.sock.dump(ctx.request(msg, NLM_F_DUMP, 0, subsys).end().bytesView(), (_b, v, off, len) => {
      const vals: (number | undefined)[] = [];
      forEachU32(v, off + 20, off + len, (type, value) => {
        if (type > 0 && type < names.length) vals[type] = value;
      });
      let line = `cpu=${String(v.getUint16(off + 18, false)).padEnd(4)}\t`;
      for (let i = 1; i < names.length; i++) if (vals[i] !== undefined) line += `${names[i]}=${vals[i]} `;
      stdout.line(line);
    });
  } catch {
    if (!procStats()) exitError(1, "Can't open /proc interface");
  }
}

function procStats(): boolean {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/net/stat/nf_conntrack");
  } catch {
    return false;
  }
  const lines = text.split("\n");
  const header = lines[0].split(" ").filter((s) => s.length > 0);
  let cpu = 0;
  for (const l of lines.slice(1)) {
    if (l === "") continue;
    const vals = l.split(" ").filter((s) => s.length > 0).map((t) => parseInt(t, 16) >>> 0);
    let line = `cpu=${String(cpu).padEnd(4)}\t`;
    for (let i = 0; i < header.length; i++) line += `${header[i]}=${vals[i] ?? 0} `;
    stdout.line(line);
    cpu++;
  }
  return cpu > 0;
}
