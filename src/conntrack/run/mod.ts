// Executes one parsed conntrack command (do_command_ct) and computes its
// summary line and exit status (print_stats).
import { stderr, stdout } from "../../common/output.ts";
import { NetlinkError } from "../../netlink/socket.ts";
import * as C from "../command.ts";
import { CtExit, exitError, OTHER_PROBLEM, PREFIX } from "../errors.ts";
import { protoHelpText, usageText, VERSION_TEXT } from "../help.ts";
import type { RunContext } from "./context.ts";
import { err2str } from "./errors.ts";
import { events } from "./events.ts";
import { countExpect, createExpect, deleteExpect, flushExpect, getExpect, listExpect } from "./expect.ts";
import { countConntrack, getConntrack, listConntrack, statsConntrack } from "./list.ts";
import { createConntrack, deleteConntrack, flushConntrack, updateConntrack } from "./modify.ts";

const SUMMARY: Record<number, string> = {
  [C.CT_LIST]: "flow entries have been shown.",
  [C.CT_CREATE]: "flow entries have been created.",
  [C.CT_UPDATE]: "flow entries have been updated.",
  [C.CT_DELETE]: "flow entries have been deleted.",
  [C.CT_GET]: "flow entries have been shown.",
  [C.CT_EVENT]: "flow events have been shown.",
  [C.EXP_LIST]: "expectations have been shown.",
  [C.EXP_DELETE]: "expectations have been shown.",
  [C.CT_ADD]: "flow entries have been added.",
};

/** Runs the command; `protoHelp` is the parser's "Proto `x' help:" block for `-h -p x`. */
export async function runCommand(
  ctx: RunContext,
  progname: string,
  protoHelp: string | undefined,
): Promise<void> {
  const cmd = ctx.cmd;
  try {
    switch (cmd.command) {
      case C.CT_LIST:
        return await listConntrack(ctx);
      case C.EXP_LIST:
        return listExpect(ctx);
      case C.CT_CREATE:
      case C.CT_ADD:
        return createConntrack(ctx);
      case C.EXP_CREATE:
        return createExpect(ctx);
      case C.CT_UPDATE:
        return await updateConntrack(ctx);
      case C.CT_DELETE:
        return await deleteConntrack(ctx);
      case C.EXP_DELETE:
        return deleteExpect(ctx);
      case C.CT_GET:
        return getConntrack(ctx);
      case C.EXP_GET:
        return getExpect(ctx);
      case C.CT_FLUSH: {
        const err = flushConntrack(ctx);
        stderr.write(PREFIX + "connection tracking table has been emptied.\n");
        if (err) throw err;
        return;
      }
      case C.EXP_FLUSH:
        try {
          flushExpect(ctx);
        } finally {
          stderr.write(PREFIX + "expectation table has been emptied.\n");
        }
        return;
      case C.CT_EVENT:
        return await events(ctx, false);
      case C.EXP_EVENT:
        return await events(ctx, true);
      case C.CT_COUNT:
        return countConntrack(ctx);
      case C.EXP_COUNT:
        return countExpect(ctx);
      case C.CT_STATS:
        return statsConntrack(ctx, false);
      case C.EXP_STATS:
        return statsConntrack(ctx, true);
      case C.CT_VERSION:
        stdout.write(VERSION_TEXT);
        return;
      case C.CT_HELP:
        stdout.write(usageText(progname));
        if (cmd.options & C.CT_OPT_PROTO) stdout.write(protoHelp ?? protoHelpText(cmd.protonum));
        return;
      default:
        stdout.write(usageText(progname));
        return;
    }
  } catch (e) {
    if (e instanceof NetlinkError) {
      stdout.flush();
      exitError(OTHER_PROBLEM, `Operation failed: ${err2str(e.errno, cmd.command)}`);
    }
    throw e;
  } finally {
    stdout.flush();
  }
}

/** The summary line for a finished command and whether it counts as failure. */
export function summary(ctx: RunContext): { line: string; failed: boolean } {
  const cmd = ctx.cmd;
  const text = SUMMARY[cmd.command];
  if (!cmd.command || !text) return { line: "", failed: false };
  const failed = ctx.counter === 0 && !(cmd.command & (C.CT_LIST | C.EXP_LIST | C.CT_ADD));
  return { line: `${PREFIX}${ctx.counter} ${text}\n`, failed };
}

export { CtExit };
