// -I/-A, -D, -U and -F. Deletes and updates go out in batches (one sendto per
// received dump datagram) on a second socket while the first one dumps.
import { stderr, stdout } from "../../common/output.ts";
import { MessageBuilder } from "../../netlink/builder.ts";
import {
  EINVAL,
  ENOENT,
  NFNL_SUBSYS_CTNETLINK,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
} from "../../netlink/constants.ts";
import { NetlinkError } from "../../netlink/socket.ts";
import * as A from "../attrs.ts";
import {
  CT_ADD,
  CT_DELETE,
  CT_OPT_ADD_LABEL,
  CT_OPT_DEL_LABEL,
  CT_OPT_MARK,
  CT_OPT_ORIG,
  CT_OPT_REPL,
  CT_OPT_STATUS,
  CT_OPT_TUPLE_ORIG,
  CT_OPT_TUPLE_REPL,
  CT_UPDATE,
} from "../command.ts";
import { decodeConntrack } from "../decode.ts";
import { putConntrack, putConntrackKey } from "../encode.ts";
import { exitError, OTHER_PROBLEM } from "../errors.ts";
import {
  cmpAll,
  cmpOrig,
  cmpReply,
  filterEntry,
  filterLabel,
  filterNat,
  filterNetwork,
  prepareNetworkFilter,
} from "../filter.ts";
import { type Conntrack, newTuple } from "../model.ts";
import { DELETE_STYLE, type RunContext, UPDATE_STYLE } from "./context.ts";
import { err2str } from "./errors.ts";
import { putKernelFilter } from "./list.ts";
import { dumpPipelined } from "../../netlink/dump_pipeline.ts";
import { exchange } from "../../netlink/exchange.ts";
import { MSG_DESTROY, MSG_NEW, MSG_UNKNOWN } from "../format/common.ts";
import { fillIcmpReply, reverseTuple } from "./tuple.ts";

// ---- -I / -A --------------------------------------------------------------

export function createConntrack(ctx: RunContext): void {
  const cmd = ctx.cmd;
  const ct = cmd.tmpl.ct;
  if ((cmd.options & CT_OPT_ORIG) && !(cmd.options & CT_OPT_REPL)) ct.reply = reverseTuple(ct.orig, ct.reply);
  else if (!(cmd.options & CT_OPT_ORIG) && (cmd.options & CT_OPT_REPL)) {
    ct.orig = reverseTuple(ct.reply, ct.orig);
  }
  fillIcmpReply(ct.orig, ct.reply);
  if (cmd.options & CT_OPT_MARK) ct.mark = cmd.tmpl.mark.value;
  if (cmd.options & CT_OPT_ADD_LABEL) ct.labels = cmd.tmpl.labelModify?.slice();
  const b = ctx.request(A.IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_ACK | NLM_F_EXCL);
  if (!putConntrack(b, ct)) throw new NetlinkError(EINVAL);
  try {
    ctx.sock.request(b.end().bytesView());
    ctx.counter++;
  } catch (e) {
    // -A of an existing entry is not an error (and is not counted).
    if (!(e instanceof NetlinkError && e.errno === 17 && cmd.command === CT_ADD)) throw e;
  }
}

// ---- batches on the modifier socket ---------------------------------------

/** Requests per batch: their replies must fit the modifier socket's buffer. */
const MAX_BATCH = 64;

interface Pending {
  seq: number;
  ct: Conntrack;
}

// ---- -D --------------------------------------------------------------------

