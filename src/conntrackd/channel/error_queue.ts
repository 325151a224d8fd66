// The error queue of reliable (TCP) channels: buffers whose write failed wait
// here and go out before any newer data, so the peer sees them in order. Full
// queue: the oldest buffer is dropped (channel.c channel_enqueue_errors).

export class ErrorQueue {
  /** Name in `conntrackd -s queue`. */
  readonly name = "errorq";
  /** `not enough space errors` in `-s queue`: adds that found the queue full. */
  noSpaceErrors = 0;
  private items: Uint8Array[] = [];
  private head = 0;

  constructor(readonly max: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Queues a copy of `data`, dropping the oldest entry when full. */
  add(data: Uint8Array): void {
    if (this.length >= this.max) {
      this.noSpaceErrors++;
      if (this.length === 0) return;
      this.head++;
    }
    this.items.push(data.slice());
    this.compact();
  }

  /** Sends from the oldest entry until `send` fails; true when entries are left. */
  drain(send: (data: Uint8Array) => boolean): boolean {
    while (this.length > 0) {
      if (!send(this.items[this.head])) break;
      this.head++;
    }
    this.compact();
    return this.length > 0;
  }

  private compact(): void {
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
  }
}
