// The one error type of the configuration module: where and what.

/** A configuration problem; `toString()` gives `file:line: what is wrong`. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
    /** Set when the reference prints the message bare (no log prefix) and exits with this status. */
    readonly bareExit?: number,
  ) {
    super(message);
    this.name = "ConfigError";
  }

  /** `file:line: message`; line 0 (the file as a whole, e.g. unreadable) is left out. */
  override toString(): string {
    return this.line > 0 ? `${this.file}:${this.line}: ${this.message}` : `${this.file}: ${this.message}`;
  }
}
