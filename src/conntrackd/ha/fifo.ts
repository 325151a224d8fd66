// keepalived's vrrp_notify_fifo: one line per state change, in order
// (`INSTANCE "VI_1" MASTER 100`, `GROUP "G" BACKUP 0`). The transitions are
// performed one after the other, in the order keepalived wrote them, which a
// `notify` script started per change cannot guarantee.
import { type Role, roleOf } from "./args.ts";

export interface FifoEvent {
  kind: "GROUP" | "INSTANCE";
  name: string;
  state: string;
  role: Role;
}

const LINE = /^(GROUP|INSTANCE)\s+"([^"]*)"\s+(\S+)/;

export function parseFifoLine(line: string): FifoEvent | null {
  const m = LINE.exec(line.trim());
  if (!m) return null;
  const role = roleOf(m[3]);
  return role ? { kind: m[1] as FifoEvent["kind"], name: m[2], state: m[3], role } : null;
}

/**
 * Chooses the lines that drive transitions. With `name`, only that group or
 * instance. Without, sync groups win: once a GROUP line was seen, INSTANCE lines
 * (the members') are ignored. A line that asks for the role this node already
 * has is skipped (a sync group reports its members' changes as well).
 */
export class FifoFilter {
  private groupSeen = false;
  private current: Role | undefined;

  constructor(private readonly name?: string) {}

  accept(ev: FifoEvent): boolean {
    if (this.name !== undefined) {
      if (ev.name !== this.name) return false;
    } else if (ev.kind === "GROUP") {
      this.groupSeen = true;
    } else if (this.groupSeen) {
      return false;
    }
    if (ev.role === this.current) return false;
    this.current = ev.role;
    return true;
  }
}

async function ensureFifo(path: string): Promise<void> {
  const st = await Deno.stat(path).catch(() => null);
  if (st) return;
  const out = await new Deno.Command("mkfifo", { args: ["-m", "600", path], stderr: "piped" }).output();
  if (!out.success) throw new Error(`cannot create ${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
}

/** Reads the FIFO for ever and calls `onEvent` for each accepted line, one at a time. */
export async function followFifo(
  path: string,
  filter: FifoFilter,
  onEvent: (ev: FifoEvent) => Promise<void>,
): Promise<never> {
  await ensureFifo(path);
  // Opened for writing too: the FIFO then never reports end-of-file when keepalived closes it.
  const file = await Deno.open(path, { read: true, write: true });
  const decoder = new TextDecoder();
  const buf = new Uint8Array(4096);
  let pending = "";
  for (;;) {
    const n = await file.read(buf);
    if (n === null) throw new Error(`${path}: end of file`);
    pending += decoder.decode(buf.subarray(0, n), { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const ev = parseFifoLine(line);
      if (ev && filter.accept(ev)) await onEvent(ev);
    }
  }
}
