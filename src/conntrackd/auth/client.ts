// `ctkit conntrackd [-C FILE] reload-keys`: asks the running daemon to re-read
// the key files of its Authentication clause (as SIGHUP does) and prints its
// answer. Exit status 0 when the daemon now holds the keys of the files, 1 when
// the reload failed (the daemon keeps its old keys), when the daemon has no
// Authentication, or when it does not know the request (conntrackd 1.4.7).
import { DEFAULT_CONFIG_FILE } from "../client/args.ts";
import { openClientConfig } from "../client/unix_path.ts";
import { requestText } from "../ha/session.ts";
import { AUTH_REPLY_MARKER, AUTH_REPLY_OK, RELOAD_KEYS } from "./codes.ts";

export const RELOAD_USAGE = "Usage: ctkit conntrackd [-C FILE] reload-keys\n" +
  "Makes the running daemon re-read KeyFile and NextKeyFile of its Sync section's Authentication.\n";

const enc = new TextEncoder();
const out = (s: string) => Deno.stdout.write(enc.encode(s));
const err = (s: string) => Deno.stderr.write(enc.encode(s));

export async function reloadKeysMain(configPath: string | null, rest: string[]): Promise<number> {
  if (rest.length > 0) {
    await err(`ctkit conntrackd reload-keys: unexpected argument ${rest[0]}\n${RELOAD_USAGE}`);
    return 2;
  }
  const path = configPath || DEFAULT_CONFIG_FILE;
  const opened = openClientConfig(path);
  if ("status" in opened) return opened.status;
  const reply = await requestText(opened.path, RELOAD_KEYS);
  if (reply === null) {
    await err(`ctkit conntrackd reload-keys: cannot reach the daemon at ${opened.path}: is it running?\n`);
    return 1;
  }
  const lines = reply.split("\n");
  if (lines[0] !== AUTH_REPLY_MARKER) {
    await err(
      "ctkit conntrackd reload-keys: the daemon did not answer the request: it does not know it " +
        "(conntrackd 1.4.7, or a ctkit older than Authentication); send it SIGHUP if it is ctkit\n",
    );
    return 1;
  }
  const answer = lines[1] ?? "";
  const ok = answer.startsWith(AUTH_REPLY_OK + " ");
  const text = answer.replace(/^\S+ /, "") + "\n";
  if (ok) await out(text);
  else await err(`ctkit conntrackd reload-keys: ${text}`);
  return ok ? 0 : 1;
}
