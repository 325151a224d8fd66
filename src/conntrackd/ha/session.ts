// One control request whose reply is kept rather than printed: the HA
// transitions read the figures of ctkit's daemon and run the standard requests
// of primary-backup.sh against a reference daemon.
import { exchange } from "../client/request.ts";

/** Sends `code` and returns the whole reply; null when the daemon cannot be reached. */
export async function requestText(socketPath: string, code: number): Promise<string | null> {
  const chunks: Uint8Array[] = [];
  const r = await exchange(socketPath, code, (c) => chunks.push(c.slice()));
  // A read error ends the reply like EOF; a request that could not be sent is no reply.
  return r === null || !r.sent ? null : new TextDecoder().decode(concat(chunks));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
