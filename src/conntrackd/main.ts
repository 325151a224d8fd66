// `conntrackd` entry point. The client side (request flags, -h, -v) is complete;
// the daemon itself is not built yet: daemon/console mode validates the
// configuration and then says so plainly instead of pretending to run.
import { clientMain, type DaemonArgs, logLine, readUnixPath, writeOutput } from "./client/mod.ts";
import { runCheck } from "./config/mod.ts";

function onDaemon(args: DaemonArgs): number {
  writeOutput(args.output);
  if (args.check) return runCheck(args.configPath);
  const config = readUnixPath(args.configPath);
  if (config === null) {
    writeOutput([{
      stream: "stderr",
      text: logLine("ERROR", `can't open config file \`${args.configPath}'`),
    }]);
    return 1;
  }
  writeOutput(config.output);
  if (config.exitStatus !== undefined) return config.exitStatus;
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
