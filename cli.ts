// ctkit entry point: dispatches on the subcommand (`ctkit conntrack …`) or on the
// name it was started under (a symlink called conntrack, conntrackd or nfct);
// each tool's code is loaded only when it runs (src/entry/run.ts).
import { runCli } from "./src/entry/run.ts";

runCli({
  conntrack: async () => (await import("./src/conntrack/main.ts")).main,
  conntrackd: async () => (await import("./src/conntrackd/main.ts")).main,
  nfct: async () => (await import("./src/nfct/main.ts")).main,
}, import.meta.url);
