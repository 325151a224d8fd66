// What every ctkit entry does around a tool's main: pick the tool by the name
// the program runs under (a symlink called conntrack, conntrackd or nfct) or
// by its first argument (`ctkit conntrack …`), run it, report a missing C
// library in one line, and leave.
//
// cli.ts runs this with all three tools loaded on demand; the launchers run a
// bundle of one tool (src/entry/<tool>.ts) when they can tell which from the
// command line, since one file of code loads measurably faster than a module
// graph split into chunks.
//
// It leaves through one turn of the event loop: Deno stores a module's V8 code
// cache after its evaluation has finished, and a Deno.exit() before that turn
// would lose it, making every run compile its code again. The turn is an
// awaited no-op write, not a timer: the first setTimeout() loads Deno's
// Node.js timers (~6 ms).
import { FfiLoadError } from "../../ffi/load.ts";

export type Main = (argv: string[], progname: string) => Promise<number> | number;
export type Tools = Record<string, () => Promise<Main> | Main>;

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

async function dispatch(tools: Tools, entryUrl: string): Promise<number> {
  const argv0 = invokedAs();
  const name = argv0.split("/").pop()!;
  let args = Deno.args;
  let tool = tools[name] ? name : undefined;
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
      const { buildInfo, versionText } = await import("../version.ts");
      write(Deno.stdout, versionText(buildInfo(entryUrl)));
      return 0;
    }
    if (!tools[sub]) {
      write(Deno.stderr, `ctkit: unknown tool '${sub}'\n${USAGE}`);
      return 1;
    }
    tool = sub;
    progname = sub;
    args = args.slice(1);
  }
  const main = await tools[tool]();
  return await main(args, progname);
}

/** One pass through the event loop, for the code cache (see above). */
async function loopTurn(): Promise<void> {
  try {
    await Deno.stdout.write(new Uint8Array(0));
  } catch { /* stdout closed: nothing to wait for */ }
}

/** Runs the tool the command line names and exits with its status. */
export function runCli(tools: Tools, entryUrl: string): void {
  dispatch(tools, entryUrl).then(
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
}
