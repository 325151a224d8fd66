// The progress lines of the HA transitions: an ISO 8601 UTC timestamp with
// milliseconds, then the message — on stdout, or appended to a file (keepalived
// throws away what its notify scripts print).

export class HaLog {
  private readonly encoder = new TextEncoder();

  constructor(private readonly file?: string) {}

  /** One line, stamped now or at `at` (e.g. when the daemon finished a step). */
  line(message: string, at = new Date()): void {
    const text = this.encoder.encode(`${at.toISOString()} ${message}\n`);
    if (this.file === undefined) {
      for (let off = 0; off < text.length;) off += Deno.stdout.writeSync(text.subarray(off));
      return;
    }
    try {
      Deno.writeFileSync(this.file, text, { append: true, create: true, mode: 0o600 });
    } catch {
      for (let off = 0; off < text.length;) off += Deno.stderr.writeSync(text.subarray(off));
    }
  }
}
