// `ctkit conntrackd [-C FILE] ha …`: the command line of the HA transitions.
// The role comes as primary-backup.sh's word or as keepalived's notify
// arguments (`GROUP|INSTANCE NAME STATE [PRIORITY]`, appended by keepalived to
// the `notify` command), or from keepalived's notify FIFO (`--fifo PATH`, the
// path appended by keepalived to a `vrrp_notify_fifo_script`).

export type Role = "primary" | "backup" | "fault";

export interface HaArgs {
  /** One transition to perform, when not in FIFO mode. */
  role?: Role;
  /** What the role was given as (e.g. `GROUP G MASTER`), for the log. */
  cause?: string;
  /** Read transitions from this FIFO until killed. */
  fifo?: string;
  /** FIFO mode: only lines about this sync group or instance. */
  name?: string;
  /** Install the guard on backup/fault (and at FIFO start), lift it after the commit. */
  guard: boolean;
  /** Append the progress lines here instead of printing them. */
  logFile?: string;
  /** Command that starts a missing daemon (`-C FILE -d` is appended). */
  daemonCommand?: string[];
}

export class HaUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HaUsageError";
  }
}

export const HA_USAGE = `Usage: ctkit conntrackd [-C FILE] ha [options] primary|backup|fault
       ctkit conntrackd [-C FILE] ha [options] GROUP|INSTANCE NAME MASTER|BACKUP|FAULT|STOP [PRIORITY]
       ctkit conntrackd [-C FILE] ha [options] --fifo PATH
Performs a keepalived state transition on the conntrackd described by FILE:
  primary   commit conntracks and expectations, flush the caches, resync with the kernel, send a bulk update
  backup    start the daemon if it is not running, purge the kernel table later (-t), ask the peer for a resync (-n)
  fault     purge the kernel table later (-t)
Options:
  --fifo PATH      follow keepalived's vrrp_notify_fifo (one transition after the other)
  --name NAME      with --fifo: only follow this sync group or instance
  --no-guard       do not drop untracked non-SYN TCP packets while backup (the guard is on by default)
  --log FILE       append the timestamped progress lines to FILE instead of printing them
  --daemon CMD     how to start a missing daemon (default: this program's conntrackd -C FILE -d)
`;

/** keepalived's states and primary-backup.sh's words. */
const ROLE_OF: Record<string, Role> = {
  MASTER: "primary",
  PRIMARY: "primary",
  BACKUP: "backup",
  FAULT: "fault",
  // keepalived stopping, or the instance removed by a reload: this node no longer forwards.
  STOP: "fault",
  DELETED: "fault",
};

export function roleOf(state: string): Role | undefined {
  return ROLE_OF[state.toUpperCase()];
}

export function parseHaArgs(argv: string[]): HaArgs {
  const args: HaArgs = { guard: true };
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new HaUsageError(`option ${a} needs a value`);
      return argv[++i];
    };
    if (a === "--fifo") args.fifo = value();
    else if (a === "--name") args.name = value();
    else if (a === "--no-guard") args.guard = false;
    else if (a === "--log") args.logFile = value();
    else if (a === "--daemon") args.daemonCommand = value().split(/\s+/).filter(Boolean);
    else if (a.startsWith("--")) throw new HaUsageError(`unknown option ${a}`);
    else words.push(a);
  }
  if (args.fifo !== undefined) {
    if (words.length) throw new HaUsageError(`--fifo takes no state (got ${words.join(" ")})`);
    return args;
  }
  if (words.length === 1) {
    args.role = roleOf(words[0]);
    args.cause = words[0];
  } else if (words.length >= 3 && /^(GROUP|INSTANCE)$/i.test(words[0])) {
    // keepalived's notify: TYPE NAME STATE [PRIORITY]
    args.role = roleOf(words[2]);
    args.cause = `${words[0].toUpperCase()} ${words[1]} ${words[2]}`;
  }
  if (!args.role) throw new HaUsageError(`unknown state transition: ${words.join(" ") || "(none)"}`);
  return args;
}

/**
 * Finds `ha` in conntrackd's argv: it must follow nothing but `-C FILE`.
 * Returns the config path (null for the default) and the words after `ha`.
 */
export function splitHaCommand(argv: string[]): { configPath: string | null; rest: string[] } | null {
  let configPath: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "-C" && i + 1 < argv.length) {
      configPath = argv[++i];
      continue;
    }
    if (argv[i] === "ha") return { configPath, rest: argv.slice(i + 1) };
    return null;
  }
  return null;
}
