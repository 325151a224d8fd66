// Authenticated, replay-proof sync (ctkit's `Authentication` clause of the Sync
// section). Loaded by the daemon only when the clause is there; without it the
// dedicated links carry conntrackd 1.4.7's bytes, untouched.
import type { Config } from "../config/types.ts";
import type { AuthLog } from "./context.ts";
import { AuthContext } from "./context.ts";
import { KeyFileError } from "./keys.ts";

export { AuthContext, type AuthStats, nodeIdOf } from "./context.ts";
export { RELOAD_KEYS } from "./codes.ts";
export { checkKeyFiles, KeyFileError } from "./keys.ts";

/**
 * Reads the keys (throws KeyFileError, whose message says what is wrong with
 * which file), starts this run's session, and re-reads the keys on SIGHUP.
 */
export function openAuth(config: Config, log: AuthLog): AuthContext {
  const sync = config.sync!;
  let auth: AuthContext;
  try {
    auth = new AuthContext(sync.authentication!, sync, log);
  } catch (e) {
    if (e instanceof KeyFileError) throw new Error(`Authentication: ${e.message}`);
    throw e;
  }
  log("notice", auth.describe());
  Deno.addSignalListener("SIGHUP", () => auth.reload("SIGHUP"));
  return auth;
}
