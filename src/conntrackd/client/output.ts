// Writes the client's output chunks (text for stdout or stderr) in order.
import { writeAll } from "../../common/output.ts";
import type { OutputChunk } from "./args.ts";

const encoder = new TextEncoder();

/** Writes chunks in order to their streams, synchronously (they are small). */
export function writeOutput(chunks: OutputChunk[]): void {
  for (const c of chunks) writeAll(c.stream === "stdout" ? Deno.stdout : Deno.stderr, encoder.encode(c.text));
}
