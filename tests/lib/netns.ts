// Throw-away network namespaces for tests: every test gets its own kernel
// conntrack table and never touches the root namespace's.

import { ctkitBin } from "../../scripts/ctkit_bin.ts";

/** The ctkit executable the tests run: CTKIT_BIN (absolute path) or the launcher scripts/ctkit. */
export const CTKIT = ctkitBin();

let counter = 0;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Netns {
  private constructor(readonly name: string) {}

  static async create(prefix = "ctk"): Promise<Netns> {
    // Unique across parallel test workers that share one pid.
    const name = `${prefix}-${Deno.pid}-${++counter}-${crypto.randomUUID().slice(0, 6)}`;
    await sh(["ip", "netns", "add", name]);
    const ns = new Netns(name);
    await ns.exec(["ip", "link", "set", "lo", "up"]);
    return ns;
  }

  /** Runs argv inside the namespace; `stdin` is written to the process if given. */
  async exec(
    argv: string[],
    opts: { stdin?: string; env?: Record<string, string> } = {},
  ): Promise<RunResult> {
    const cmd = new Deno.Command("ip", {
      args: ["netns", "exec", this.name, ...argv],
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      env: opts.env,
    });
    const child = cmd.spawn();
    if (opts.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(opts.stdin));
      await w.close();
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /** Starts a long-running process in the namespace (e.g. `conntrack -E`). */
  spawn(argv: string[]): Deno.ChildProcess {
    return new Deno.Command("ip", {
      args: ["netns", "exec", this.name, ...argv],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }

  async destroy(): Promise<void> {
    await sh(["ip", "netns", "del", this.name]).catch(() => {});
  }
}

export async function sh(argv: string[]): Promise<RunResult> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  const r = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r;
}

/** Runs `fn` with fresh namespaces and always removes them. */
export async function withNetns<T>(n: number, fn: (...ns: Netns[]) => Promise<T>): Promise<T> {
  const list: Netns[] = [];
  try {
    for (let i = 0; i < n; i++) list.push(await Netns.create());
    return await fn(...list);
  } finally {
    for (const ns of list) await ns.destroy();
  }
}
