// ctkit entry point: dispatches on the subcommand (`ctkit conntrack …`) or on the
// name it was started under (a symlink called conntrack, conntrackd or nfct).
//
// Start-up is most of what a short command costs, so this file stays small and
// loads one tool's code only. It has no top-level await and leaves through one
// turn of the event loop: Deno stores a module's V8 code cache after its
// evaluation has finished, and a Deno.exit() before that turn would lose it,
// making every run compile its code again. The turn is an awaited no-op write,
// not a timer: the first setTimeout() loads Deno's Node.js timers (~6 ms).
import { FfiLoadError } from "./ffi/load.ts";

type Main = (argv: string[], progname: string) => Promise<number> | number;

const TOOLS: Record<string, () => Promise<Main>> = {
  conntrack: async () => (await import("./src/conntrack/main.ts")).main,
  conntrackd: async () => (await import("./src/conntrackd/main.ts")).main,
  nfct: async () => (await import("./src/nfct/main.ts")).main,
};

/** argv[0] as the process was started: the launchers export it, a compiled binary reads /proc. */
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
       ctkit --version

Installed as a symlink named conntrack, conntrackd or nfct, ctkit behaves as that tool.
`;

function write(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}

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
      write(Deno.stdout, USAGE);
      return sub === undefined ? 1 : 0;
    }
    if (sub === "--version" || sub === "-V") {
      const { buildInfo, versionText } = await import("./src/version.ts");
      write(Deno.stdout, versionText(buildInfo(import.meta.url)));
      return 0;
    }
    if (!TOOLS[sub]) {
      write(Deno.stderr, `ctkit: unknown tool '${sub}'\n${USAGE}`);
      return 1;
    }
    tool = sub;
    progname = sub;
    args = args.slice(1);
  }
  const main = await TOOLS[tool]();
  return await main(args, progname);
}

/** One pass through the event loop, for the code cache (see above). */
async function loopTurn(): Promise<void> {
  try {
    await Deno.stdout.write(new Uint8Array(0));
  } catch { /* stdout closed: nothing to wait for */ }
}

run().then(
  async (status) => {
    await loopTurn();
    Deno.exit(status);
  },
  (e) => {
    if (!(e instanceof FfiLoadError)) throw e;
    console.error(`ctkit: ${e.message}`);
    Deno.exit(1);
  },
);
