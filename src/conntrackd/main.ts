// Placeholder until the conntrackd issue lands: says so plainly instead of pretending.
export function main(_argv: string[], _progname: string): number {
  console.error("ctkit: 'conntrackd' is not implemented yet in this build");
  return 1;
}
