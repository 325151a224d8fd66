// `conntrackd` entry point. The client side (request flags, -h, -v) is complete;
// the daemon itself is not built yet: daemon/console mode validates the
// configuration and then says so plainly instead of pretending to run.
import { clientMain, type DaemonArgs, openClientConfig, writeOutput } from "./client/mod.ts";
import { runCheck } from "./config/mod.ts";

function onDaemon(args: DaemonArgs): number {
  writeOutput(args.output);
  if (args.check) return runCheck(args.configPath);
  const config = openClientConfig(args.configPath);
  if ("status" in config) return config.status;
  writeOutput([{
    stream: "stderr",
    text: "ctkit: conntrackd daemon mode is not implemented yet (the configuration is valid; " +
      "the client flags work against a running conntrackd)\n",
  }]);
  return 1;
}

export async function main(argv: string[], progname: string): Promise<number> {
  return await clientMain(argv, progname, { onDaemon });
}
