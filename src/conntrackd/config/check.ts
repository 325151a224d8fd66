// `conntrackd -C FILE --check`: validate the file and print the effective
// configuration (like `nginx -t`), for main.ts to call.

import { ConfigError } from "./error.ts";
import { formatConfig } from "./format.ts";
import { loadConfig } from "./load.ts";

/** Prints the effective configuration (stdout) or the error (stderr); returns the exit status. */
export async function runCheck(path: string): Promise<number> {
  try {
    const cfg = loadConfig(path);
    for (const w of cfg.warnings) console.error(`${path}: warning: ${w}`);
    // ctkit's Authentication: the key files must be usable by the daemon.
    const auth = cfg.sync?.authentication;
    if (auth) {
      const { checkKeyFiles, KeyFileError } = await import("../auth/keys.ts");
      try {
        for (const note of checkKeyFiles(auth)) console.error(`${path}: note: Authentication: ${note}`);
      } catch (e) {
        if (!(e instanceof KeyFileError)) throw e;
        console.error(`${path}: Authentication: ${e.message}`);
        return 1;
      }
    }
    console.log(formatConfig(cfg).trimEnd());
    console.error(`${path}: configuration OK`);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(String(e));
    return 1;
  }
}
