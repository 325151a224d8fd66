// One queued packet through its helper (the reference's nfq_queue_cb):
// checks that the kernel attached the conntrack, finds the IP and transport
// headers, runs the helper bound to the packet's queue, creates the
// expectations it asks for over ctnetlink (a failure drops the packet),
// applies NAT rewrites, and answers with a verdict that carries the rewritten
// packet, the conntrack (private data, timeout) and an attached expectation.
// Any internal failure answers a plain ACCEPT: traffic is never held up.
import type { HelperPolicy } from "../config/types.ts";
import type { MessageBuilder } from "../../netlink/builder.ts";
import { HelperCall, IPPROTO_TCP, IPPROTO_UDP, NF_DROP } from "./context.ts";
import type { CtHelper } from "./context.ts";
import { putVerdictCt, readMasterCt } from "./ct_attrs.ts";
import { type HelperExpect, putHelperExpect } from "./expect.ts";
import { applyMangles, MANGLE_ROOM } from "./nat.ts";
import { NF_ACCEPT, NFQA_CT, NFQA_EXP, NFQA_PAYLOAD, type QueuedPacket } from "./queue_msg.ts";

const ETHERTYPE_IP = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;

/** A helper as configured on one queue. */
export interface QueueBinding {
  helper: CtHelper;
  policies: readonly HelperPolicy[];
}

/** Where verdicts go (NfQueue, or a recorder in tests). */
export interface VerdictSink {
  verdict(queue: number, id: number, verdict: number, extra?: (b: MessageBuilder) => void): void;
}

/** Creates and removes expectations in the kernel (ctnetlink); create returns 0 or an errno. */
export interface ExpectSink {
  create(e: HelperExpect): number;
  remove(e: HelperExpect): void;
}

export type DispatchLog = (level: "error" | "warning" | "notice", message: string) => void;

export class DispatchStats {
  packets = 0;
  accepted = 0;
  dropped = 0;
  /** Packets let through untouched: no conntrack attached, bad headers, no helper on the queue. */
  passed = 0;
  expectsAttached = 0;
  expectsCreated = 0;
  expectFailures = 0;
  mangled = 0;
}

export class HelperDispatcher {
  readonly stats = new DispatchStats();
  private readonly call = new HelperCall();
  private readonly work = new Uint8Array(0x10000 + MANGLE_ROOM);

  constructor(
    private readonly bindings: ReadonlyMap<number, QueueBinding>,
    private readonly sink: VerdictSink,
    private readonly expects: ExpectSink,
    private readonly log: DispatchLog,
  ) {}

  /** The L4 header offset, or -1 after logging why the packet cannot be parsed (pkt_get). */
  private headers(buf: Uint8Array, off: number, len: number, hwProtocol: number): number {
    let protoff: number, proto: number;
    if (hwProtocol === ETHERTYPE_IP) {
      if (len < 20) return this.bad("no room for IPv4 header");
      if (buf[off] >> 4 !== 4) return this.bad("not IPv4, skipping");
      protoff = (buf[off] & 0x0f) * 4;
      proto = buf[off + 9];
    } else if (hwProtocol === ETHERTYPE_IPV6) {
      if (len < 40) return this.bad("no room for IPv6 header");
      if (buf[off] >> 4 !== 6) return this.bad("not IPv6, skipping");
      protoff = 40;
      proto = buf[off + 6];
    } else {
      return this.bad(`unknown layer 3 protocol (${hwProtocol}), skipping`);
    }
    if (proto === IPPROTO_TCP) {
      if (len < protoff + 20 || len < protoff + (buf[off + protoff + 12] >> 4) * 4) {
        return this.bad("no room for IPv4 + TCP header, skip");
      }
    } else if (proto === IPPROTO_UDP) {
      if (len < protoff + 8) return this.bad("no room for IPv4 + UDP header, skip");
    } else {
      return this.bad("not TCP/UDP, skipping");
    }
    return protoff;
  }

  private bad(message: string): number {
    this.log("error", message);
    return -1;
  }

  private pass(p: QueuedPacket): void {
    this.stats.passed++;
    this.sink.verdict(p.queue, p.id, NF_ACCEPT);
  }

  /** Handles one NFQNL_MSG_PACKET message (buf[off..off+len), parsed into `p`). */
  handle(buf: Uint8Array, v: DataView, _off: number, _len: number, p: QueuedPacket): void {
    this.stats.packets++;
    if (!p.hasHeader) {
      this.log("error", "problems retrieving metaheader");
      return;
    }
    if (p.payloadOff < 0) {
      this.log("error", "packet with no payload");
      return this.pass(p);
    }
    if (p.ctOff < 0 || p.ctInfo < 0) {
      this.log("error", "no CT attached to this packet");
      return this.pass(p);
    }
    const protoff = this.headers(buf, p.payloadOff, p.payloadLen, p.hwProtocol);
    const binding = this.bindings.get(p.queue);
    // Misconfiguration: no helper on this queue, accept.
    if (protoff < 0 || !binding) return this.pass(p);
    try {
      this.run(buf, v, p, protoff, binding);
    } catch (e) {
      this.log("error", `helper ${binding.helper.name}: ${e instanceof Error ? e.message : String(e)}`);
      this.pass(p);
    }
  }

  private run(buf: Uint8Array, v: DataView, p: QueuedPacket, protoff: number, binding: QueueBinding): void {
    const { helper } = binding;
    const call = this.call;
    call.helper = helper.name;
    call.policies = binding.policies;
    call.begin(p.ctInfo, helper.privLen);
    readMasterCt(buf, v, p.ctOff, p.ctLen, p.family, call.ct);
    call.loadPriv();
    this.work.set(buf.subarray(p.payloadOff, p.payloadOff + p.payloadLen));
    call.pkt.set(this.work, p.payloadLen, protoff);
    helper.run(call);
    if (call.notice) this.log("notice", call.notice);
    let verdict = call.verdict;
    const created: HelperExpect[] = [];
    for (const e of call.create) {
      if (this.expects.create(e) !== 0) {
        this.stats.expectFailures++;
        verdict = NF_DROP;
        break;
      }
      created.push(e);
      this.stats.expectsCreated++;
    }
    let mangled = false;
    if (verdict !== NF_DROP && call.mangles.length > 0) {
      mangled = applyMangles(call.pkt, call.ct.l3, call.ct.orig.proto || helper.proto, call.mangles);
      if (!mangled) {
        for (const e of created) this.expects.remove(e);
        verdict = NF_DROP;
      } else {
        this.stats.mangled++;
      }
    }
    if (verdict === NF_DROP) this.stats.dropped++;
    else this.stats.accepted++;
    if (call.attach) this.stats.expectsAttached++;
    this.sink.verdict(p.queue, p.id, verdict, (b) => {
      if (mangled) b.bytesFrom(NFQA_PAYLOAD, call.pkt.buf, call.pkt.len);
      b.nest(NFQA_CT);
      putVerdictCt(b, buf, v, p.ctOff, p.ctLen, call);
      b.endNest();
      if (call.attach) {
        b.nest(NFQA_EXP);
        putHelperExpect(b, call.attach);
        b.endNest();
      }
    });
  }
}
