// The client half of conntrackd's UNIX socket protocol: connect, send the
// request code as one native-endian 32-bit int, copy the reply to stdout until
// the daemon closes the connection (a commit holds it open until it is done).
import { logLine } from "./usage.ts";
import { commitFailure, CommitReply, isCommitRequest } from "./commit_status.ts";

export const CONNECT_ERROR = "can't connect: is conntrackd running? appropriate permissions?";

/** The reference receives into a 1024-byte buffer, keeping one byte for a terminating NUL. */
const RECV_SIZE = 1023;
/** Reply bytes are gathered up to this size before one write to stdout (printf buffers too). */
const FLUSH_AT = 64 * 1024;

const NATIVE_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The 4 bytes of `send(fd, &request, sizeof(int))`. */
export function encodeRequest(code: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, code, NATIVE_LITTLE_ENDIAN);
  return bytes;
}

async function writeAll(file: { write(p: Uint8Array): Promise<number> }, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
}

/**
 * Sends `code` to the daemon listening on `socketPath` and copies its reply to
 * stdout. Returns the exit status: 0 once connected (whatever the daemon did),
 * 1 with the reference's error line on stderr when connecting or sending fails.
 * A commit is the exception (1.4.7 exits 0 there too): 1 with an error line
 * when the reply does not show that the commit completed (commit_status.ts).
 */
export async function runRequest(socketPath: string, code: number): Promise<number> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch {
    await writeAll(Deno.stderr, new TextEncoder().encode(logLine("ERROR", CONNECT_ERROR)));
    return 1;
  }
  try {
    try {
      await writeAll(conn, encodeRequest(code));
    } catch {
      await writeAll(Deno.stderr, new TextEncoder().encode(logLine("ERROR", CONNECT_ERROR)));
      return 1;
    }
    const commit = isCommitRequest(code) ? new CommitReply() : null;
    try {
      await copyReply(conn, commit);
    } catch (e) {
      // The reference dies of SIGPIPE when stdout goes away (e.g. `| head`);
      // Deno ignores that signal, so end quietly with the status a shell shows.
      if (e instanceof Deno.errors.BrokenPipe) return 128 + 13;
      throw e;
    }
    if (commit) {
      try {
        conn.close();
      } catch { /* already closed */ }
      const failure = await commitFailure(commit, socketPath);
      if (failure !== null) {
        await writeAll(
          Deno.stderr,
          new TextEncoder().encode(logLine("ERROR", `the commit did not complete: ${failure}`)),
        );
        return 1;
      }
    }
    return 0;
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/**
 * Copies the reply to stdout like the reference's printf("%s", buf) per recv():
 * each received chunk is cut at its first NUL byte. A read error ends the
 * reply like EOF does; `commit`, when given, sees every chunk whole and the error.
 */
async function copyReply(conn: Deno.UnixConn, commit: CommitReply | null): Promise<void> {
  const buf = new Uint8Array(RECV_SIZE);
  const pending = new Uint8Array(FLUSH_AT + RECV_SIZE);
  let used = 0;
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch (e) {
      commit?.failed(e);
      n = null;
    }
    if (n === null || n === 0) break;
    commit?.see(buf.subarray(0, n));
    const nul = buf.subarray(0, n).indexOf(0);
    const chunk = buf.subarray(0, nul === -1 ? n : nul);
    pending.set(chunk, used);
    used += chunk.length;
    if (used >= FLUSH_AT) {
      await writeAll(Deno.stdout, pending.subarray(0, used));
      used = 0;
    }
  }
  if (used > 0) await writeAll(Deno.stdout, pending.subarray(0, used));
}

/** What exchange() saw once connected (null: it could not connect). */
export interface Exchange {
  /** The request could not be sent. */
  sent: boolean;
  /** The error that ended the exchange early (sending or reading); null when the daemon closed it. */
  error: unknown;
}

/**
 * Sends `code` to the daemon on `socketPath` and hands each received chunk to
 * `onChunk` until the daemon closes the connection (or a read fails): the
 * request/reply loop of every caller that keeps the reply rather than printing it.
 */
export async function exchange(
  socketPath: string,
  code: number,
  onChunk: (chunk: Uint8Array) => void,
): Promise<Exchange | null> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch {
    return null;
  }
  try {
    try {
      await writeAll(conn, encodeRequest(code));
    } catch (e) {
      return { sent: false, error: e };
    }
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        return { sent: true, error: e };
      }
      if (!n) return { sent: true, error: null };
      onChunk(buf.subarray(0, n));
    }
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}
