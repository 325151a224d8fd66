// `conntrack` entry point: parse (command line or -R file), run, summarise.
import { stderr, stdout } from "../common/output.ts";
import { NetlinkError, NetlinkSocket } from "../netlink/socket.ts";
import { strerror } from "../../ffi/libc.ts";
import { CtExit, errorText, OTHER_PROBLEM } from "./errors.ts";
import { loadFileArgument, parseArgsWithWarnings, parseLoadFile, warningsOf } from "./parse/mod.ts";
import { RunContext } from "./run/context.ts";
import { runCommand, summary } from "./run/mod.ts";

function fail(e: CtExit): number {
  stdout.flush();
  // Warnings printed during parsing come before the error, as in the reference.
  for (const w of warningsOf(e)) stderr.write(w + "\n");
  stderr.write(errorText(e.status, e.message));
  return e.status;
}

export async function main(argv: string[], progname: string): Promise<number> {
  let sock: NetlinkSocket;
  try {
    sock = NetlinkSocket.open();
  } catch (e) {
    if (!(e instanceof NetlinkError)) throw e; // e.g. a missing library: cli.ts reports it
    stderr.write(`mnl_socket_open: ${strerror(e.errno)}\n`);
    stderr.write(errorText(OTHER_PROBLEM, "Can't open handler"));
    return OTHER_PROBLEM;
  }
  try {
    const file = loadFileArgument(argv);
    if (file !== undefined) {
      const { cmds, warnings, labelMap } = parseLoadFile(file, progname);
      for (const w of warnings) stderr.write(w + "\n");
      // One context per line, sharing the XML state and the counter semantics.
      let xmlStarted = false;
      for (const cmd of cmds) {
        const ctx = new RunContext(cmd, sock, labelMap ?? null);
        ctx.xmlStarted = xmlStarted;
        try {
          await runCommand(ctx, progname, undefined);
        } finally {
          xmlStarted = ctx.xmlStarted;
          ctx.close();
        }
      }
      stdout.flush();
      return 0;
    }
    const { cmd, warnings, labelMap, protoHelp } = parseArgsWithWarnings(argv, progname);
    for (const w of warnings) stderr.write(w + "\n");
    const ctx = new RunContext(cmd, sock, labelMap ?? null);
    try {
      await runCommand(ctx, progname, protoHelp);
    } finally {
      ctx.close();
    }
    stdout.flush();
    const s = summary(ctx);
    if (s.line) stderr.write(s.line);
    return s.failed ? 1 : 0;
  } catch (e) {
    if (e instanceof CtExit) return fail(e);
    throw e;
  } finally {
    sock.close();
  }
}
