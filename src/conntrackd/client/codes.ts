// Request codes a conntrackd client sends over the UNIX socket (the daemon
// switches on them); the numbers are conntrackd 1.4.7's wire values.

export const CT_FLUSH_MASTER = 0;
export const CT_RESYNC_MASTER = 1;
export const CT_DUMP_INTERNAL = 16;
export const CT_DUMP_EXTERNAL = 17;
export const CT_COMMIT = 18;
/** Only used by the daemon itself; no client flag sends it. */
export const CT_FLUSH_CACHE = 19;
export const KILL = 20;
export const STATS = 21;
export const SEND_BULK = 22;
export const REQUEST_DUMP = 23;
export const CT_DUMP_INT_XML = 24;
export const CT_DUMP_EXT_XML = 25;
export const RESET_TIMERS = 26;
/** Reserved, never sent. */
export const DEBUG_INFO = 27;
export const STATS_NETWORK = 28;
export const STATS_CACHE = 29;
export const STATS_RUNTIME = 30;
export const STATS_LINK = 31;
export const STATS_RSQUEUE = 32;
export const CT_FLUSH_INT_CACHE = 33;
export const CT_FLUSH_EXT_CACHE = 34;
export const STATS_PROCESS = 35;
export const STATS_QUEUE = 36;
export const EXP_STATS = 37;
export const EXP_FLUSH_MASTER = 38;
export const EXP_RESYNC_MASTER = 39;
export const EXP_DUMP_INTERNAL = 40;
export const EXP_DUMP_EXTERNAL = 41;
export const EXP_COMMIT = 42;
export const ALL_FLUSH_MASTER = 43;
export const ALL_RESYNC_MASTER = 44;
export const ALL_FLUSH_CACHE = 45;
export const ALL_COMMIT = 46;
export const EXP_DUMP_INT_XML = 47;
export const EXP_DUMP_EXT_XML = 48;

/**
 * The value the reference leaves in its request variable when a request flag's
 * word matched nothing and no earlier flag set one (e.g. `-c aC FILE`): it is
 * sent as is.
 */
export const NO_ACTION = -1;

/**
 * ctkit's daemon writes this byte into the reply of a commit request (CT_COMMIT,
 * EXP_COMMIT, ALL_COMMIT) when it starts the commit, and once more when the
 * commit has run to its end, so that ctkit's client can tell a completed commit
 * from a daemon that died or gave up half-way (client/commit_status.ts). Both
 * clients print each received chunk up to its first NUL byte, so the mark shows
 * in neither output; 1.4.7's daemon sends nothing at all.
 */
export const COMMIT_MARK = "\0";
