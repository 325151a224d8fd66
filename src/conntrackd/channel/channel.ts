// One dedicated link (channel.c): a transport plus the send buffer that packs
// messages into datagrams of at most MTU - headers bytes, the error queue of
// reliable transports, and the counters the stats blocks print.
import { errno } from "../../../ffi/libc.ts";
import { ENOENT } from "../../../ffi/libc_socket.ts";
import type { ChannelConfig, ChannelKind } from "../config/types.ts";
import { ErrorQueue } from "./error_queue.ts";
import { interfaceIndex, interfaceMtu, interfaceName } from "./interface.ts";
import { MulticastTransport } from "./multicast.ts";
import { ChannelOpenError, SocketCallError } from "./socket.ts";
import type { ChannelStatsSource, TrafficStats } from "./stats.ts";
import { TcpTransport } from "./tcp.ts";
import type { ReceiveVisitor, Transport } from "./transport.ts";
import { UdpTransport } from "./udp.ts";

/** The reference's default ErrorQueueLength. */
export const DEFAULT_ERROR_QUEUE_LENGTH = 128;

export interface ChannelOptions {
  /** Shared by all channels of a daemon (the reference has one global errorq). */
  errorQueue?: ErrorQueue;
  /** Monotonic milliseconds; TCP rate-limits reconnects with it. */
  now?: () => number;
  /** Wraps the opened transport (authenticated sync seals and opens records there). */
  wrap?: (transport: Transport) => Transport;
}

export class Channel implements ChannelStatsSource {
  readonly kind: ChannelKind;
  /** Largest datagram (or TCP write) the buffer packs: MTU minus IP and UDP/TCP headers. */
  readonly bufferSize: number;
  private readonly buffer: Uint8Array;
  private buffered = 0;

  constructor(
    readonly config: ChannelConfig,
    readonly ifindex: number,
    readonly mtu: number,
    readonly transport: Transport,
    readonly errorQueue: ErrorQueue,
  ) {
    this.kind = transport.kind;
    this.bufferSize = Math.max(mtu - transport.headerSize, 1);
    this.buffer = new Uint8Array(this.bufferSize);
  }

  get sent(): TrafficStats {
    return this.transport.sent;
  }

  get received(): TrafficStats {
    return this.transport.received;
  }

  /** Bytes waiting in the send buffer. */
  get pending(): number {
    return this.buffered;
  }

  /** File descriptors to poll for readability. */
  fds(): number[] {
    return this.transport.fds();
  }

  /**
   * Appends one whole message to the send buffer. When it does not fit (the
   * reference's test is strict: buffered + len < size), the buffer goes out
   * first and the message starts a new one. Returns true when something was written.
   */
  send(message: Uint8Array): boolean {
    const retrying = this.retryErrors();
    if (this.buffered + message.length < this.bufferSize) {
      this.append(message);
      return false;
    }
    if (this.buffered > 0) this.transmit(this.buffer.subarray(0, this.buffered), retrying);
    this.buffered = 0;
    // A message as large as the buffer travels alone (the reference would loop forever here).
    if (message.length < this.bufferSize) this.append(message);
    else this.transmit(message, retrying);
    return true;
  }

  /** Writes out the send buffer; false when it was empty. Called after every round of the TX queue. */
  flush(): boolean {
    const retrying = this.retryErrors();
    if (this.buffered === 0) return false;
    this.transmit(this.buffer.subarray(0, this.buffered), retrying);
    this.buffered = 0;
    return true;
  }

  /** Reads queued data without waiting (at most `limit` reads) and visits it. */
  receive(visit: ReceiveVisitor, limit: number): number {
    return this.transport.receive(visit, limit);
  }

  deviceName(): string {
    return interfaceName(this.ifindex) ?? this.config.interface ?? "";
  }

  connectionStates(): { server: boolean; client: boolean } | null {
    return this.transport.connectionStates();
  }

  close(): void {
    this.transport.close();
  }

  private append(message: Uint8Array): void {
    this.buffer.set(message, this.buffered);
    this.buffered += message.length;
  }

  /** Reliable transports: earlier failures go first, and a failed write is kept for later. */
  private transmit(data: Uint8Array, retrying: boolean): void {
    if (retrying) this.errorQueue.add(data);
    else if (!this.transport.send(data) && this.transport.reliable) this.errorQueue.add(data);
  }

  /** Retries the error queue; true while entries remain (new data must then queue behind them). */
  private retryErrors(): boolean {
    if (!this.transport.reliable || this.errorQueue.length === 0) return false;
    return this.errorQueue.drain((d) => this.transport.send(d));
  }
}

/**
 * Opens one channel as the reference's channel_open(): interface MTU and index
 * first, then the transport's client and server sockets. Throws ChannelOpenError,
 * whose message is the reference's `can't open channel socket: %s`.
 */
export function openChannel(cfg: ChannelConfig, opts: ChannelOptions = {}): Channel {
  try {
    // Without Interface the reference fails before any call; the errno it then reports is ENOENT.
    if (!cfg.interface) throw new SocketCallError(ENOENT, "Interface");
    const mtu = interfaceMtu(cfg.interface);
    const ifindex = interfaceIndex(cfg.interface);
    if (ifindex === 0) throw new SocketCallError(errno(), "if_nametoindex");
    const opened = cfg.kind === "udp"
      ? UdpTransport.open(cfg, ifindex)
      : cfg.kind === "multicast"
      ? MulticastTransport.open(cfg, ifindex)
      : TcpTransport.open(cfg, ifindex, opts.now);
    const transport = opts.wrap ? opts.wrap(opened) : opened;
    const errorQueue = opts.errorQueue ?? new ErrorQueue(DEFAULT_ERROR_QUEUE_LENGTH);
    return new Channel(cfg, ifindex, mtu, transport, errorQueue);
  } catch (e) {
    if (e instanceof SocketCallError) throw new ChannelOpenError(e.errno);
    throw e;
  }
}
