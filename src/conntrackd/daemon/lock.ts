// The daemon's lock file (conntrack-tools src/main.c). It only marks "a daemon
// runs": nothing is written to it and nothing checks whether its owner is
// still alive, so a lock left by a killed daemon keeps the next one from
// starting until an administrator removes it, exactly as with the reference.

export type LockResult = { ok: true } | { ok: false; message: string };

/**
 * open(path, O_CREAT|O_EXCL|O_TRUNC, 0600) and close it again. Any failure
 * (the file exists, a missing directory, no permission) gives the reference's
 * one message, which the caller logs as an error before exiting with 1.
 */
export function acquireLock(path: string): LockResult {
  try {
    Deno.openSync(path, { write: true, createNew: true, truncate: true, mode: 0o600 }).close();
    return { ok: true };
  } catch {
    return { ok: false, message: `lockfile \`${path}' exists, perhaps conntrackd already running?` };
  }
}

/** unlink() at shutdown or after a failed init; a lock that is already gone is no error. */
export function releaseLock(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // The reference ignores unlink()'s result too.
  }
}
