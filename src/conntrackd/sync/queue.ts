// conntrackd's message queues (tx, resend, error): a node is in at most one
// queue at a time, adding a queued node is a no-op, and a full queue refuses
// with ENOSPC (counted). `-s queue` lists them newest first.

/** A queued control message (ACK, NACK, RESYNC, ALIVE) or a reference to a cache object. */
export class QueueNode<T = unknown> {
  owner: Queue | null = null;
  prev: QueueNode | null = null;
  next: QueueNode | null = null;
  /** Sequence number the node was last sent with (resend queue bookkeeping). */
  seq = 0;
  constructor(readonly kind: "ctl" | "obj", readonly data: T) {}
}

/** Control messages alive anywhere (the `allocated queue nodes` figure). */
let allocatedControl = 0;

export function newControlNode<T>(data: T): QueueNode<T> {
  allocatedControl++;
  return new QueueNode("ctl", data);
}

export function freeControlNode(_n: QueueNode): void {
  allocatedControl--;
}

/** What `-s queue` prints of a queue (the channel layer's error queue is one too). */
export interface QueueStatsSource {
  readonly name: string;
  readonly length: number;
  readonly max: number;
  readonly noSpaceErrors: number;
}

const registry: QueueStatsSource[] = [];

/** Lists a queue in `-s queue` (newest first, as the reference's list). */
export function registerQueueStats(q: QueueStatsSource): void {
  registry.unshift(q);
}

/** The listed queues, newest first, and the control nodes alive (the Prometheus endpoint's view). */
export function queueStatsView(): { queues: readonly QueueStatsSource[]; allocatedControl: number } {
  return { queues: registry, allocatedControl };
}

export function unregisterQueueStats(q: QueueStatsSource): void {
  const i = registry.indexOf(q);
  if (i >= 0) registry.splice(i, 1);
}

export class Queue implements QueueStatsSource {
  private head: QueueNode | null = null;
  private tail: QueueNode | null = null;
  length = 0;
  noSpaceErrors = 0;

  constructor(readonly name: string, readonly max: number, private readonly onFirst?: () => void) {
    registerQueueStats(this);
  }

  /** 1 added, 0 already queued somewhere, -1 full. */
  add(n: QueueNode): 1 | 0 | -1 {
    if (n.owner !== null) return 0;
    if (this.length >= this.max) {
      this.noSpaceErrors++;
      return -1;
    }
    n.owner = this;
    n.prev = this.tail;
    n.next = null;
    if (this.tail) this.tail.next = n;
    else this.head = n;
    this.tail = n;
    this.length++;
    if (this.length === 1) this.onFirst?.();
    return 1;
  }

  static remove(n: QueueNode): boolean {
    const q = n.owner;
    if (!q) return false;
    if (n.prev) n.prev.next = n.next;
    else q.head = n.next;
    if (n.next) n.next.prev = n.prev;
    else q.tail = n.prev;
    n.prev = n.next = null;
    n.owner = null;
    q.length--;
    return true;
  }

  has(n: QueueNode): boolean {
    return n.owner === this;
  }

  shift(): QueueNode | null {
    const n = this.head;
    if (n) Queue.remove(n);
    return n;
  }

  /** Visits nodes in order; the visitor may remove the current node; returning true stops. */
  iterate(visit: (n: QueueNode) => boolean | void): void {
    for (let n = this.head; n;) {
      const next = n.next;
      if (visit(n)) return;
      n = next;
    }
  }

  destroy(): void {
    unregisterQueueStats(this);
  }
}

const u12 = (n: number) => String(n >>> 0).padStart(12);

/** The `-s queue` text. */
export function formatQueueStats(): string {
  let s = `allocated queue nodes:\t\t${u12(allocatedControl)}\n\n`;
  for (const q of registry) {
    s += `queue ${q.name}:\ncurrent elements:\t\t${u12(q.length)}\n` +
      `maximum elements:\t\t${u12(q.max)}\nnot enough space errors:\t${u12(q.noSpaceErrors)}\n\n`;
  }
  // The reference formats into a 512-byte buffer.
  return s.length > 511 ? s.slice(0, 511) : s;
}
