// Lookup tables built entry by entry on first use. Start-up counts for the
// short commands (keepalived scripts run them several times per failover), so
// a module must not spend its load time filling 256-entry tables that a
// `conntrack -C` never reads; after the first hit a lookup is an array index.

/** `f(i)` for small integers `i` in [0, size), each computed once. */
export function indexMemo<T>(size: number, f: (i: number) => T): (i: number) => T {
  const memo = new Array<T | undefined>(size);
  return (i: number) => {
    const v = memo[i];
    return v !== undefined ? v : (memo[i] = f(i));
  };
}
