// Differential harness for nfct: the reference /usr/sbin/nfct runs in one fresh
// namespace and ctkit's nfct in a twin; every step must give the same stdout,
// stderr and exit status, and at the end the two namespaces must hold the same
// timeout policies (as the reference itself lists them).
import { CTKIT, type Netns, withNetns } from "./lib/netns.ts";

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

// windows-1252 maps every byte to its own character, so comparisons stay byte-exact.
const bytesAsText = new TextDecoder("windows-1252");

/** Runs argv in the namespace and keeps the raw output bytes. */
export async function run(ns: Netns, argv: string[], env?: Record<string, string>): Promise<Outcome> {
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", ns.name, ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  return { code: out.code, stdout: bytesAsText.decode(out.stdout), stderr: bytesAsText.decode(out.stderr) };
}

export class Twin {
  /** Number of nfct invocations compared so far (both sides count as one). */
  compared = 0;

  constructor(readonly ref: Netns, readonly kit: Netns) {}

  /** Runs `nfct args…` on both sides and requires identical results. */
  async nfct(...args: string[]): Promise<Outcome> {
    return await this.compare(["nfct", ...args], [CTKIT, "nfct", ...args], args);
  }

  /** Like nfct() with explicit command lines for each side (e.g. a symlink). */
  async compare(
    refArgv: string[],
    kitArgv: string[],
    label: string[],
    env?: Record<string, string>,
  ): Promise<Outcome> {
    const [want, got] = await Promise.all([run(this.ref, refArgv, env), run(this.kit, kitArgv, env)]);
    this.compared++;
    assertSame(got, want, `nfct ${label.map(show).join(" ")}`);
    return want;
  }

  /** Runs the same setup command on both sides; it must succeed. */
  async both(argv: string[]): Promise<[Outcome, Outcome]> {
    const results = await Promise.all([run(this.ref, argv), run(this.kit, argv)]);
    for (const r of results) {
      if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr}`);
    }
    return results as [Outcome, Outcome];
  }

  /** The policies left in each namespace, listed by the reference, must match. */
  async assertSameState(): Promise<void> {
    const [want, got] = await Promise.all([
      run(this.ref, ["nfct", "list", "timeout"]),
      run(this.kit, ["nfct", "list", "timeout"]),
    ]);
    assertSame(got, want, "final state (reference `nfct list timeout` in each namespace)");
  }
}

function show(arg: string): string {
  return /^[\w.,:=+-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

function assertSame(got: Outcome, want: Outcome, what: string): void {
  const diffs: string[] = [];
  for (const key of ["code", "stdout", "stderr"] as const) {
    if (got[key] !== want[key]) {
      diffs.push(
        `  ${key}:\n    reference: ${JSON.stringify(want[key])}\n    ctkit:     ${JSON.stringify(got[key])}`,
      );
    }
  }
  if (diffs.length) throw new Error(`${what} differs from the reference:\n${diffs.join("\n")}`);
}

/** Gives `fn` a fresh pair of namespaces and checks the final state afterwards. */
export async function twin(fn: (t: Twin) => Promise<void>): Promise<void> {
  await withNetns(2, async (ref, kit) => {
    const t = new Twin(ref, kit);
    await fn(t);
    await t.assertSameState();
  });
}
