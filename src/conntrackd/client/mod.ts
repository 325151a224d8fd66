// conntrackd's command line and client mode. The integrator calls clientMain()
// from src/conntrackd/main.ts, passing the daemon's entry point as `onDaemon`.
import { type DaemonArgs, DaemonArgsExit, parseDaemonArgs } from "./args.ts";
import { runRequest } from "./request.ts";
import { usageText, versionText } from "./usage.ts";
import { openClientConfig } from "./unix_path.ts";
import { writeOutput } from "./output.ts";

export * from "./codes.ts";
export {
  CHECK_FLAG,
  type DaemonArgs,
  DaemonArgsExit,
  DEFAULT_CONFIG_FILE,
  type OutputChunk,
  parseDaemonArgs,
} from "./args.ts";
export { CONNECT_ERROR, encodeRequest, runRequest } from "./request.ts";
export { ctime, logLine, USAGE_TEXT, usageText, VERSION, versionText } from "./usage.ts";
export { openClientConfig, readUnixPath, type UnixPathResult } from "./unix_path.ts";
export { writeOutput } from "./output.ts";

export interface ClientOptions {
  /** Runs daemon/console mode (and --check); without it those modes report that they are missing. */
  onDaemon?: (args: DaemonArgs) => Promise<number> | number;
}

/**
 * Runs an already parsed request/help/version command line (its parse-time
 * output is printed first). Request mode reads the config as the reference does
 * before connecting: an unreadable file is `can't open config file` + exit 1.
 */
export async function runClient(args: DaemonArgs, progname: string): Promise<number> {
  writeOutput(args.output);
  if (args.mode === "help") {
    writeOutput([{ stream: "stdout", text: usageText(progname) }]);
    return 0;
  }
  if (args.mode === "version") {
    writeOutput([{ stream: "stdout", text: versionText() }]);
    return 0;
  }
  if (args.mode !== "request") throw new Error("runClient handles request, help and version modes only");
  const config = openClientConfig(args.configPath);
  if ("status" in config) return config.status;
  // Loaded only here: the converters are no part of a plain request's start-up.
  if (args.json) {
    return await (await import("./json_request.ts")).runJsonRequest(config.path, args.requestCode!);
  }
  return await runRequest(config.path, args.requestCode!);
}

/** `conntrackd ARGV…` as a whole: parse, then client mode here or daemon mode via `onDaemon`. */
export async function clientMain(
  argv: string[],
  progname: string,
  opts: ClientOptions = {},
): Promise<number> {
  let args: DaemonArgs;
  try {
    args = parseDaemonArgs(argv, progname);
  } catch (e) {
    if (!(e instanceof DaemonArgsExit)) throw e;
    writeOutput(e.output);
    return e.status;
  }
  if (args.mode === "daemon") {
    if (opts.onDaemon) return await opts.onDaemon(args);
    writeOutput(args.output);
    writeOutput([{ stream: "stderr", text: "ctkit: conntrackd daemon mode is not implemented yet\n" }]);
    return 1;
  }
  return await runClient(args, progname);
}
