// The `-o timestamp` line prefix conntrack prints itself (not the library).

/** "[%-.8ld.%-.6ld]\t" for conntrack events, "[%-8ld.%-6ld]\t" for expectations. */
export function timestampPrefix(expect: boolean): string {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  const sec = Math.floor(us / 1e6), usec = us % 1e6;
  return expect
    ? `[${String(sec).padEnd(8)}.${String(usec).padEnd(6)}]\t`
    : `[${String(sec).padStart(8, "0")}.${String(usec).padStart(6, "0")}]\t`;
}
