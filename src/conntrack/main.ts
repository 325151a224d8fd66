// conntrack entry (wired up as the command runner lands).
export function main(_argv: string[], _progname: string): number {
  console.error("ctkit: 'conntrack' is not implemented yet in this build");
  return 1;
}
