// `ctkit conntrackd [-C FILE] ha …`: keepalived's state transitions for
// conntrackd, a built-in replacement for conntrack-tools' primary-backup.sh.
import { DEFAULT_CONFIG_FILE } from "../client/args.ts";
import { openClientConfig } from "../client/unix_path.ts";
import { HA_USAGE, type HaArgs, HaUsageError, parseHaArgs } from "./args.ts";
import { FifoFilter, followFifo } from "./fifo.ts";
import { installGuard } from "./guard.ts";
import { HaLog } from "./log.ts";
import { type HaContext, transition } from "./transition.ts";

export { HA_USAGE, parseHaArgs, splitHaCommand } from "./args.ts";
export { HA_BACKUP, HA_FAULT, HA_PRIMARY, HA_PRIMARY_GUARDED, HA_REPLY_MARKER } from "./codes.ts";
export { GUARD_CHAIN, guardActive, installGuard, liftGuard } from "./guard.ts";
export { FifoFilter, parseFifoLine } from "./fifo.ts";

/** How this program starts a conntrackd daemon: through the name it runs under. */
function selfDaemonCommand(): string[] {
  const argv0 = Deno.env.get("CTKIT_ARGV0") ?? Deno.execPath();
  return argv0.split("/").pop() === "conntrackd" ? [argv0] : [argv0, "conntrackd"];
}

export async function haMain(configPath: string | null, argv: string[]): Promise<number> {
  let args: HaArgs;
  try {
    args = parseHaArgs(argv);
  } catch (e) {
    if (!(e instanceof HaUsageError)) throw e;
    await Deno.stderr.write(new TextEncoder().encode(`ctkit conntrackd ha: ${e.message}\n${HA_USAGE}`));
    return 2;
  }
  const path = configPath || DEFAULT_CONFIG_FILE;
  const opened = openClientConfig(path);
  if ("status" in opened) return opened.status;
  const ctx: HaContext = {
    socketPath: opened.path,
    configPath: path,
    lockFile: opened.config.general.lockFile,
    guard: args.guard,
    daemonCommand: args.daemonCommand ?? selfDaemonCommand(),
    log: new HaLog(args.logFile),
  };
  if (args.fifo === undefined) return (await transition(args.role!, args.cause!, ctx)) ? 0 : 1;

  ctx.log.line(`following ${args.fifo}${args.name ? ` for ${args.name}` : ""}`);
  // Until keepalived says this node is master, it must not pick up connections it has no state for.
  if (args.guard) {
    const errs = await installGuard();
    for (const e of errs) ctx.log.line(`error: cannot install the guard: ${e}`);
    if (!errs.length) ctx.log.line("guard installed");
  }
  return await followFifo(args.fifo, new FifoFilter(args.name), async (ev) => {
    await transition(ev.role, `${ev.kind} ${ev.name} ${ev.state}`, ctx);
  });
}
