// The client side of `-o json`: the request goes to the daemon as usual (either
// daemon: the protocol and the text are conntrackd 1.4.7's), and the reply is
// converted here — `-s` texts by json_stats.ts, cache dumps line by line by
// json_dump.ts — instead of being copied to stdout.
import { CONNECT_ERROR, encodeRequest } from "./request.ts";
import { logLine } from "./usage.ts";
import { statsToJson } from "./json_stats.ts";
import { conntrackLineToJson, expectLineToJson } from "./json_dump.ts";
import { DUMP_TABLES, STATS_SECTIONS } from "./json_codes.ts";

const FLUSH_AT = 64 * 1024;
const encoder = new TextEncoder();

async function writeAll(file: { write(p: Uint8Array): Promise<number> }, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
}

/** JSON lines gathered into large writes. */
class Out {
  private text = "";
  async line(json: string): Promise<void> {
    this.text += json + "\n";
    if (this.text.length >= FLUSH_AT) await this.flush();
  }
  async flush(): Promise<void> {
    if (!this.text) return;
    const t = this.text;
    this.text = "";
    await writeAll(Deno.stdout, encoder.encode(t));
  }
}

/**
 * Sends `code` (a jsonRequest()) and prints the reply as JSON lines. The exit status is the
 * plain request's: 0 once connected, 1 with the reference's error line when the daemon
 * cannot be reached. Lines that could only be kept in "unparsed" members are counted
 * on stderr.
 */
export async function runJsonRequest(socketPath: string, code: number): Promise<number> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socketPath });
  } catch {
    await writeAll(Deno.stderr, encoder.encode(logLine("ERROR", CONNECT_ERROR)));
    return 1;
  }
  const out = new Out();
  let unparsed = 0;
  try {
    try {
      await writeAll(conn, encodeRequest(code));
    } catch {
      await writeAll(Deno.stderr, encoder.encode(logLine("ERROR", CONNECT_ERROR)));
      return 1;
    }
    const table = DUMP_TABLES.get(code);
    const dump = table === undefined ? undefined : table === "ct" ? conntrackLineToJson : expectLineToJson;
    const decoder = new TextDecoder();
    const buf = new Uint8Array(64 * 1024);
    let text = "";
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        n = null;
      }
      if (!n) break;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
      if (!dump) continue;
      // Dumps go out line by line as they arrive (a big cache is megabytes of text).
      const end = text.lastIndexOf("\n");
      if (end < 0) continue;
      for (const line of text.slice(0, end).split("\n")) {
        if (line === "") continue;
        const r = dump(line);
        unparsed += r.unparsed;
        await out.line(r.json);
      }
      text = text.slice(end + 1);
    }
    text += decoder.decode();
    if (dump) {
      for (const line of text.split("\n")) {
        if (line === "") continue;
        const r = dump(line);
        unparsed += r.unparsed;
        await out.line(r.json);
      }
    } else {
      const r = statsToJson(STATS_SECTIONS.get(code)!, text);
      unparsed += r.unparsed;
      for (const line of r.lines) await out.line(line);
    }
    await out.flush();
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) return 128 + 13;
    throw e;
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
  if (unparsed) {
    await writeAll(
      Deno.stderr,
      encoder.encode(
        `ctkit: ${unparsed} part${unparsed === 1 ? "" : "s"} of the daemon's reply not recognised, ` +
          `kept as text in "unparsed" members\n`,
      ),
    );
  }
  return 0;
}
