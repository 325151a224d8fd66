// Reading a configuration file from disk.

import { ConfigError } from "./error.ts";
import { parseConfig } from "./parser.ts";
import type { Config } from "./types.ts";

/** Reads and parses `path`; an unreadable file gives the reference's `can't open config file` error. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    // A directory opens fine for the reference; its scanner then fails reading it.
    if (e instanceof Deno.errors.IsADirectory || isDirectory(path)) {
      throw new ConfigError(path, 0, "input in flex scanner failed", 2);
    }
    // No line to point at; 0 stands for "the file as a whole".
    throw new ConfigError(path, 0, `can't open config file \`${path}'`);
  }
  return parseConfig(text, path);
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
