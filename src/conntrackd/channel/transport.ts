// What the channel layer (buffering, error queue, stats text) needs from a
// transport: UDP unicast, multicast or TCP, each a client socket that sends and
// a server socket that receives.
import type { ChannelKind } from "../config/types.ts";
import type { TrafficStats } from "./stats.ts";

/** Called with each received datagram (datagram transports) or run of whole messages (TCP). */
export type ReceiveVisitor = (data: Uint8Array) => void;

export interface Transport {
  readonly kind: ChannelKind;
  /** IP + transport header bytes: the MTU minus this is the largest payload one packet carries. */
  readonly headerSize: number;
  /** Failed writes are queued and retried in order (the reference's CHANNEL_F_ERRORS). */
  readonly reliable: boolean;
  readonly sent: TrafficStats;
  readonly received: TrafficStats;
  /** Socket buffer sizes as the kernel reports them after set-up (bytes, doubled by the kernel). */
  readonly sendBufferSize: number;
  readonly receiveBufferSize: number;
  /** File descriptors to watch for readability (TCP: the listener, plus the accepted peer). */
  fds(): number[];
  /** Sends one buffer; false when it did not go out. */
  send(data: Uint8Array): boolean;
  /** Reads what is queued, at most `limit` reads, never waiting; returns how many reads got data. */
  receive(visit: ReceiveVisitor, limit: number): number;
  /** TCP connection states for the stats title; null for datagram transports. */
  connectionStates(): { server: boolean; client: boolean } | null;
  close(): void;
}
