// The benchmark scripts' way of running a command: its output, exit status and wall time.

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

/** Runs argv (stdin given as text, or none) and collects its output. */
export async function runCommand(argv: string[], stdin?: string): Promise<CommandResult> {
  const t0 = performance.now();
  const p = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await p.output();
  const d = new TextDecoder();
  return { code: o.code, stdout: d.decode(o.stdout), stderr: d.decode(o.stderr), ms: performance.now() - t0 };
}

/** The median of the samples that are numbers (NaN marks a failed run); NaN when none is. */
export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The CPU model for the benchmark's header line. */
export function cpuModel(): string {
  try {
    const m = /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"));
    return m ? m[1] : "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}
