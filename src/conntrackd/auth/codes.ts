// ctkit's control request that re-reads the key files of authenticated sync.
// conntrackd 1.4.7 uses codes 0-48 and ctkit's HA transitions 100-103; a daemon
// that does not know this one answers nothing, which the client reports.

/** Re-read KeyFile and NextKeyFile (as SIGHUP does); the answer says what the daemon now holds. */
export const RELOAD_KEYS = 104;

/** First line of the answer of a daemon that knows RELOAD_KEYS. */
export const AUTH_REPLY_MARKER = "ctkit-auth 1";
/** Second line: `ok …` or `error …`. */
export const AUTH_REPLY_OK = "ok";
export const AUTH_REPLY_ERROR = "error";
