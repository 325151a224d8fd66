// `conntrackd -C FILE --check`: validate the file and print the effective
// configuration (like `nginx -t`), for main.ts to call.

import { ConfigError } from "./error.ts";
import { formatConfig } from "./format.ts";
import { loadConfig } from "./load.ts";

/** Prints the effective configuration (stdout) or the error (stderr); returns the exit status. */
export function runCheck(path: string): number {
  try {
    const cfg = loadConfig(path);
    for (const w of cfg.warnings) console.error(`${path}: warning: ${w}`);
    console.log(formatConfig(cfg).trimEnd());
    console.error(`${path}: configuration OK`);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(String(e));
    return 1;
  }
}
