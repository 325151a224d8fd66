// `conntrackd` entry point: client requests, -h/-v, `--check`, and the daemon
// (console mode or -d).
// The daemon and `ha` are loaded only when asked for: a client request (`-s`,
// `-c`, … from a keepalived script) then evaluates the client and the config
// parser only, which is most of its start-up time.
import { clientMain, type DaemonArgs, openClientConfig, writeOutput } from "./client/mod.ts";
import { runCheck } from "./config/mod.ts";
import { splitHaCommand } from "./ha/args.ts";
import { splitReloadKeys } from "./auth/args.ts";

async function onDaemon(args: DaemonArgs): Promise<number> {
  writeOutput(args.output);
  if (args.check) return runCheck(args.configPath);
  const opened = openClientConfig(args.configPath);
  if ("status" in opened) return opened.status;
  const { runDaemon } = await import("./daemon/daemon.ts");
  return await runDaemon(opened.config, args.daemonize);
}

export async function main(argv: string[], progname: string): Promise<number> {
  // ctkit's `[-C FILE] ha …`: keepalived transitions (src/conntrackd/ha/).
  const ha = splitHaCommand(argv);
  if (ha) return await (await import("./ha/mod.ts")).haMain(ha.configPath, ha.rest);
  // ctkit's `[-C FILE] reload-keys`: the daemon re-reads its Authentication key files.
  const reload = splitReloadKeys(argv);
  if (reload) return await (await import("./auth/client.ts")).reloadKeysMain(reload.configPath, reload.rest);
  return await clientMain(argv, progname, { onDaemon });
}
