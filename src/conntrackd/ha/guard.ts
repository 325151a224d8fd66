// The takeover guard. While a node is backup (or faulty), TCP packets that are
// not SYNs and have no conntrack entry are dropped in mangle PREROUTING, before
// a loose pick-up, NAT or the local stack can act on them. Without it a firewall
// that has just raised the virtual IPs but not yet committed the synced state
// resets or mis-NATs the connections it is taking over (keepalived issue #2254);
// with it those packets are lost and retransmitted once the state is there.
//
// The guard is one rule in a chain of its own (jumped to from PREROUTING), for
// IPv4 and IPv6: installing fills the chain, lifting flushes it.

export const GUARD_CHAIN = "CTKIT-HA-GUARD";
const GUARD_RULE = "-p tcp ! --syn -m conntrack --ctstate NEW,INVALID -j DROP";

interface Family {
  tool: string;
  restore: string;
}

const FAMILIES: Family[] = [
  { tool: "iptables", restore: "iptables-restore" },
  { tool: "ip6tables", restore: "ip6tables-restore" },
];

/** Absolute path of a netfilter tool: scripts run by keepalived may have a short PATH. */
function toolPath(name: string): string {
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not there */ }
  }
  return name;
}

async function run(argv: string[], stdin?: string): Promise<{ ok: boolean; err: string }> {
  try {
    const child = new Deno.Command(toolPath(argv[0]), {
      args: argv.slice(1),
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
    }
    const out = await child.output();
    return { ok: out.success, err: new TextDecoder().decode(out.stderr).trim() };
  } catch (e) {
    return { ok: false, err: e instanceof Error ? e.message : String(e) };
  }
}

async function installFamily(f: Family): Promise<string | null> {
  // Declaring the chain creates it or empties it; then the one rule goes in.
  const fill = `*mangle\n:${GUARD_CHAIN} - [0:0]\n-A ${GUARD_CHAIN} ${GUARD_RULE}\nCOMMIT\n`;
  const filled = await run([f.restore, "-w", "--noflush"], fill);
  if (!filled.ok) return `${f.restore}: ${filled.err}`;
  const jump = ["PREROUTING", "-j", GUARD_CHAIN];
  if ((await run([f.tool, "-w", "-t", "mangle", "-C", ...jump])).ok) return null;
  const inserted = await run([f.tool, "-w", "-t", "mangle", "-I", ...jump]);
  return inserted.ok ? null : `${f.tool}: ${inserted.err}`;
}

async function liftFamily(f: Family): Promise<string | null> {
  const r = await run([f.tool, "-w", "-t", "mangle", "-F", GUARD_CHAIN]);
  // No chain: the guard was never installed in this family, so there is nothing to lift.
  if (r.ok || /No chain|does not exist/i.test(r.err)) return null;
  return `${f.tool}: ${r.err}`;
}

/** Installs the guard for IPv4 and IPv6; returns the errors (empty when both are in place). */
export async function installGuard(): Promise<string[]> {
  const errs = await Promise.all(FAMILIES.map(installFamily));
  return errs.filter((e): e is string => e !== null);
}

/** Lifts the guard for IPv4 and IPv6 at once; returns the errors. */
export async function liftGuard(): Promise<string[]> {
  const errs = await Promise.all(FAMILIES.map(liftFamily));
  return errs.filter((e): e is string => e !== null);
}

/** Whether the IPv4 guard rule is in place (for status output and tests). */
export async function guardActive(): Promise<boolean> {
  return (await run(["iptables", "-w", "-t", "mangle", "-C", GUARD_CHAIN, ...GUARD_RULE.split(" ")])).ok;
}
