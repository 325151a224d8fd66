// Reading a configuration file from disk.

import { ConfigError } from "./error.ts";
import { parseConfig } from "./parser.ts";
import type { Config } from "./types.ts";

/** Reads and parses `path`; an unreadable file gives the reference's `can't open config file` error. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    // No line to point at; 0 stands for "the file as a whole".
    throw new ConfigError(path, 0, `can't open config file \`${path}'`);
  }
  return parseConfig(text, path);
}
