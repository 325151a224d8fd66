// What the three sync protocols (FTFW, NOTRACK, ALARM) share with the sync
// mode: the transmit queue, the transmitter, the caches to send from.
import type { Conntrack, Expect } from "../../conntrack/model.ts";
import type { Cache, CacheObject } from "../cache/cache.ts";
import { C_OBJ_ALIVE, C_OBJ_DEAD, C_OBJ_NEW } from "../cache/cache.ts";
import type { Logger, Reply } from "../modes/mode.ts";
import type { Queue } from "./queue.ts";
import { QueueNode } from "./queue.ts";
import type { Transmitter } from "./tx.ts";
import type { MessageHeader, NetworkStats } from "./wire/mod.ts";
import { CT_DEL, CT_NEW, CT_UPD, EXP_DEL, EXP_NEW, EXP_UPD } from "./wire/mod.ts";
import type { SeqTracker } from "./sequence.ts";

/** A cache object as the queues carry it: which cache, and the object. */
export interface SyncObject {
  cache: Cache<Conntrack> | Cache<Expect>;
  obj: CacheObject<Conntrack> | CacheObject<Expect>;
  isExp: boolean;
}

/** A control message waiting in a queue; flags grow (HELLO bits) and seq changes per send. */
export interface ControlMessage {
  flags: number;
  from: number;
  to: number;
  seq: number;
}

export interface SyncContext {
  readonly tx: Transmitter;
  readonly txQueue: Queue;
  readonly seq: SeqTracker;
  readonly net: NetworkStats;
  readonly log: Logger;
  /** Every object of the internal caches (ct then expectations), for bulk sends. */
  internalObjects(): Iterable<QueueNode<SyncObject>>;
  /** Bypass mode (no internal cache): send the kernel table itself. */
  readonly bypass: boolean;
  sendKernelTable(): void;
}

export interface SyncProtocol {
  /** MSG_DATA, MSG_CTL, MSG_DROP or MSG_BAD for a received header. */
  recv(h: MessageHeader): number;
  /** Queues a cache object for transmission (takes a reference when newly queued). */
  enqueue(node: QueueNode<SyncObject>): void;
  /** Sends everything in the tx queue. */
  xmit(): void;
  /** Protocol-specific control requests (-n, -B, -s rsqueue). */
  local(code: number, reply: Reply): void;
  /** Extra ` [expires in Ns]`-style suffix support: ALARM's external cache expires entries. */
  readonly externalTimeout: boolean;
  kill(): void;
}

/** The node a cache object is queued with (created with the object). */
export function objectNode(o: SyncObject): QueueNode<SyncObject> {
  return new QueueNode("obj", o);
}

/** object_status_to_network_type */
export function messageType(o: SyncObject): number {
  const st = o.obj.status;
  if (o.isExp) return st === C_OBJ_NEW ? EXP_NEW : st === C_OBJ_ALIVE ? EXP_UPD : EXP_DEL;
  return st === C_OBJ_NEW ? CT_NEW : st === C_OBJ_ALIVE ? CT_UPD : st === C_OBJ_DEAD ? CT_DEL : CT_UPD;
}

/** Builds and sends the message for a queued object; returns its sequence number. */
export function sendObject(tx: Transmitter, o: SyncObject, flags = 0): number {
  const type = messageType(o);
  return o.isExp
    ? tx.exp(type, (o.obj as CacheObject<Expect>).value, flags)
    : tx.ct(type, (o.obj as CacheObject<Conntrack>).value, flags);
}

/** cache_object_put for whichever cache the object lives in. */
export function putObject(o: SyncObject): void {
  (o.cache as Cache<unknown>).put(o.obj as CacheObject<unknown>);
}

export function getObject(o: SyncObject): void {
  (o.cache as Cache<unknown>).get(o.obj as CacheObject<unknown>);
}