export async function deleteConntrack(ctx: RunContext): Promise<void> {
  const cmd = ctx.cmd;
  const net = prepareNetworkFilter(cmd);
  const mod = ctx.modifierSocket();
  const batch: Conntrack[] = [];
  const b = new MessageBuilder(1 << 16);
  // One sendto() per dump datagram; only the last request asks for an ACK.
  const flush = () => {
    if (batch.length === 0) return;
    b.reset();
    const seqs: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const seq = mod.nextSeq();
      seqs.push(seq);
      const ack = i === batch.length - 1 ? NLM_F_ACK : 0;
      b.begin(
        (NFNL_SUBSYS_CTNETLINK << 8) | A.IPCTNL_MSG_CT_DELETE,
        NLM_F_REQUEST | ack,
        seq,
        batch[i].orig.l3,
      );
      putConntrackKey(b, batch[i]);
      b.end();
    }
    const errors = exchange(mod, b, [seqs[seqs.length - 1]]);
    for (let i = 0; i < batch.length; i++) {
      const err = errors.get(seqs[i]) ?? 0;
      // An entry that vanished meanwhile (ENOENT) is not an error.
      if (err === ENOENT) continue;
      if (err !== 0) {
        stdout.flush();
        exitError(OTHER_PROBLEM, `Operation failed: ${err2str(err, CT_DELETE)}`);
      }
      stdout.line(ctx.format(batch[i], MSG_UNKNOWN, MSG_DESTROY, DELETE_STYLE));
      ctx.counter++;
    }
    batch.length = 0;
  };
  const req = ctx.request(A.IPCTNL_MSG_CT_GET, NLM_F_DUMP);
  putKernelFilter(ctx, req, false);
  await dumpPipelined(ctx.sock, req.end().bytesView(), (buf, v, off, len) => {
    const ct = decodeConntrack(buf, v, off, len);
    if (!filterEntry(cmd, net, ct)) batch.push(ct);
  }, flush);
  flush();
}

// ---- -U --------------------------------------------------------------------

/** nfct_copy(tmp, ct, ORIG) + nfct_copy(tmp, tmpl, META) + mark/status/label rules. */
function buildUpdate(ctx: RunContext, ct: Conntrack): Conntrack {
  const cmd = ctx.cmd, t = cmd.tmpl.ct;
  const tmp: Conntrack = Object.assign(Object.create(Object.getPrototypeOf(ct)), t);
  const o = ct.orig;
  tmp.orig = {
    l3: o.l3,
    src: o.src,
    dst: o.dst,
    proto: o.proto,
    sport: o.sport,
    dport: o.dport,
    icmpType: o.icmpType,
    icmpCode: o.icmpCode,
    icmpId: o.icmpId,
    zone: t.orig.zone,
  };
  tmp.reply = newTuple();
  tmp.reply.zone = t.reply.zone;
  tmp.master = undefined;
  if (cmd.options & CT_OPT_MARK) {
    const m = cmd.tmpl.mark;
    tmp.mark = (((ct.mark ?? 0) & ~m.mask) ^ m.value) >>> 0;
  }
  if (cmd.options & CT_OPT_STATUS) tmp.status = ((ct.status ?? 0) | (t.status ?? 0)) >>> 0;
  copyLabels(ctx, tmp, ct);
  return tmp;
}

function copyLabels(ctx: RunContext, tmp: Conntrack, ct: Conntrack): void {
  const cmd = ctx.cmd;
  if (!(cmd.options & (CT_OPT_ADD_LABEL | CT_OPT_DEL_LABEL))) return;
  const modify = cmd.tmpl.labelModify;
  const cur = ct.labels?.slice();
  tmp.labels = cur;
  tmp.labelsMask = undefined;
  if (cmd.options & CT_OPT_ADD_LABEL) {
    if (!cur) {
      tmp.labels = modify?.slice();
      return;
    }
    // Same size as the kernel's bitmap: bits we omit would be cleared.
    const mask = new Uint8Array(cur.length);
    for (let i = 0; i < cur.length; i++) {
      const add = modify?.[i] ?? 0;
      cur[i] = add;
      mask[i] = add;
    }
    tmp.labelsMask = mask;
  } else if (cur) {
    if (!modify) {
      tmp.labels = new Uint8Array(4);
      return;
    }
    for (let i = 0; i < cur.length; i++) cur[i] &= ~(modify[i] ?? 0);
    tmp.labelsMask = modify.slice();
  }
}

