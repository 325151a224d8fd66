// Runs inside a test's network namespace (tests/helpers_queue_test.ts): UDP
// datagrams to 127.0.0.1:9999 go through an iptables NFQUEUE rule into
// ctkit's queue code, which answers them; prints what was queued and what
// reached the receiving socket as one JSON line.
//   deno run -A --unstable-net nfqueue_scenario.ts <scenario> <queue>
import { NfQueue } from "../../src/conntrackd/helpers/queue.ts";
import { NF_ACCEPT, NF_DROP } from "../../src/conntrackd/helpers/queue_msg.ts";
import { NetlinkError } from "../../src/netlink/socket.ts";

const [scenario, queueArg] = Deno.args;
const queueNum = Number(queueArg);
const dec = new TextDecoder();
const enc = new TextEncoder();

const receiver = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 9999 });
const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
const delivered: string[] = [];
const receiving = (async () => {
  for await (const [data] of receiver) delivered.push(dec.decode(data));
})().catch(() => {});

async function send(names: string[]): Promise<void> {
  for (const n of names) {
    await sender.send(enc.encode(n), { transport: "udp", hostname: "127.0.0.1", port: 9999 });
  }
}

/** Payload of a queued IPv4/UDP packet. */
function payloadOf(buf: Uint8Array, off: number, len: number): string {
  const ihl = (buf[off] & 0x0f) * 4;
  return dec.decode(buf.subarray(off + ihl + 8, off + len));
}

const queued: string[] = [];
/** Answers every packet queued now: DROP for names starting with "drop", ACCEPT otherwise. */
function answer(q: NfQueue): number {
  return q.drain((buf, _v, _o, _l, p) => {
    const name = payloadOf(buf, p.payloadOff, p.payloadLen);
    queued.push(name);
    q.verdict(p.queue, p.id, name.startsWith("drop") ? NF_DROP : NF_ACCEPT);
  });
}

async function settle(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const result: Record<string, unknown> = { scenario };

switch (scenario) {
  case "verdicts": {
    const q = NfQueue.open();
    q.bind(queueNum);
    q.setParams(queueNum, {});
    await send(["accept-0", "drop-1", "accept-2", "drop-3", "accept-4", "accept-5"]);
    for (let i = 0; i < 20 && queued.length < 6; i++) {
      await q.wait(100);
      answer(q);
    }
    // The conntrack flag: refused by a kernel without the NFQUEUE conntrack glue.
    try {
      q.setParams(queueNum, { conntrack: true });
      result.conntrackFlag = "accepted";
    } catch (e) {
      result.conntrackFlag = e instanceof NetlinkError ? e.errno : String(e);
    }
    q.unbind(queueNum);
    q.close();
    break;
  }
  case "full":
  case "failopen": {
    const q = NfQueue.open();
    q.bind(queueNum);
    q.setParams(queueNum, { maxLen: 4, failOpen: scenario === "failopen" });
    // Nobody answers while ten packets arrive: the queue holds four.
    await send(names("accept", 10));
    await settle(300);
    result.beforeVerdicts = [...delivered];
    for (let i = 0; i < 10; i++) {
      await q.wait(50);
      answer(q);
    }
    q.unbind(queueNum);
    q.close();
    break;
  }
  case "unbound":
    // The rule's queue has no listener at all (with or without --queue-bypass).
    await send(names("accept", 3));
    break;
}
await settle(300);
result.queued = queued;
result.delivered = delivered.sort();
receiver.close();
sender.close();
await receiving;
console.log(JSON.stringify(result));
