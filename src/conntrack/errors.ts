// conntrack's exit statuses and its error line format (exit_error in conntrack.c).

export const VERSION = "1.4.7";
export const PREFIX = `conntrack v${VERSION} (conntrack-tools): `;

export const OTHER_PROBLEM = 1;
export const PARAMETER_PROBLEM = 2;

/**
 * Thrown to end the program the way conntrack's exit_error() does. main() prints
 * `message` with the prefix (and the "Try …" line for PARAMETER_PROBLEM) and exits.
 */
export class CtExit extends Error {
  constructor(readonly status: number, message: string, readonly stdout = "") {
    super(message);
    this.name = "CtExit";
  }
}

export function exitError(status: number, message: string): never {
  throw new CtExit(status, message);
}

/** The stderr bytes conntrack prints for an exit_error(). */
export function errorText(status: number, message: string): string {
  let s = PREFIX + message + "\n";
  if (status === PARAMETER_PROBLEM) {
    s += "Try `conntrack -h' or 'conntrack --help' for more information.\n";
  }
  return s;
}
