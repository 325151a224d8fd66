// A timer that fires once a period passes without activity (the protocols'
// ALIVE message after a quiet second). Marking activity only notes the time:
// the one pending timeout re-arms itself for the rest of the period when it
// finds there was activity meanwhile, so a busy sender does not pay a
// clearTimeout() and setTimeout() per transmit round.

export class IdleTimer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = 0;

  constructor(private readonly periodMs: number, private readonly fire: () => void) {}

  /** Activity now: `fire` runs `periodMs` after the last call, unless stopped. */
  touch(): void {
    this.last = performance.now();
    if (this.timer === undefined) this.arm(this.periodMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.expire(), ms);
  }

  private expire(): void {
    this.timer = undefined;
    const quiet = performance.now() - this.last;
    if (quiet < this.periodMs) this.arm(this.periodMs - quiet);
    else this.fire();
  }
}
