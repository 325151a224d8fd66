// A Transport that seals what the channel sends and opens what it receives,
// wrapped around the UDP, multicast or TCP transport by openChannel() when the
// Sync section has `Authentication`. The channel sees a transport whose
// packets are RECORD_OVERHEAD bytes smaller, so a record still fits the MTU.
import type { ChannelKind } from "../config/types.ts";
import type { TrafficStats } from "../channel/stats.ts";
import type { ReceiveVisitor, Transport } from "../channel/transport.ts";
import { RECORD_OVERHEAD } from "./record.ts";

/** What the transport needs of the daemon's authentication state (context.ts). */
export interface RecordSealer {
  /** The record carrying `body`, or null when it cannot be sealed (too long). */
  seal(body: Uint8Array): Uint8Array | null;
  /** Visits the body of every record in `data` that is accepted; counts and logs the rest. */
  open(data: Uint8Array, visit: ReceiveVisitor): void;
}

export class AuthTransport implements Transport {
  readonly headerSize: number;

  constructor(readonly inner: Transport, private readonly sealer: RecordSealer) {
    this.headerSize = inner.headerSize + RECORD_OVERHEAD;
  }

  get kind(): ChannelKind {
    return this.inner.kind;
  }
  get reliable(): boolean {
    return this.inner.reliable;
  }
  get sent(): TrafficStats {
    return this.inner.sent;
  }
  get received(): TrafficStats {
    return this.inner.received;
  }
  get sendBufferSize(): number {
    return this.inner.sendBufferSize;
  }
  get receiveBufferSize(): number {
    return this.inner.receiveBufferSize;
  }

  fds(): number[] {
    return this.inner.fds();
  }

  /** Seals `data` into a record with the next counter; a retried buffer gets a new one. */
  send(data: Uint8Array): boolean {
    const record = this.sealer.seal(data);
    if (record === null) {
      this.inner.sent.errors++;
      return false;
    }
    return this.inner.send(record);
  }

  receive(visit: ReceiveVisitor, limit: number): number {
    return this.inner.receive((data) => this.sealer.open(data, visit), limit);
  }

  connectionStates(): { server: boolean; client: boolean } | null {
    return this.inner.connectionStates();
  }

  close(): void {
    this.inner.close();
  }
}
