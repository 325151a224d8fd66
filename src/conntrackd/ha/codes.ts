// ctkit's own control requests for HA transitions. conntrackd 1.4.7 uses codes
// 0–48; these start at 100 so a reference daemon sees an unknown request, does
// nothing and answers nothing — which is how the client tells the two apart.

/** Commit conntracks and expectations (waiting for the end), flush the caches, resync with the kernel, bulk send. */
export const HA_PRIMARY = 100;
/** HA_PRIMARY, lifting the takeover guard the moment the commit is complete. */
export const HA_PRIMARY_GUARDED = 101;
/** Schedule the kernel table purge (`-t`) and ask the peer for a resync (`-n`). */
export const HA_BACKUP = 102;
/** Schedule the kernel table purge (`-t`). */
export const HA_FAULT = 103;

/** First line of every reply of ctkit's daemon to an HA request. */
export const HA_REPLY_MARKER = "ctkit-ha 1";

export function isHaRequest(code: number): boolean {
  return code >= HA_PRIMARY && code <= HA_FAULT;
}
