// `conntrackd` entry point: client requests, -h/-v, `--check`, and the daemon
// (console mode or -d).
import { clientMain, type DaemonArgs, openClientConfig, writeOutput } from "./client/mod.ts";
import { runCheck } from "./config/mod.ts";
import { runDaemon } from "./daemon/daemon.ts";
import { haMain, splitHaCommand } from "./ha/mod.ts";

async function onDaemon(args: DaemonArgs): Promise<number> {
  writeOutput(args.output);
  if (args.check) return runCheck(args.configPath);
  const opened = openClientConfig(args.configPath);
  if ("status" in opened) return opened.status;
  return await runDaemon(opened.config, args.daemonize);
}

export async function main(argv: string[], progname: string): Promise<number> {
  // ctkit's `[-C FILE] ha …`: keepalived transitions (src/conntrackd/ha/).
  const ha = splitHaCommand(argv);
  if (ha) return await haMain(ha.configPath, ha.rest);
  return await clientMain(argv, progname, { onDaemon });
}
