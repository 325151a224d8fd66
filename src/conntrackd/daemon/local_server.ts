// The control socket: a UNIX stream socket where each client connection sends
// one request code (a native-endian 32-bit int) and receives text until the
// daemon closes the connection — the reference's protocol, so either side's
// client can drive either side's daemon.

/**
 * Handles one request; `send` writes to the client while the request runs (a
 * dump streams its slices), the returned chunks are sent before the connection closes.
 */
export type RequestHandler = (code: number, send: (text: string) => Promise<void>) => Promise<string[]>;

const CHUNK = 1 << 16;
const encoder = new TextEncoder();

export class LocalServer {
  private constructor(private readonly listener: Deno.Listener | null, readonly path: string) {}

  /**
   * Binds the path (an old socket file is removed first, as the reference unlinks it).
   * Without `UNIX Path` the reference's bind() autobinds to an unreachable abstract
   * address and the daemon runs on without a control socket: so does this one.
   */
  static create(path: string): LocalServer {
    if (path === "") return new LocalServer(null, path);
    try {
      Deno.removeSync(path);
    } catch { /* nothing to remove */ }
    const listener = Deno.listen({ transport: "unix", path });
    // The reference creates it under umask 0177.
    Deno.chmodSync(path, 0o600);
    return new LocalServer(listener, path);
  }

  /** Accepts connections until closed; `onReadFailed` counts connections that sent no request. */
  async serve(handle: RequestHandler, onReadFailed: () => void): Promise<void> {
    if (!this.listener) return;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.listener.accept();
      } catch {
        return; // closed
      }
      this.answer(conn, handle, onReadFailed).catch(() => {});
    }
  }

  private async answer(conn: Deno.Conn, handle: RequestHandler, onReadFailed: () => void): Promise<void> {
    try {
      const code = await readCode(conn);
      if (code === null) {
        onReadFailed();
        return;
      }
      for (const part of await handle(code, (text) => writeText(conn, text))) await writeText(conn, part);
    } finally {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }

  /** Closes the socket and removes its file. */
  close(): void {
    if (!this.listener) return;
    try {
      this.listener.close();
    } catch { /* already closed */ }
    try {
      Deno.removeSync(this.path);
    } catch { /* gone */ }
  }
}

/** The 4-byte request; null when the client closed before sending one. */
async function readCode(conn: Deno.Conn): Promise<number | null> {
  const buf = new Uint8Array(4);
  let got = 0;
  while (got < 4) {
    const n = await conn.read(buf.subarray(got));
    if (n === null || n === 0) {
      // The reference reads once: a short read is still a request (the missing bytes are zero).
      return got === 0 ? null : new DataView(buf.buffer).getInt32(0, true);
    }
    got += n;
  }
  return new DataView(buf.buffer).getInt32(0, true);
}

async function writeText(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) {
    try {
      off += await conn.write(bytes.subarray(off, Math.min(bytes.length, off + CHUNK)));
    } catch {
      return; // the client went away (EPIPE): the reference ignores it
    }
  }
}
