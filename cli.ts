// ctkit entry point: dispatches on the subcommand (`ctkit conntrack …`) or on the
// name it was started under (a symlink called conntrack, conntrackd or nfct).
import { FfiLoadError } from "./ffi/load.ts";

type Main = (argv: string[], progname: string) => Promise<number> | number;

const TOOLS: Record<string, () => Promise<Main>> = {
  conntrack: async () => (await import("./src/conntrack/main.ts")).main,
  conntrackd: async () => (await import("./src/conntrackd/main.ts")).main,
  nfct: async () => (await import("./src/nfct/main.ts")).main,
};

/** argv[0] as the process was started: the launcher exports it, a compiled binary reads /proc. */
function invokedAs(): string {
  const fromLauncher = Deno.env.get("CTKIT_ARGV0");
  if (fromLauncher) return fromLauncher;
  try {
    const cmdline = Deno.readTextFileSync("/proc/self/cmdline");
    return cmdline.slice(0, cmdline.indexOf("\0")) || "ctkit";
  } catch {
    return "ctkit";
  }
}

const USAGE = `ctkit — netfilter's conntrack-tools rebuilt in TypeScript

Usage: ctkit conntrack [options]     (same as conntrack(8))
       ctkit conntrackd [options]    (same as conntrackd(8))
       ctkit nfct command subsystem  (same as nfct(8))

Installed as a symlink named conntrack, conntrackd or nfct, ctkit behaves as that tool.
`;

async function run(): Promise<number> {
  const argv0 = invokedAs();
  const name = argv0.split("/").pop()!;
  let args = Deno.args;
  let tool = TOOLS[name] ? name : undefined;
  // Through a symlink the tools print argv[0] as given (e.g. /usr/sbin/conntrack);
  // as `ctkit conntrack` they print the tool's name.
  let progname = argv0;
  if (!tool) {
    const sub = args[0];
    if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
      await Deno.stdout.write(new TextEncoder().encode(USAGE));
      return sub === undefined ? 1 : 0;
    }
    if (!TOOLS[sub]) {
      await Deno.stderr.write(new TextEncoder().encode(`ctkit: unknown tool '${sub}'\n${USAGE}`));
      return 1;
    }
    tool = sub;
    progname = sub;
    args = args.slice(1);
  }
  const main = await TOOLS[tool]();
  return await main(args, progname);
}

try {
  Deno.exit(await run());
} catch (e) {
  if (e instanceof FfiLoadError) {
    console.error(`ctkit: ${e.message}`);
    Deno.exit(1);
  }
  throw e;
}
