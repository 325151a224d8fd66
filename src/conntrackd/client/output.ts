// Writes the client's output chunks (text for stdout or stderr) in order.
import type { OutputChunk } from "./args.ts";

const encoder = new TextEncoder();

/** Writes chunks in order to their streams, synchronously (they are small). */
export function writeOutput(chunks: OutputChunk[]): void {
  for (const c of chunks) {
    const data = encoder.encode(c.text);
    const file = c.stream === "stdout" ? Deno.stdout : Deno.stderr;
    let off = 0;
    while (off < data.length) off += file.writeSync(data.subarray(off));
  }
}
