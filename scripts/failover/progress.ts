// Timed progress lines for the failover demo: seconds since the start, then
// what happened, so a person can follow the takeover as it unfolds.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const tty = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const paint = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = (s: string) => paint("1", s);
export const green = (s: string) => paint("32", s);
export const red = (s: string) => paint("31", s);
export const yellow = (s: string) => paint("33", s);

export class Progress {
  readonly start = Date.now();
  private readonly encoder = new TextEncoder();

  constructor(private readonly quiet = false) {}

  /** Seconds since the start, as printed. */
  at(t = Date.now()): string {
    return ((t - this.start) / 1000).toFixed(2).padStart(6);
  }

  line(msg: string, t = Date.now()): void {
    if (this.quiet) return;
    const text = `[${this.at(t)}s] ${msg}\n`;
    const bytes = this.encoder.encode(text);
    for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
  }

  step(msg: string): void {
    this.line(bold(msg));
  }
}

/** Bytes in a short human form. */
export function human(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
