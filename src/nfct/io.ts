// Output for nfct: stdout carries the objects, stderr the "nfct v1.4.7: …"
// diagnostics, written synchronously so nothing is lost when main() returns.
import { strerror } from "../../ffi/libc.ts";

/** The version nfct reports; the reference is Debian's conntrack-tools 1.4.7. */
export const VERSION = "1.4.7";

/** A piece of output: text (written as UTF-8) or raw bytes (names from the kernel). */
export type Chunk = string | Uint8Array;

const encoder = new TextEncoder();

function writeAll(target: { writeSync(p: Uint8Array): number }, chunks: Chunk[]): void {
  for (const chunk of chunks) {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    let off = 0;
    try {
      while (off < bytes.length) off += target.writeSync(bytes.subarray(off));
    } catch {
      // A closed pipe (e.g. `nfct list timeout | head -1`) is not worth a stack trace.
      return;
    }
  }
}

export function printOut(...chunks: Chunk[]): void {
  writeAll(Deno.stdout, chunks);
}

export function printErr(text: string): void {
  writeAll(Deno.stderr, [text]);
}

/** The reference's error line: the strerror() suffix appears only when errno is set. */
export function nfctError(msg: string, errno = 0): void {
  printErr(errno === 0 ? `nfct v${VERSION}: ${msg}\n` : `nfct v${VERSION}: ${msg}: ${strerror(errno)}\n`);
}

/** nfct's check on the number of words: complains and returns true when there are too many. */
export function tooManyArguments(argv: string[], max: number): boolean {
  if (argv.length <= max) return false;
  nfctError("too many arguments");
  return true;
}
