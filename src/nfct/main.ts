// Placeholder until the nfct issue lands: says so plainly instead of pretending.
export function main(_argv: string[], _progname: string): number {
  console.error("ctkit: 'nfct' is not implemented yet in this build");
  return 1;
}
