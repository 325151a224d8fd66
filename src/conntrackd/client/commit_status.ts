// Whether a commit request (`-c`, and `ha primary` against a daemon that is
// not ctkit's) completed. 1.4.7's client exits 0 once it has sent the request,
// so a daemon that dies in the middle of the commit looks like a success; ctkit's
// client reads the end of the commit from the reply instead:
//
//   ctkit's daemon   COMMIT_MARK when it starts, COMMIT_MARK again when the
//                    commit ran to its end, then closes: two marks = completed,
//                    one = it gave up (a commit was already running) or died.
//   1.4.7's daemon   reads the request, commits, closes without a byte (seen
//                    with strace: nothing is written to the client). No mark
//                    and an orderly close = completed if the daemon still
//                    answers a `-s runtime` request right after; a daemon that
//                    died closed the connection the same way but answers nothing.
//
// A broken connection (ECONNRESET: the peer closed it without reading the
// request) never completed anything. A daemon restarted between the commit and
// the check would be taken for the one that committed: nothing in 1.4.7's
// reply tells them apart.
import { ALL_COMMIT, COMMIT_MARK, CT_COMMIT, EXP_COMMIT, STATS_RUNTIME } from "./codes.ts";
import { exchange } from "./request.ts";

const MARK = COMMIT_MARK.charCodeAt(0);

/** The requests whose completion the client checks. */
export function isCommitRequest(code: number): boolean {
  return code === CT_COMMIT || code === EXP_COMMIT || code === ALL_COMMIT;
}

/** What the client saw of a commit's reply. */
export class CommitReply {
  /** COMMIT_MARK bytes received. */
  marks = 0;
  /** The read error that ended the reply, if one did. */
  error: string | null = null;

  /** Counts the marks in a received chunk (before it is cut at its first NUL for printing). */
  see(chunk: Uint8Array): void {
    for (let i = chunk.indexOf(MARK); i !== -1; i = chunk.indexOf(MARK, i + 1)) this.marks++;
  }

  failed(e: unknown): void {
    this.error = e instanceof Error ? e.message.replace(/ \(os error \d+\)$/, "") : String(e);
  }
}

/**
 * null when the commit completed, else why it did not (the text after
 * "the commit did not complete: "). `socketPath` is asked a `-s runtime` when
 * the reply itself does not settle it.
 */
export async function commitFailure(reply: CommitReply, socketPath: string): Promise<string | null> {
  if (reply.marks >= 2) return null;
  if (reply.marks === 1) {
    return (await daemonAnswers(socketPath))
      ? "conntrackd ended the request before the end of the commit (another commit was running, or it failed: see its log)"
      : "conntrackd went away during the commit";
  }
  if (reply.error !== null) return `the connection to conntrackd broke: ${reply.error}`;
  return (await daemonAnswers(socketPath)) ? null : "conntrackd went away during the commit";
}

/** True when a daemon on `socketPath` answers a `-s runtime` request (it always has text). */
export async function daemonAnswers(socketPath: string): Promise<boolean> {
  let got = 0;
  const r = await exchange(socketPath, STATS_RUNTIME, (c) => got += c.length);
  return r !== null && r.error === null && got > 0;
}

/**
 * Sends a commit request and waits for its end, keeping nothing of the reply:
 * null when it completed, else why not. For `ha primary` against 1.4.7's daemon.
 */
export async function requestCommit(socketPath: string, code: number): Promise<string | null> {
  const reply = new CommitReply();
  const r = await exchange(socketPath, code, (c) => reply.see(c));
  if (r === null) return "can't connect: is conntrackd running?";
  if (r.error !== null) reply.failed(r.error);
  return await commitFailure(reply, socketPath);
}
