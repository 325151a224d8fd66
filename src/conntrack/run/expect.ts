// The expectation table: -L/-G/-D/-I/-F/-C expect.
import { stdout } from "../../common/output.ts";
import {
  EINVAL,
  NFNL_SUBSYS_CTNETLINK_EXP,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
} from "../../netlink/constants.ts";
import { NetlinkError } from "../../netlink/socket.ts";
import * as A from "../attrs.ts";
import { O_JSON, O_TMS, O_XML } from "../command.ts";
import { decodeExpect } from "../decode.ts";
import { type ExpectTuples, putExpect, tupleIsSet } from "../encode.ts";
import { formatExpect, XML_FOOTER_EXP, XML_HEADER_EXP } from "../format/text.ts";
import { formatExpectJson } from "../format/json.ts";
import type { RunContext } from "./context.ts";
import { MSG_UNKNOWN, type MsgType } from "../format/common.ts";
import type { Expect } from "../model.ts";
import { timestampPrefix } from "./timestamp.ts";
import type { MessageVisitor } from "../../netlink/socket.ts";

/** One expectation line as dump_exp_cb/event_exp_cb print it (XML header first, -o timestamp prefix). */
export function expectLine(ctx: RunContext, exp: Expect, msgType: MsgType): string {
  const out = ctx.cmd.output;
  if (out & O_JSON) return formatExpectJson(exp, msgType);
  if (out & O_XML) ctx.startXml(XML_HEADER_EXP);
  const prefix = (out & O_TMS) && !(out & O_XML) ? timestampPrefix(true) : "";
  return prefix + formatExpect(exp, msgType, out & (O_XML | O_TMS));
}

function expPrinter(ctx: RunContext): MessageVisitor {
  return (buf, v, off, len) => {
    stdout.line(expectLine(ctx, decodeExpect(buf, v, off, len), MSG_UNKNOWN));
    ctx.counter++;
  };
}

function expRequest(ctx: RunContext, msg: number, flags: number, family: number) {
  return ctx.request(msg, flags, family, NFNL_SUBSYS_CTNETLINK_EXP);
}

export function listExpect(ctx: RunContext): void {
  ctx.sock.dump(
    expRequest(ctx, A.IPCTNL_MSG_EXP_GET, NLM_F_DUMP, ctx.cmd.family).end().bytesView(),
    expPrinter(ctx),
  );
  ctx.endXml(XML_FOOTER_EXP);
}

export function countExpect(ctx: RunContext): void {
  ctx.sock.dump(expRequest(ctx, A.IPCTNL_MSG_EXP_GET, NLM_F_DUMP, ctx.cmd.family).end().bytesView(), () => {
    ctx.counter++;
  });
  stdout.line(String(ctx.counter));
}

/** __build_expect(): the family comes from the master, else the expected tuple. */
function sendExpect(
  ctx: RunContext,
  msg: number,
  flags: number,
  tuples: ExpectTuples,
  visit?: MessageVisitor,
) {
  const l3 = tuples.master && tupleIsSet(tuples.master) && tuples.master.l3
    ? tuples.master.l3
    : tuples.expected?.l3 ?? 0;
  if (!l3) throw new NetlinkError(EINVAL);
  const b = expRequest(ctx, msg, flags, l3);
  putExpect(b, ctx.cmd.tmpl.exp, tuples);
  ctx.sock.request(b.end().bytesView(), visit);
}

export function createExpect(ctx: RunContext): void {
  const t = ctx.cmd.tmpl;
  sendExpect(ctx, A.IPCTNL_MSG_EXP_NEW, NLM_F_CREATE | NLM_F_ACK | NLM_F_EXCL, {
    expected: t.exptuple.orig,
    master: t.ct.orig,
    mask: t.mask.orig,
  });
}

export function deleteExpect(ctx: RunContext): void {
  // The reference sends -s/-d/-p as the *expected* tuple.
  sendExpect(ctx, A.IPCTNL_MSG_EXP_DELETE, NLM_F_ACK, { expected: ctx.cmd.tmpl.ct.orig });
}

export function getExpect(ctx: RunContext): void {
  // No closing </expect> after a get, as in the reference.
  sendExpect(ctx, A.IPCTNL_MSG_EXP_GET, NLM_F_ACK, { master: ctx.cmd.tmpl.ct.orig }, expPrinter(ctx));
}

export function flushExpect(ctx: RunContext): void {
  ctx.sock.request(expRequest(ctx, A.IPCTNL_MSG_EXP_DELETE, NLM_F_ACK, ctx.cmd.family).end().bytesView());
}