export async function updateConntrack(ctx: RunContext): Promise<void> {
  const cmd = ctx.cmd;
  const net = prepareNetworkFilter(cmd);
  const mod = ctx.modifierSocket();
  const t = cmd.tmpl.ct;
  const batch: Pending[] = [];
  const b = new MessageBuilder(MAX_BATCH * 256), g = new MessageBuilder(MAX_BATCH * 128);
  const flush = () => {
    if (batch.length === 0) return;
    // 1. the updates
    b.reset();
    for (const p of batch) {
      p.seq = mod.nextSeq();
      // The entry's own family: the reference sends -U's (often unset) family
      // and this kernel answers EOPNOTSUPP (docs/COMPAT.md).
      b.begin(
        (NFNL_SUBSYS_CTNETLINK << 8) | A.IPCTNL_MSG_CT_NEW,
        NLM_F_REQUEST | NLM_F_ACK,
        p.seq,
        p.ct.orig.l3,
      );
      putConntrack(b, p.ct);
      b.end();
    }
    const errors = exchange(mod, b, batch.map((p) => p.seq));
    // 2. read every entry back and print it, as the reference does
    g.reset();
    const getSeq = new Map<number, number>();
    for (let i = 0; i < batch.length; i++) {
      const seq = mod.nextSeq();
      getSeq.set(seq, i);
      g.begin(
        (NFNL_SUBSYS_CTNETLINK << 8) | A.IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        batch[i].ct.orig.l3,
      );
      putConntrack(g, batch[i].ct);
      g.end();
    }
    const got: (Conntrack | undefined)[] = [];
    const getErrors = exchange(mod, g, getSeq.keys(), (seq, buf, v, off, len) => {
      const i = getSeq.get(seq);
      if (i !== undefined) got[i] = decodeConntrack(buf, v, off, len);
    });
    for (const [seq, i] of getSeq) {
      const err = errors.get(batch[i].seq) ?? 0;
      if (err !== 0) stderr.write(`Operation failed: ${err2str(err, CT_UPDATE)}\n`);
      const gerr = getErrors.get(seq) ?? 0;
      if (gerr === ENOENT) continue;
      if (gerr !== 0) {
        stdout.flush();
        exitError(OTHER_PROBLEM, `Operation failed: ${err2str(gerr, CT_UPDATE)}`);
      }
      const entry = got[i];
      if (entry) stdout.line(ctx.format(entry, MSG_UNKNOWN, MSG_NEW, UPDATE_STYLE));
      ctx.counter++;
    }
    batch.length = 0;
  };
  await dumpPipelined(
    ctx.sock,
    ctx.request(A.IPCTNL_MSG_CT_GET, NLM_F_DUMP).end().bytesView(),
    (buf, v, off, len) => {
      const ct = decodeConntrack(buf, v, off, len);
      if (filterNat(cmd, ct) || filterLabel(cmd, ct) || filterNetwork(net, ct)) return;
      if (t.id !== undefined && ct.id !== undefined && t.id !== ct.id) return;
      if ((cmd.options & CT_OPT_TUPLE_ORIG) && !cmpOrig(t, ct)) return;
      if ((cmd.options & CT_OPT_TUPLE_REPL) && !cmpReply(t, ct)) return;
      const tmp = buildUpdate(ctx, ct);
      // Unchanged entries are neither sent nor counted.
      if (cmpAll(tmp, ct)) return;
      batch.push({ seq: 0, ct: tmp });
      if (batch.length >= MAX_BATCH) flush();
    },
    flush,
  );
  flush();
}

// ---- -F --------------------------------------------------------------------

export function flushConntrack(ctx: RunContext): NetlinkError | undefined {
  try {
    ctx.sock.request(ctx.request(A.IPCTNL_MSG_CT_DELETE, NLM_F_ACK).end().bytesView());
    return undefined;
  } catch (e) {
    if (e instanceof NetlinkError) return e;
    throw e;
  }
}
