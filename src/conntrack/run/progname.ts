// Finds the program behind a netlink port id, for the " [USERSPACE] portid=N
// progname=X" suffix of events (/proc/net/netlink, then /proc/*/fd sockets).

const NETLINK_NETFILTER = 12;
let lastKey = "";
let lastName: string | undefined;

function commOf(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const open = stat.indexOf("(");
    const close = stat.indexOf(")", open + 1);
    // fscanf("%*u (%m[^)]") stops at the first ')' and needs at least one char.
    if (open < 0 || close <= open + 1) return undefined;
    return stat.slice(open + 1, close);
  } catch {
    return undefined;
  }
}

function pidOwnsInode(pid: number, inode: string): boolean {
  try {
    for (const ent of Deno.readDirSync(`/proc/${pid}/fd`)) {
      if (!ent.isSymlink) continue;
      try {
        if (Deno.readLinkSync(`/proc/${pid}/fd/${ent.name}`) === `socket:[${inode}]`) return true;
      } catch { /* fd closed meanwhile */ }
    }
  } catch { /* process gone or not ours to read */ }
  return false;
}

function nameByPortid(portid: number, inode: string): string | undefined {
  // Most netlink users take their pid as the first port id.
  if (pidOwnsInode(portid, inode)) return commOf(portid);
  try {
    for (const ent of Deno.readDirSync("/proc")) {
      if (!ent.isDirectory || !/^\d+$/.test(ent.name)) continue;
      const pid = Number(ent.name);
      if (pid <= 1 || pid === portid) continue;
      if (pidOwnsInode(pid, inode)) return commOf(pid);
    }
  } catch { /* no /proc */ }
  return undefined;
}

// /proc/net/netlink is re-read when older than this, or when the port is not in
// it: a burst of events from one process costs one read, not one per event.
const TABLE_TTL_MS = 100;
let table: string | undefined;
let tableAt = -Infinity;

function readTable(): string | undefined {
  try {
    table = Deno.readTextFileSync("/proc/net/netlink");
    tableAt = performance.now();
  } catch {
    table = undefined;
  }
  return table;
}

/** The socket inode of a NETLINK_NETFILTER port id in the table, if listed. */
function inodeOf(text: string, portid: number): string | undefined {
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && Number(f[1]) === NETLINK_NETFILTER && Number(f[2]) >>> 0 === portid) return f[9];
  }
  return undefined;
}

/**
 * Names looked up for the port ids of the batch being printed, resolved when
 * the batch arrived: the process behind an event is often short-lived (a
 * `conntrack -F` exits right after its flush), and printing a batch takes long
 * enough for it to be gone by the time its event's turn comes.
 */
const prefetched = new Map<number, string | undefined>();

/** Resolves the port ids of a batch of events now, before any of them is printed. */
export function prefetchPrognames(portids: Iterable<number>): void {
  prefetched.clear();
  let text: string | undefined;
  for (const portid of portids) {
    if (portid === 0 || prefetched.has(portid)) continue;
    text ??= readTable();
    if (text === undefined) return;
    const inode = inodeOf(text, portid);
    prefetched.set(portid, inode === undefined ? undefined : nameByPortid(portid, inode));
  }
}

export function prognameOf(portid: number): string | undefined {
  if (prefetched.has(portid)) return prefetched.get(portid);
  const cached = table !== undefined && performance.now() - tableAt <= TABLE_TTL_MS;
  let text = cached ? table : readTable();
  if (text === undefined) return undefined;
  let inode = inodeOf(text, portid);
  if (inode === undefined && cached) {
    text = readTable();
    inode = text === undefined ? undefined : inodeOf(text, portid);
  }
  if (inode === undefined) return undefined;
  const key = `${portid}:${inode}`;
  if (key !== lastKey) {
    lastName = nameByPortid(portid, inode);
    lastKey = key;
  }
  return lastName;
}
