// The client's view of a config file: the UNIX socket path to connect to, and
// what the reference prints while parsing it (warnings, or the error that stops it).
import type { OutputChunk } from "./args.ts";
import { logLine } from "./usage.ts";
import { writeOutput } from "./output.ts";
import { type Config, ConfigError, loadConfig } from "../config/mod.ts";

export interface UnixPathResult {
  /** The socket path ("" when the config has none: connecting then fails like the reference). */
  path: string;
  /** Lines printed on the way (parser warnings, or the error). */
  output: OutputChunk[];
  /** Set when the configuration is refused. */
  exitStatus?: number;
  /** The whole configuration when it was accepted (daemon mode needs it all). */
  config?: Config;
}

/** Reads the config file; null when it cannot be opened (the caller reports that). */
export function readUnixPath(configPath: string): UnixPathResult | null {
  try {
    const cfg = loadConfig(configPath);
    const output: OutputChunk[] = cfg.warnings.map((w) => ({
      stream: "stderr",
      text: logLine("warning", w),
    }));
    return { path: cfg.general.unix.path, output, config: cfg };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (e.bareExit !== undefined) {
      return { path: "", output: [{ stream: "stderr", text: e.message + "\n" }], exitStatus: e.bareExit };
    }
    // Line 0: the file could not be opened.
    if (e.line === 0) return null;
    // The reference's log-line form, with ctkit's clearer `file:line: what is wrong`.
    return { path: "", output: [{ stream: "stderr", text: logLine("ERROR", String(e)) }], exitStatus: 1 };
  }
}

/**
 * Opens the config as the reference does before anything else: prints what
 * its parser prints, and gives either the socket path or the exit status.
 */
export function openClientConfig(configPath: string): { path: string; config: Config } | { status: number } {
  const config = readUnixPath(configPath);
  if (config === null) {
    writeOutput([{ stream: "stderr", text: logLine("ERROR", `can't open config file \`${configPath}'`) }]);
    return { status: 1 };
  }
  writeOutput(config.output);
  return config.exitStatus !== undefined || !config.config
    ? { status: config.exitStatus ?? 1 }
    : { path: config.path, config: config.config };
}
