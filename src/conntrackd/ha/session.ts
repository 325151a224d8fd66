// One control request whose reply is kept rather than printed: the HA
// transitions read the figures of ctkit's daemon and run the standard requests
// of primary-backup.sh against a reference daemon.
import { encodeRequest } from "../client/request.ts";

/** Sends `code` and returns the whole reply; null when the daemon cannot be reached. */
export async function requestText(socketPath: string, code: number): Promise<string | null> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch {
    return null;
  }
  try {
    const req = encodeRequest(code);
    for (let off = 0; off < req.length;) off += await conn.write(req.subarray(off));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        n = null;
      }
      if (!n) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(concat(chunks));
  } catch {
    return null;
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
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
