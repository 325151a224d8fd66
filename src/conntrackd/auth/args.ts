// Where `reload-keys` sits in conntrackd's command line (no imports: the client's
// start-up reads this file on every request).

/** Finds `reload-keys` in conntrackd's argv: it must follow nothing but `-C FILE`. */
export function splitReloadKeys(argv: string[]): { configPath: string | null; rest: string[] } | null {
  let configPath: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "-C" && i + 1 < argv.length) {
      configPath = argv[++i];
      continue;
    }
    if (argv[i] === "reload-keys") return { configPath, rest: argv.slice(i + 1) };
    return null;
  }
  return null;
}
