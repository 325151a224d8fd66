// The control socket: a UNIX stream socket where each client connection sends
// one request code (a native-endian 32-bit int) and receives text until the
// daemon closes the connection — the reference's protocol, so either side's
// client can drive either side's daemon.
//
// Unlike the reference, which reads each request in its main loop (one client
// that connects and sends nothing stalls the whole daemon until it leaves),
// connections are served side by side; one that sends no request within
// IDLE_TIMEOUT_MS is dropped, and accept() failures such as EMFILE are waited
// out rather than ending the service.
import { libcProcess } from "../../../ffi/libc_process.ts";

/**
 * Handles one request; `send` writes to the client while the request runs (a
 * dump streams its slices), the returned chunks are sent before the connection closes.
 */
export type RequestHandler = (code: number, send: (text: string) => Promise<void>) => Promise<string[]>;

export interface ServeOptions {
  /** Counts a connection that sent no request: closed first, or silent for `idleTimeoutMs`. */
  onReadFailed: () => void;
  /**
   * Log lines about accept() failures ("warning") and the recovery from them ("notice"), already
   * rate-limited: at most two per ACCEPT_LOG_INTERVAL_MS.
   */
  onAcceptLog?: (prio: "warning" | "notice", message: string) => void;
  /** How long a connection may stay without sending its request (default IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
}

/** The reference's client sends its 4 bytes right after connecting; a silent connection is dropped after this. */
export const IDLE_TIMEOUT_MS = 5000;
/** accept() failures are retried after a pause that doubles from the first to the last value. */
const ACCEPT_RETRY_MS = [10, 500] as const;
/** At most one log line about accept() failures per this interval. */
export const ACCEPT_LOG_INTERVAL_MS = 10_000;

const CHUNK = 1 << 16;
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class LocalServer {
  private closed = false;

  private constructor(private readonly listener: Deno.Listener | null, readonly path: string) {}

  /**
   * Binds the path (an old socket file is removed first, as the reference unlinks it).
   * Without `UNIX Path` the reference's bind() autobinds to an unreachable abstract
   * address and the daemon runs on without a control socket: so does this one.
   *
   * The socket file is created with mode 0600 from the start: bind() runs under
   * umask 0177, as the reference's does, and the caller's umask is restored right after.
   */
  static create(path: string): LocalServer {
    if (path === "") return new LocalServer(null, path);
    try {
      Deno.removeSync(path);
    } catch { /* nothing to remove */ }
    const previous = libcProcess().umask(0o177);
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ transport: "unix", path });
    } finally {
      libcProcess().umask(previous);
    }
    return new LocalServer(listener, path);
  }

  /** Accepts connections until closed. */
  async serve(handle: RequestHandler, opts: ServeOptions): Promise<void> {
    if (!this.listener) return;
    const idleMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    const failures = new AcceptFailures(opts.onAcceptLog);
    let retryMs: number = ACCEPT_RETRY_MS[0];
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.listener.accept();
      } catch (e) {
        if (this.closed || e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) {
          return;
        }
        // EMFILE, ENFILE, ENOBUFS, ECONNABORTED…: the listener is fine, this attempt was not.
        failures.failed(e);
        await sleep(retryMs);
        retryMs = Math.min(retryMs * 2, ACCEPT_RETRY_MS[1]);
        continue;
      }
      retryMs = ACCEPT_RETRY_MS[0];
      failures.recovered();
      this.answer(conn, handle, opts.onReadFailed, idleMs).catch(() => {});
    }
  }

  private async answer(
    conn: Deno.Conn,
    handle: RequestHandler,
    onReadFailed: () => void,
    idleMs: number,
  ): Promise<void> {
    try {
      const code = await readCode(conn, idleMs);
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
    this.closed = true;
    try {
      this.listener.close();
    } catch { /* already closed */ }
    try {
      Deno.removeSync(this.path);
    } catch { /* gone */ }
  }
}

/**
 * The log lines about accept() failures: the first failure at once, later ones
 * at most once per ACCEPT_LOG_INTERVAL_MS with the count since the last line,
 * and the recovery after a reported failure. Only the error's message is read:
 * with no descriptor left, formatting an Error object in full can fail too
 * (Deno 2.9 panics printing one under EMFILE).
 */
class AcceptFailures {
  /** Failures since the last accepted connection. */
  private run = 0;
  /** Failures not in a log line yet. */
  private unlogged = 0;
  private lastLog = -Infinity;
  /** A failure of the current run was logged: its end will be. */
  private reported = false;

  constructor(private readonly log?: (prio: "warning" | "notice", message: string) => void) {}

  failed(e: unknown): void {
    this.run++;
    this.unlogged++;
    const now = performance.now();
    if (now - this.lastLog < ACCEPT_LOG_INTERVAL_MS) return;
    const more = this.unlogged > 1 ? ` (${this.unlogged} failures since the last report)` : "";
    this.log?.("warning", `can't accept a connection on the unix socket: ${osMessage(e)}, retrying${more}`);
    this.lastLog = now;
    this.unlogged = 0;
    this.reported = true;
  }

  recovered(): void {
    if (this.run === 0) return;
    if (this.reported) {
      this.log?.("notice", `unix socket: accepting connections again after ${this.run} failed attempts`);
    }
    this.run = 0;
    this.reported = false;
  }
}

/** strerror()'s text of a Deno I/O error ("Too many open files (os error 24)" -> "Too many open files"). */
function osMessage(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/ \(os error \d+\)$/, "");
}

/**
 * The 4-byte request; null when the client closed before sending one, or sent
 * nothing for `idleMs` (the connection is closed then).
 */
async function readCode(conn: Deno.Conn, idleMs: number): Promise<number | null> {
  const buf = new Uint8Array(4);
  let got = 0;
  let idle = false;
  const timer = setTimeout(() => {
    idle = true;
    try {
      conn.close(); // ends the pending read
    } catch { /* already closed */ }
  }, idleMs);
  try {
    while (got < 4) {
      let n: number | null;
      try {
        n = await conn.read(buf.subarray(got));
      } catch (e) {
        if (idle) return null;
        throw e;
      }
      if (n === null || n === 0) {
        // The reference reads once: a short read is still a request (the missing bytes are zero).
        return got === 0 || idle ? null : new DataView(buf.buffer).getInt32(0, true);
      }
      got += n;
    }
  } finally {
    clearTimeout(timer);
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
