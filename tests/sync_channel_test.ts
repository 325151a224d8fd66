// conntrackd's dedicated links (src/conntrackd/channel/): UDP, multicast and
// TCP transports, datagram packing, socket options, link failover and the stats
// text, between throw-away network namespaces joined by veth pairs. The test
// process stays in the root namespace, so each end runs in a small agent (a Deno
// child started with `ip netns exec`) that the test drives over stdin/stdout.
// The last tests put the reference conntrackd (1.4.7, console mode, inside a
// namespace) on the other end of the link.
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert";
import { type Netns, sh, withNetns } from "./lib/netns.ts";
import type { ChannelConfig, SyncConfig } from "../src/conntrackd/config/types.ts";
import {
  type ChannelStatsSource,
  ErrorQueue,
  formatChannelStats,
  formatLinkStats,
  linkStatus,
  StreamDeframer,
  TrafficStats,
  type Transport,
  wholeMessages,
} from "../src/conntrackd/channel/mod.ts";
import { Channel as ChannelClass } from "../src/conntrackd/channel/channel.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const MOD = `file://${ROOT}/src/conntrackd/channel/mod.ts`;

// ---------------------------------------------------------------------------
// Messages: a sync header (version 1 in the high nibble, type in the low one,
// flags, BE length, BE seq) and a payload pattern that reveals corruption.

function message(type: number, flags: number, len: number, seq: number): Uint8Array {
  const m = new Uint8Array(len);
  const v = new DataView(m.buffer);
  m[0] = 0x10 | type;
  m[1] = flags;
  v.setUint16(2, len);
  v.setUint32(4, seq);
  for (let i = 8; i < len; i++) m[i] = (seq + i) & 0xff;
  return m;
}

// ---------------------------------------------------------------------------
// Units without sockets.

Deno.test("stream: whole messages are handed on, a partial tail is kept", () => {
  const msgs = [
    message(0, 0, 40, 1),
    message(10, 0x08, 16, 2),
    message(1, 0, 200, 3),
    message(10, 0x10, 8, 4),
  ];
  const stream = new Uint8Array(msgs.reduce((n, m) => n + m.length, 0));
  let off = 0;
  for (const m of msgs) stream.set(m, off), off += m.length;
  // every split into two and three reads gives the same messages
  for (let a = 0; a <= stream.length; a++) {
    for (const b of [a, Math.min(stream.length, a + 7), Math.min(stream.length, a + 33)]) {
      const d = new StreamDeframer();
      const got: number[] = [];
      const visit = (chunk: Uint8Array) => {
        for (let p = 0; p < chunk.length;) {
          const len = (chunk[p + 2] << 8) | chunk[p + 3];
          got.push(new DataView(chunk.buffer, chunk.byteOffset + p).getUint32(4));
          assertEquals(chunk.slice(p, p + len), msgs[got.length - 1]);
          p += len;
        }
      };
      for (const [s, e] of [[0, a], [a, b], [b, stream.length]]) {
        d.space().set(stream.subarray(s, e));
        d.push(e - s, visit);
      }
      assertEquals(got, [1, 2, 3, 4], `split at ${a}/${b}`);
      assertEquals(d.pending, 0);
    }
  }
});

Deno.test("stream: the reference's size checks", () => {
  const m = (bytes: number[]) => new Uint8Array(bytes);
  // shorter than a header: keep
  assertEquals(wholeMessages(m([0x10, 0, 0, 8, 0, 0, 0]), 7), 0);
  // len 0 or len < 8: malformed, the whole read goes on for the sync layer to count
  assertEquals(wholeMessages(m([0x10, 0, 0, 0, 0, 0, 0, 0, 9, 9]), 10), 10);
  assertEquals(wholeMessages(m([0x10, 0, 0, 4, 0, 0, 0, 0, 9, 9]), 10), 10);
  // ACK (type 10, flag 0x08) needs 16 bytes: keep while fewer are there, malformed if len < 16
  assertEquals(wholeMessages(m([0x1a, 0x08, 0, 8, 0, 0, 0, 0, 1, 2]), 10), 0);
  const ack8 = new Uint8Array(16);
  ack8.set([0x1a, 0x08, 0, 8]);
  assertEquals(wholeMessages(ack8, 16), 16);
  // ALIVE (flag 0x10) is fine with 8 bytes; the same flag on a data type is not a range control
  assertEquals(wholeMessages(m([0x1a, 0x10, 0, 8, 0, 0, 0, 1]), 8), 8);
  assertEquals(wholeMessages(m([0x10, 0x08, 0, 8, 0, 0, 0, 1]), 8), 8);
  // a message longer than what arrived: keep it
  assertEquals(wholeMessages(m([0x10, 0, 0, 8, 0, 0, 0, 1, 0x10, 0, 0, 12, 0, 0, 0, 2]), 16), 8);
});

Deno.test("error queue: bounded, drops the oldest, drains in order", () => {
  const q = new ErrorQueue(3);
  for (let i = 1; i <= 5; i++) q.add(new Uint8Array([i]));
  assertEquals([q.length, q.noSpaceErrors], [3, 2]);
  const out: number[] = [];
  let budget = 2;
  assert(q.drain((d) => budget-- > 0 && out.push(d[0]) > 0));
  assertEquals(out, [3, 4]);
  assert(!q.drain((d) => out.push(d[0]) > 0));
  assertEquals([out, q.length], [[3, 4, 5], 0]);
});

/** A transport that records writes and fails while `failing` is set. */
class FakeTransport implements Transport {
  readonly kind = "tcp";
  readonly headerSize = 40;
  readonly sent = new TrafficStats();
  readonly received = new TrafficStats();
  readonly sendBufferSize = 0;
  readonly receiveBufferSize = 0;
  writes: Uint8Array[] = [];
  failing = false;
  constructor(readonly reliable: boolean) {}
  fds() {
    return [];
  }
  send(data: Uint8Array) {
    if (this.failing) return (this.sent.errors++, false);
    this.writes.push(data.slice());
    this.sent.count(data.length);
    return true;
  }
  receive() {
    return 0;
  }
  connectionStates() {
    return { server: false, client: !this.failing };
  }
  close() {}
}

const CFG: ChannelConfig = {
  kind: "udp",
  isDefault: false,
  family: "ipv4",
  address: null,
  ipv4Interface: null,
  destination: null,
  interface: "lo",
  port: 3780,
  sndSocketBuffer: 0,
  rcvSocketBuffer: 0,
  checksum: true,
};

Deno.test("channel buffer: packs while buffered + len < MTU - headers, flushes on demand", () => {
  const t = new FakeTransport(false);
  const ch = new ChannelClass(CFG, 1, 300, t, new ErrorQueue(8)); // buffer 260
  assertEquals(ch.bufferSize, 260);
  const seqs = (w: Uint8Array) => {
    const out: number[] = [];
    for (let p = 0; p < w.length; p += (w[p + 2] << 8) | w[p + 3]) {
      out.push(new DataView(w.buffer, w.byteOffset + p).getUint32(4));
    }
    return out;
  };
  // 100 + 100 = 200; 200 + 60 = 260 is not < 260: the third starts a new buffer
  assert(!ch.send(message(0, 0, 100, 1)));
  assert(!ch.send(message(0, 0, 100, 2)));
  assert(ch.send(message(0, 0, 60, 3)));
  assertEquals(t.writes.map(seqs), [[1, 2]]);
  assertEquals(ch.pending, 60);
  assert(ch.flush());
  assert(!ch.flush());
  assertEquals(t.writes.map(seqs), [[1, 2], [3]]);
  // a message as large as the buffer goes alone instead of looping
  ch.send(message(0, 0, 20, 4));
  assert(ch.send(message(0, 0, 260, 5)));
  assertEquals(t.writes.slice(2).map(seqs), [[4], [5]]);
  assertEquals([t.sent.packets, t.sent.bytes], [4, 200 + 60 + 20 + 260]);
});

Deno.test("channel buffer: a reliable transport retries failed buffers first, in order", () => {
  const t = new FakeTransport(true);
  const q = new ErrorQueue(128);
  const ch = new ChannelClass(CFG, 1, 100, t, q); // buffer 60
  t.failing = true;
  ch.send(message(0, 0, 40, 1));
  ch.send(message(0, 0, 40, 2)); // buffer [1] fails -> queued
  ch.flush(); // [2] queued behind it
  assertEquals(q.length, 2);
  t.failing = false;
  ch.send(message(0, 0, 40, 3)); // queue drains first
  ch.flush();
  const firstSeq = (w: Uint8Array) => new DataView(w.buffer).getUint32(4);
  assertEquals(t.writes.map(firstSeq), [1, 2, 3]);
  assertEquals(q.length, 0);
  // an unreliable transport just loses a failed datagram
  const u = new FakeTransport(false);
  const uq = new ErrorQueue(128);
  const uch = new ChannelClass(CFG, 1, 100, u, uq);
  u.failing = true;
  uch.send(message(0, 0, 40, 1));
  uch.flush();
  assertEquals([uq.length, u.sent.errors], [0, 1]);
});

function source(
  kind: "udp" | "multicast" | "tcp",
  sent: number[],
  recv: number[],
  tcp: { server: boolean; client: boolean } | null = null,
): ChannelStatsSource {
  const mk = ([bytes, packets, errors]: number[]) =>
    Object.assign(new TrafficStats(), { bytes, packets, errors });
  return { kind, sent: mk(sent), received: mk(recv), deviceName: () => "eth1", connectionStates: () => tcp };
}

Deno.test("stats text: -s and -s link blocks", () => {
  assertEquals(
    formatChannelStats(source("udp", [1234, 5, 1], [99999999999, 7, 0])),
    "UDP traffic (active device=eth1):\n" +
      "                1234 Bytes sent          99999999999 Bytes recv\n" +
      "                   5 Pckts sent                    7 Pckts recv\n" +
      "                   1 Error send                    0 Error recv\n\n",
  );
  assertEquals(
    formatChannelStats(source("multicast", [0, 0, 0], [0, 0, 0])).split("\n")[0],
    "multicast traffic (active device=eth1):",
  );
  assertEquals(
    formatChannelStats(source("tcp", [0, 0, 0], [0, 0, 0], { server: true, client: false })).split("\n")[0],
    "TCP traffic (active device=eth1) server=connected client=disconnected:",
  );
  assertEquals(
    formatLinkStats(source("tcp", [1, 2, 3], [4, 5, 6]), 0x1, false).split("\n")[0],
    "TCP traffic device=eth1 status=NO-CARRIER role=BACKUP:",
  );
  assertEquals([linkStatus(0x41), linkStatus(0x1), linkStatus(0x40), linkStatus(0)], [
    "RUNNING",
    "NO-CARRIER",
    "DOWN",
    "DOWN",
  ]);
});

// ---------------------------------------------------------------------------
// Agents: one Deno process per namespace end, driven by JSON lines.

const AGENT_SOURCE = `
import * as ch from "${MOD}";
const SOL_SOCKET = 1;
const channels = new Map();
let multi = null, watcher = null;
const logs = [];
const enc = new TextEncoder();
const out = (o) => Deno.stdout.writeSync(enc.encode(JSON.stringify(o) + "\\n"));

function message(type, flags, len, seq) {
  const m = new Uint8Array(len);
  const v = new DataView(m.buffer);
  m[0] = 0x10 | type; m[1] = flags; v.setUint16(2, len); v.setUint32(4, seq);
  for (let i = 8; i < len; i++) m[i] = (seq + i) & 0xff;
  return m;
}
function parse(chunk, into) {
  const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  for (let p = 0; p + 8 <= chunk.length;) {
    const len = v.getUint16(p + 2), seq = v.getUint32(p + 4);
    if (len < 8 || p + len > chunk.length) { into.push({ bad: true }); return; }
    let intact = true;
    for (let i = 8; i < len; i++) if (chunk[p + i] !== ((seq + i) & 0xff)) intact = false;
    into.push({ type: chunk[p] & 15, version: chunk[p] >> 4, flags: chunk[p + 1], len, seq, intact,
      head: Array.from(chunk.subarray(p, p + Math.min(len, 16))) });
    p += len;
  }
}
function sendAll(target, msgs, flush) {
  for (const m of msgs) target.send(message(m.type ?? 0, m.flags ?? 0, m.len, m.seq));
  if (flush) target.flush();
}
async function receive(fdsOf, read, want, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  const res = { chunks: [], messages: [], from: [] };
  for (;;) {
    const left = deadline - Date.now();
    if ((want.chunks && res.chunks.length >= want.chunks) || (want.messages && res.messages.length >= want.messages)) break;
    if (left <= 0) break;
    // read even on a timeout: a TCP listener's pending connection is picked up there too
    read(res, await ch.pollFds(fdsOf(), Math.min(left, 200)));
  }
  return res;
}
const ops = {
  open({ name, cfg }) {
    const c = ch.openChannel(cfg);
    channels.set(name, c);
    const t = c.transport;
    return { mtu: c.mtu, bufferSize: c.bufferSize, ifindex: c.ifindex, sndbuf: t.sendBufferSize, rcvbuf: t.receiveBufferSize };
  },
  send({ name, msgs, flush }) {
    const c = channels.get(name);
    sendAll(c, msgs, flush);
    return { pending: c.pending, errorq: c.errorQueue.length };
  },
  // flush repeatedly (each call retries the error queue / connect) until the queue is empty
  async pump({ name, timeoutMs }) {
    const c = channels.get(name);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      c.flush();
      if (c.errorQueue.length === 0 && c.connectionStates()?.client !== false) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { errorq: c.errorQueue.length, states: c.connectionStates() };
  },
  async recv({ name, want, timeoutMs }) {
    const c = channels.get(name);
    return await receive(() => c.fds(), (res) => c.receive((d) => { res.chunks.push(d.length); parse(d, res.messages); }, 100), want, timeoutMs);
  },
  stats({ name }) {
    const c = channels.get(name);
    return { text: ch.formatChannelStats(c), sent: c.sent, received: c.received, states: c.connectionStates() };
  },
  sockopt({ name, which, level, opt }) {
    const s = channels.get(name).transport.sockets;
    const v = new Uint8Array(4), l = new Uint8Array([4, 0, 0, 0]);
    const lib = Deno.dlopen("libc.so.6", { getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" } });
    const r = lib.symbols.getsockopt(s[which], level ?? SOL_SOCKET, opt, v, l);
    lib.close();
    return r < 0 ? null : new DataView(v.buffer).getInt32(0, true);
  },
  close({ name }) { channels.get(name).close(); channels.delete(name); return true; },
  multi({ sync }) {
    multi = ch.MultiChannel.open(sync, { log: (p, m) => logs.push(p + ": " + m) });
    watcher = ch.LinkWatcher.open();
    return { active: multi.activeIndex, ifindexes: multi.channels.map((c) => c.ifindex) };
  },
  multiSend({ msgs }) { sendAll(multi, msgs, true); return { active: multi.activeIndex }; },
  async multiRecv({ want, timeoutMs }) {
    return await receive(() => multi.fds(), (res, ready) => {
      for (const fd of ready) {
        const i = multi.channelOf(fd);
        if (i < 0) continue;
        multi.receive(i, (d, idx) => { res.chunks.push(d.length); res.from.push(idx); parse(d, res.messages); multi.markReceived(idx); }, 100);
      }
    }, want, timeoutMs);
  },
  async links({ until, timeoutMs }) {
    const deadline = Date.now() + timeoutMs;
    const start = logs.length;
    while (Date.now() < deadline && !logs.slice(start).some((l) => l.includes(until))) {
      const ready = await ch.pollFds([watcher.fd], Math.max(1, deadline - Date.now()));
      if (ready.length) multi.handleLinkEvents(watcher);
    }
    return { logs: logs.slice(start), active: multi.activeIndex, text: multi.formatLinkStats(watcher), stats: multi.formatStats() };
  },
};
const dec = new TextDecoder();
let buf = "";
for await (const chunk of Deno.stdin.readable) {
  buf += dec.decode(chunk, { stream: true });
  let nl;
  while ((nl = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const req = JSON.parse(line);
    try {
      out({ id: req.id, result: await ops[req.op](req) });
    } catch (e) {
      out({ id: req.id, error: String(e?.message ?? e) });
    }
  }
}
`;

let agentFile: string | null = null;
async function agentPath(): Promise<string> {
  if (agentFile === null) {
    const dir = await Deno.makeTempDir({ prefix: "ctkit-channel-agent-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    agentFile = `${dir}/agent.js`;
    await Deno.writeTextFile(agentFile, AGENT_SOURCE);
  }
  return agentFile;
}

// deno-lint-ignore no-explicit-any
type Json = any;

class Agent {
  private nextId = 1;
  private waiting = new Map<number, (r: Json) => void>();
  private writer: WritableStreamDefaultWriter<Uint8Array>;
  private done: Promise<void>;
  stderr = "";

  private constructor(private child: Deno.ChildProcess) {
    this.writer = child.stdin.getWriter();
    this.done = this.readLoop();
    (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) this.stderr += c;
    })();
  }

  static async start(ns: Netns): Promise<Agent> {
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns.name,
        Deno.execPath(),
        "run",
        "-A",
        "--no-check",
        "--quiet",
        await agentPath(),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new Agent(child);
  }

  private async readLoop() {
    let buf = "";
    for await (const c of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += c;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const r = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        this.waiting.get(r.id)?.(r);
        this.waiting.delete(r.id);
      }
    }
    for (const w of this.waiting.values()) w({ error: `agent exited: ${this.stderr}` });
  }

  async call(op: string, args: Json = {}): Promise<Json> {
    const id = this.nextId++;
    const reply = new Promise<Json>((res) => this.waiting.set(id, res));
    await this.writer.write(new TextEncoder().encode(JSON.stringify({ id, op, ...args }) + "\n"));
    const r = await reply;
    if (r.error !== undefined) throw new Error(`${op}: ${r.error}`);
    return r.result;
  }

  /** Ends the agent; `kill` simulates a crash (sockets closed by the kernel, nothing flushed). */
  async stop(kill = false) {
    if (kill) this.child.kill("SIGKILL");
    else await this.writer.close().catch(() => {});
    await this.child.status;
    await this.done;
  }
}

async function withAgents<T>(nss: Netns[], fn: (...agents: Agent[]) => Promise<T>): Promise<T> {
  const agents: Agent[] = [];
  try {
    for (const ns of nss) agents.push(await Agent.start(ns));
    return await fn(...agents);
  } finally {
    for (const a of agents) await a.stop(true).catch(() => {});
  }
}

let linkCounter = 0;
/** A veth pair between two namespaces, both ends up; returns the interface names. */
async function veth(
  a: Netns,
  b: Netns,
  addrA: string[],
  addrB: string[],
  mtu?: number,
): Promise<[string, string]> {
  const n = ++linkCounter;
  const ia = `cha${n}`, ib = `chb${n}`;
  await sh(["ip", "link", "add", ia, "netns", a.name, "type", "veth", "peer", "name", ib, "netns", b.name]);
  for (const [ns, ifname, addrs] of [[a, ia, addrA], [b, ib, addrB]] as const) {
    for (const addr of addrs) {
      const extra = addr.includes(":") ? ["nodad"] : [];
      await ns.exec(["ip", "addr", "add", addr, "dev", ifname, ...extra]);
    }
    if (mtu) await ns.exec(["ip", "link", "set", "dev", ifname, "mtu", String(mtu)]);
    await ns.exec(["ip", "link", "set", "dev", ifname, "up"]);
  }
  // Until the kernel's link watch marks the carrier (up to a second later) the device drops what it is given.
  await waitOperUp(a, ia);
  await waitOperUp(b, ib);
  return [ia, ib];
}

async function waitOperUp(ns: Netns, ifname: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (/^\S+\s+UP\s/.test((await ns.exec(["ip", "-br", "link", "show", "dev", ifname])).stdout)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${ifname} did not come up`);
}

function channelCfg(over: Partial<ChannelConfig>): ChannelConfig {
  return { ...CFG, ...over };
}

function syncCfg(channels: ChannelConfig[], defaultChannel = 0): SyncConfig {
  return {
    mode: "NOTRACK",
    refreshTime: 60,
    cacheTimeout: 180,
    commitTimeout: 0,
    purgeTimeout: 60,
    resendQueueSize: 131072,
    ackWindowSize: 300,
    disableInternalCache: false,
    disableExternalCache: false,
    startupResync: false,
    channels,
    defaultChannel,
    errorQueueLength: 128,
    tcpWindowTracking: false,
    expectationSync: false,
  };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const msgs = (seqs: number[], len: number | ((s: number) => number)) =>
  seqs.map((seq) => ({ type: 0, len: typeof len === "number" ? len : len(seq), seq }));

const T = { sanitizeResources: false, sanitizeOps: false };

// ---------------------------------------------------------------------------
// Transports between namespaces.

Deno.test({
  name: "UDP unicast over IPv4: both directions, one datagram per flush, stats text",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [ia, ib] = await veth(na, nb, ["10.71.0.1/24"], ["10.71.0.2/24"]);
      await withAgents([na, nb], async (a, b) => {
        const oa = await a.call("open", {
          name: "c",
          cfg: channelCfg({ address: "10.71.0.1", destination: "10.71.0.2", interface: ia }),
        });
        await b.call("open", {
          name: "c",
          cfg: channelCfg({ address: "10.71.0.2", destination: "10.71.0.1", interface: ib }),
        });
        assertEquals([oa.mtu, oa.bufferSize], [1500, 1472]);
        await a.call("send", { name: "c", msgs: msgs([1, 2, 3], 48), flush: true });
        const rb = await b.call("recv", { name: "c", want: { messages: 3 }, timeoutMs: 3000 });
        assertEquals(rb.chunks, [144]);
        assertEquals(rb.messages.map((m: Json) => [m.seq, m.len, m.intact, m.version]), [
          [1, 48, true, 1],
          [2, 48, true, 1],
          [3, 48, true, 1],
        ]);
        await b.call("send", { name: "c", msgs: msgs([7], 16), flush: true });
        const ra = await a.call("recv", { name: "c", want: { messages: 1 }, timeoutMs: 3000 });
        assertEquals(ra.messages.map((m: Json) => m.seq), [7]);
        const sa = await a.call("stats", { name: "c" });
        assertEquals(
          sa.text,
          `UDP traffic (active device=${ia}):\n` +
            "                 144 Bytes sent                   16 Bytes recv\n" +
            "                   1 Pckts sent                    1 Pckts recv\n" +
            "                   0 Error send                    0 Error recv\n\n",
        );
      });
    }),
});

Deno.test({
  name: "UDP unicast over IPv6 link-local: the scope comes from Interface",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [ia, ib] = await veth(na, nb, ["fe80::71:1/64"], ["fe80::71:2/64"]);
      await withAgents([na, nb], async (a, b) => {
        const v6 = { family: "ipv6" as const, port: 3781 };
        const oa = await a.call("open", {
          name: "c",
          cfg: channelCfg({ ...v6, address: "fe80::71:1", destination: "fe80::71:2", interface: ia }),
        });
        await b.call("open", {
          name: "c",
          cfg: channelCfg({ ...v6, address: "fe80::71:2", destination: "fe80::71:1", interface: ib }),
        });
        // IPv6 datagrams carry 48 bytes of headers
        assertEquals(oa.bufferSize, 1500 - 48);
        await a.call("send", { name: "c", msgs: msgs([10, 11], 100), flush: true });
        const rb = await b.call("recv", { name: "c", want: { messages: 2 }, timeoutMs: 3000 });
        assertEquals(rb.messages.map((m: Json) => [m.seq, m.intact]), [[10, true], [11, true]]);
        await b.call("send", { name: "c", msgs: msgs([12], 24), flush: true });
        const ra = await a.call("recv", { name: "c", want: { messages: 1 }, timeoutMs: 3000 });
        assertEquals(ra.messages.map((m: Json) => m.seq), [12]);
      });
    }),
});

Deno.test({
  name: "multicast IPv4: group exchange, loopback off, TTL 1, IPv6 group too",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [ia, ib] = await veth(na, nb, ["10.72.0.1/24", "fe80::72:1/64"], [
        "10.72.0.2/24",
        "fe80::72:2/64",
      ]);
      await withAgents([na, nb], async (a, b) => {
        const mc = { kind: "multicast" as const, address: "225.0.0.72", port: 3782 };
        await a.call("open", {
          name: "m",
          cfg: channelCfg({ ...mc, ipv4Interface: "10.72.0.1", interface: ia }),
        });
        await b.call("open", {
          name: "m",
          cfg: channelCfg({ ...mc, ipv4Interface: "10.72.0.2", interface: ib }),
        });
        assertEquals(await a.call("sockopt", { name: "m", which: "client", level: 0, opt: 34 }), 0); // IP_MULTICAST_LOOP
        assertEquals(await a.call("sockopt", { name: "m", which: "client", level: 0, opt: 33 }), 1); // IP_MULTICAST_TTL
        await a.call("send", { name: "m", msgs: msgs([1, 2], 64), flush: true });
        const rb = await b.call("recv", { name: "m", want: { messages: 2 }, timeoutMs: 3000 });
        assertEquals(rb.messages.map((m: Json) => [m.seq, m.intact]), [[1, true], [2, true]]);
        // nothing loops back to the sender
        const own = await a.call("recv", { name: "m", want: { messages: 1 }, timeoutMs: 300 });
        assertEquals(own.chunks, []);
        await b.call("send", { name: "m", msgs: msgs([3], 32), flush: true });
        const ra = await a.call("recv", { name: "m", want: { messages: 1 }, timeoutMs: 3000 });
        assertEquals(ra.messages.map((m: Json) => m.seq), [3]);
        const st = await b.call("stats", { name: "m" });
        assertMatch(st.text, new RegExp(`^multicast traffic \\(active device=${ib}\\):\\n`));
        // IPv6: group ff02::/16 joined on the interface's index
        const m6 = { kind: "multicast" as const, family: "ipv6" as const, address: "ff02::c7d", port: 3783 };
        await a.call("open", { name: "m6", cfg: channelCfg({ ...m6, interface: ia }) });
        await b.call("open", { name: "m6", cfg: channelCfg({ ...m6, interface: ib }) });
        await a.call("send", { name: "m6", msgs: msgs([9], 40), flush: true });
        const r6 = await b.call("recv", { name: "m6", want: { messages: 1 }, timeoutMs: 3000 });
        assertEquals(r6.messages.map((m: Json) => [m.seq, m.intact]), [[9, true]]);
      });
    }),
});

Deno.test({
  name: "datagram packing: messages fill MTU - 28 strictly, then a new datagram starts",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [ia, ib] = await veth(na, nb, ["10.73.0.1/24"], ["10.73.0.2/24"], 1300);
      await withAgents([na, nb], async (a, b) => {
        const oa = await a.call("open", {
          name: "c",
          cfg: channelCfg({ address: "10.73.0.1", destination: "10.73.0.2", interface: ia }),
        });
        await b.call("open", {
          name: "c",
          cfg: channelCfg({ address: "10.73.0.2", destination: "10.73.0.1", interface: ib }),
        });
        assertEquals([oa.mtu, oa.bufferSize], [1300, 1272]);
        // 12 x 106 = 1272 would fill the buffer exactly, which the strict test refuses: 11 per datagram
        const sent = await a.call("send", { name: "c", msgs: msgs(range(1, 30), 106), flush: false });
        assertEquals(sent.pending, 8 * 106);
        await a.call("send", { name: "c", msgs: [], flush: true });
        const rb = await b.call("recv", { name: "c", want: { messages: 30 }, timeoutMs: 3000 });
        assertEquals(rb.chunks, [1166, 1166, 848]);
        assertEquals(rb.messages.map((m: Json) => m.seq), range(1, 30));
        assert(rb.messages.every((m: Json) => m.intact));
        // TCP takes 40 bytes of headers off the MTU
        const ot = await a.call("open", {
          name: "t",
          cfg: channelCfg({
            kind: "tcp",
            address: "10.73.0.1",
            destination: "10.73.0.2",
            interface: ia,
            port: 3799,
          }),
        });
        assertEquals(ot.bufferSize, 1260);
      });
    }),
});

Deno.test({
  name: "socket options: forced buffers (ss shows them) and SO_NO_CHECK from Checksum",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [ia] = await veth(na, nb, ["10.74.0.1/24"], ["10.74.0.2/24"]);
      await withAgents([na], async (a) => {
        // far above net.core.{r,w}mem_max: only the FORCE options get there
        const cfg = channelCfg({
          address: "10.74.0.1",
          destination: "10.74.0.2",
          interface: ia,
          sndSocketBuffer: 600000,
          rcvSocketBuffer: 1000000,
          checksum: false,
        });
        const o = await a.call("open", { name: "c", cfg });
        assertEquals([o.sndbuf, o.rcvbuf], [1200000, 2000000]);
        assertEquals(await a.call("sockopt", { name: "c", which: "client", opt: 11 }), 1); // SO_NO_CHECK
        // the client socket gets its port on the first send; then ss lists it
        await a.call("send", { name: "c", msgs: msgs([1], 16), flush: true });
        const ss = (await na.exec(["ss", "-uampn"])).stdout;
        const server = ss.match(/10\.74\.0\.1:3780[^\n]*\n\s*skmem:\(([^)]*)\)/);
        assert(server, ss);
        assertMatch(server[1], /\brb2000000\b/);
        assert(/\btb1200000\b/.test(ss), ss);
        await a.call("open", { name: "on", cfg: { ...cfg, port: 3790, checksum: true } });
        assertEquals(await a.call("sockopt", { name: "on", which: "client", opt: 11 }), 0);
      });
    }),
});

Deno.test({
  name: "channel open errors carry the reference's text",
  ...T,
  fn: () =>
    withNetns(1, async (na) => {
      await withAgents([na], async (a) => {
        const tryOpen = (over: Partial<ChannelConfig>) =>
          a.call("open", { name: "x", cfg: channelCfg({ address: "127.0.0.1", ...over }) }).then(
            () => "opened",
            (e: Error) => e.message.replace(/^open: /, ""),
          );
        assertEquals(
          await tryOpen({ interface: null }),
          "can't open channel socket: No such file or directory",
        );
        assertEquals(await tryOpen({ interface: "nosuch0" }), "can't open channel socket: No such device");
        assertEquals(
          await tryOpen({ family: null, address: null }),
          "can't open channel socket: Address family not supported by protocol",
        );
        assertEquals(
          await tryOpen({ address: "10.99.9.9" }),
          "can't open channel socket: Cannot assign requested address",
        );
      });
    }),
});

Deno.test({
  name: "TCP: connect, accept, stream reassembly, reconnect after the peer restarts",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [ia, ib] = await veth(na, nb, ["10.75.0.1/24"], ["10.75.0.2/24"]);
      const tcp = { kind: "tcp" as const, port: 3785 };
      // room for the whole burst in flight: A's send and B's receive buffers (forced) hold it
      const bufs = { sndSocketBuffer: 4 << 20, rcvSocketBuffer: 4 << 20 };
      const cfgA = channelCfg({
        ...tcp,
        ...bufs,
        address: "10.75.0.1",
        destination: "10.75.0.2",
        interface: ia,
      });
      const cfgB = channelCfg({
        ...tcp,
        ...bufs,
        address: "10.75.0.2",
        destination: "10.75.0.1",
        interface: ib,
      });
      await withAgents([na], async (a) => {
        // A's first connect finds nobody listening yet
        await a.call("open", { name: "t", cfg: cfgA });
        let b = await Agent.start(nb);
        try {
          await b.call("open", { name: "t", cfg: cfgB });
          // connect() runs on send: the first write fails (refused) and waits in the error queue
          const lenOf = (s: number) => 8 + ((s * 37) % 400);
          const first = await a.call("send", { name: "t", msgs: msgs([1], lenOf), flush: true });
          assertEquals(first.errorq, 1);
          // retried at most once a second until connected, then written in order
          const pumped = await a.call("pump", { name: "t", timeoutMs: 8000 });
          assertEquals(pumped, { errorq: 0, states: { server: false, client: true } });
          // ~600 kB in MTU-sized writes, read back in 64 kB pieces that cut messages apart
          await a.call("send", { name: "t", msgs: msgs(range(2, 2999), lenOf), flush: true });
          const rb = await b.call("recv", { name: "t", want: { messages: 3000 }, timeoutMs: 8000 });
          assertEquals(rb.messages.length, 3000);
          assertEquals(rb.messages.map((m: Json) => m.seq), range(1, 3000));
          assert(rb.messages.every((m: Json, i: number) => m.intact && m.len === lenOf(i + 1)));
          assert(rb.chunks.length > 3 && rb.chunks.some((n: number) => n < 60000), "several partial reads");
          // B's client connected to A as well: A accepts on its next read
          await b.call("send", { name: "t", msgs: msgs([5000], 32), flush: true });
          await b.call("pump", { name: "t", timeoutMs: 5000 });
          const ra = await a.call("recv", { name: "t", want: { messages: 1 }, timeoutMs: 3000 });
          assertEquals(ra.messages.map((m: Json) => m.seq), [5000]);
          const sa = await a.call("stats", { name: "t" });
          assertMatch(
            sa.text,
            new RegExp(`^TCP traffic \\(active device=${ia}\\) server=connected client=connected:\\n`),
          );

          // B crashes and comes back: A's writes fail, it reconnects and carries on
          await b.stop(true);
          b = await Agent.start(nb);
          await b.call("open", { name: "t", cfg: cfgB });
          const deadline = Date.now() + 10000;
          let got: Json[] = [];
          for (let seq = 10000; got.length === 0 && Date.now() < deadline; seq++) {
            await a.call("send", { name: "t", msgs: msgs([seq], 64), flush: true });
            got = (await b.call("recv", { name: "t", want: { messages: 1 }, timeoutMs: 300 })).messages;
          }
          assert(got.length > 0 && got[0].seq >= 10000 && got[0].intact, "the restarted peer gets data");
          const after = await a.call("stats", { name: "t" });
          assertEquals(after.states.client, true);
          assert(after.sent.errors > 0, "the broken connection counted send errors");
          // the old inbound connection ended; B's new client is accepted
          await b.call("send", { name: "t", msgs: msgs([6000], 32), flush: true });
          await b.call("pump", { name: "t", timeoutMs: 5000 });
          const ra2 = await a.call("recv", { name: "t", want: { messages: 1 }, timeoutMs: 3000 });
          assertEquals(ra2.messages.map((m: Json) => m.seq), [6000]);
          assertEquals((await a.call("stats", { name: "t" })).states.server, true);
        } finally {
          await b.stop(true);
        }
      });
    }),
});

Deno.test({
  name: "failover: Default link, receiving switches links, link down moves to the next one",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [a1, b1] = await veth(na, nb, ["10.76.1.1/24"], ["10.76.1.2/24"]);
      const [a2, b2] = await veth(na, nb, ["10.76.2.1/24"], ["10.76.2.2/24"]);
      const udp = (local: string, peer: string, ifname: string) =>
        channelCfg({ address: local, destination: peer, interface: ifname, port: 3786 });
      await withAgents([na, nb], async (a, b) => {
        const ma = await a.call("multi", {
          sync: syncCfg([udp("10.76.1.1", "10.76.1.2", a1), udp("10.76.2.1", "10.76.2.2", a2)]),
        });
        assertEquals(ma.active, 0);
        const mb = await b.call("multi", {
          sync: syncCfg([udp("10.76.1.2", "10.76.1.1", b1), {
            ...udp("10.76.2.2", "10.76.2.1", b2),
            isDefault: true,
          }], 1),
        });
        assertEquals(mb.active, 1);
        // B talks on its Default link 2; A hears it there and answers there
        await b.call("multiSend", { msgs: msgs([1], 16) });
        const ra = await a.call("multiRecv", { want: { messages: 1 }, timeoutMs: 3000 });
        assertEquals(ra.from, [1]);
        assertEquals((await a.call("multiSend", { msgs: msgs([2], 16) })).active, 1);
        assertEquals((await b.call("multiRecv", { want: { messages: 1 }, timeoutMs: 3000 })).from, [1]);

        // link 2 goes down on A: link 1 takes over
        await na.exec(["ip", "link", "set", "dev", a2, "down"]);
        let ev = await a.call("links", { until: "becomes dedicated link", timeoutMs: 5000 });
        assertEquals(ev.logs, [`notice: device \`${a1}' becomes dedicated link`]);
        assertEquals(ev.active, 0);
        assertMatch(ev.text, new RegExp(`^UDP traffic device=${a1} status=RUNNING role=ACTIVE:\\n`));
        assertMatch(ev.text, new RegExp(`\\n\\nUDP traffic device=${a2} status=DOWN role=BACKUP:\\n`));
        assertMatch(ev.stats, new RegExp(`^UDP traffic \\(active device=${a1}\\):\\n`));
        await a.call("multiSend", { msgs: msgs([3], 16) });
        const rb = await b.call("multiRecv", { want: { messages: 1 }, timeoutMs: 3000 });
        assertEquals([rb.from, rb.messages[0].seq], [[0], 3]);

        // the peer end of link 1 goes down: A's link 1 loses carrier and nothing else is up
        await nb.exec(["ip", "link", "set", "dev", b1, "down"]);
        ev = await a.call("links", { until: "no dedicated links available!", timeoutMs: 5000 });
        assert(ev.logs.includes("error: no dedicated links available!"), JSON.stringify(ev.logs));
        assertEquals(ev.active, 0);
        assertMatch(ev.text, new RegExp(`^UDP traffic device=${a1} status=NO-CARRIER role=ACTIVE:\\n`));

        // link 2 comes back: it takes over
        await na.exec(["ip", "link", "set", "dev", a2, "up"]);
        ev = await a.call("links", { until: "becomes dedicated link", timeoutMs: 5000 });
        assertEquals(ev.logs.at(-1), `notice: device \`${a2}' becomes dedicated link`);
        assertEquals(ev.active, 1);
      });
    }),
});

// ---------------------------------------------------------------------------
// Against the reference conntrackd (1.4.7) on the other end of the link.

function referenceConfig(dir: string, channel: string): string {
  return `General {
\tLockFile ${dir}/lock
\tUNIX { Path ${dir}/ctl }
\tSyslog off
\tLogFile off
}
Sync {
\tMode NOTRACK { }
\t${channel}
}
`;
}

async function startReference(ns: Netns, dir: string, channel: string): Promise<Deno.ChildProcess> {
  await Deno.writeTextFile(`${dir}/ctd.conf`, referenceConfig(dir, channel));
  // console mode (no -d), inside the namespace only
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns.name, "conntrackd", "-C", `${dir}/ctd.conf`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    if (await Deno.lstat(`${dir}/ctl`).then(() => true, () => false)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  const out = await child.output();
  throw new Error(`reference conntrackd did not start: ${new TextDecoder().decode(out.stderr)}`);
}

async function stopReference(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.output();
}

/** The reference's `-s` (or other request) output. */
async function referenceRequest(ns: Netns, dir: string, ...args: string[]): Promise<string> {
  const r = await ns.exec(["timeout", "10", "conntrackd", "-C", `${dir}/ctd.conf`, ...args]);
  return r.stdout;
}

/** The counters of a channel block: [bytes sent, bytes recv, pkts sent, pkts recv, err send, err recv]. */
function channelCounters(block: string): number[] {
  const m = block.match(
    / *(\d+) Bytes sent +(\d+) Bytes recv\n *(\d+) Pckts sent +(\d+) Pckts recv\n *(\d+) Error send +(\d+) Error recv/,
  );
  assert(m, block);
  return m.slice(1).map(Number);
}

function blockOf(text: string, title: RegExp): string {
  const start = text.search(title);
  assert(start >= 0, text);
  return text.slice(start, text.indexOf("\n\n", start) + 2);
}

Deno.test({
  name: "reference interop (UDP): its datagrams reach us, ours reach its counters, same stats text",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [ia, ib] = await veth(na, nb, ["10.77.0.1/24"], ["10.77.0.2/24"]);
      const dir = await Deno.makeTempDir({ prefix: "ctkit-channel-ref-" });
      const ref = await startReference(
        nb,
        dir,
        `UDP { IPv4_address 10.77.0.2\n\t\tIPv4_Destination_Address 10.77.0.1\n\t\tPort 3787\n\t\tInterface ${ib} }`,
      );
      try {
        await withAgents([na], async (a) => {
          await a.call("open", {
            name: "c",
            cfg: channelCfg({ address: "10.77.0.1", destination: "10.77.0.2", interface: ia, port: 3787 }),
          });
          // `-n`: the reference asks us for a resync: a 16-byte RESYNC control (type 10, flag 0x02)
          await referenceRequest(nb, dir, "-n");
          const r1 = await a.call("recv", { name: "c", want: { messages: 1 }, timeoutMs: 3000 });
          assertEquals(r1.chunks, [16]);
          const resync = r1.messages[0];
          assertEquals([resync.version, resync.type, resync.flags & 0x02, resync.len], [1, 10, 2, 16]);
          // a new conntrack in its namespace goes out as a CT_NEW message
          await nb.exec(
            [
              "conntrack",
              "-I",
              "-s",
              "1.1.1.1",
              "-d",
              "2.2.2.2",
              "-p",
              "tcp",
              "--sport",
              "10",
              "--dport",
              "20",
            ]
              .concat(["--state", "ESTABLISHED", "-t", "100"]),
          );
          const r2 = await a.call("recv", { name: "c", want: { messages: 1 }, timeoutMs: 3000 });
          assertEquals([r2.messages[0].version, r2.messages[0].type], [1, 0]);

          // our datagrams (garbage to its sync layer) still count as received traffic
          await a.call("send", { name: "c", msgs: msgs([1, 2], 40), flush: true });
          await a.call("send", { name: "c", msgs: msgs([3], 24), flush: true });
          let stats = "";
          for (let i = 0; i < 50; i++) {
            stats = await referenceRequest(nb, dir, "-s");
            if (channelCounters(blockOf(stats, /^UDP traffic/m))[3] >= 2) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          const block = blockOf(stats, /^UDP traffic/m);
          const [bs, br, ps, pr, es, er] = channelCounters(block);
          assertEquals([br, pr, er], [104, 2, 0]);
          assertMatch(stats, /message tracking:\n +\d+ Malformed msgs/);
          // same numbers through our formatter give its bytes exactly
          const mk = (bytes: number, packets: number, errors: number) =>
            Object.assign(new TrafficStats(), { bytes, packets, errors });
          const src: ChannelStatsSource = {
            kind: "udp",
            sent: mk(bs, ps, es),
            received: mk(br, pr, er),
            deviceName: () => ib,
            connectionStates: () => null,
          };
          assertEquals(formatChannelStats(src), block);
          const link = await referenceRequest(nb, dir, "-s", "link");
          const linkBlock = blockOf(link, /^UDP traffic device=/m);
          const c = channelCounters(linkBlock);
          src.sent.bytes = c[0], src.received.bytes = c[1], src.sent.packets = c[2];
          src.received.packets = c[3], src.sent.errors = c[4], src.received.errors = c[5];
          assertEquals(formatLinkStats(src, 0x41, true), linkBlock);
        });
      } finally {
        await stopReference(ref);
        await Deno.remove(dir, { recursive: true });
      }
    }),
});

Deno.test({
  name: "reference interop (TCP): both connections come up, data flows both ways",
  ...T,
  fn: () =>
    withNetns(2, async (na, nb) => {
      const [ia, ib] = await veth(na, nb, ["10.78.0.1/24"], ["10.78.0.2/24"]);
      const dir = await Deno.makeTempDir({ prefix: "ctkit-channel-ref-" });
      await withAgents([na], async (a) => {
        // we listen first, so its first connect succeeds
        await a.call("open", {
          name: "t",
          cfg: channelCfg({
            kind: "tcp",
            address: "10.78.0.1",
            destination: "10.78.0.2",
            interface: ia,
            port: 3788,
          }),
        });
        const ref = await startReference(
          nb,
          dir,
          `TCP { IPv4_address 10.78.0.2\n\t\tIPv4_Destination_Address 10.78.0.1\n\t\tPort 3788\n\t\tInterface ${ib} }`,
        );
        try {
          // its resync request travels over its client connection to our server
          await referenceRequest(nb, dir, "-n");
          const r = await a.call("recv", { name: "t", want: { messages: 1 }, timeoutMs: 5000 });
          assertEquals([r.messages[0].type, r.messages[0].flags & 0x02, r.messages[0].len], [10, 2, 16]);
          // we connect to its server and write
          await a.call("send", { name: "t", msgs: msgs([1, 2, 3], 40), flush: true });
          const p = await a.call("pump", { name: "t", timeoutMs: 5000 });
          assertEquals(p.states, { server: true, client: true });
          let stats = "";
          for (let i = 0; i < 50; i++) {
            stats = await referenceRequest(nb, dir, "-s");
            if (channelCounters(blockOf(stats, /^TCP traffic/m))[1] >= 120) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          const block = blockOf(stats, /^TCP traffic/m);
          assertMatch(
            block,
            new RegExp(`^TCP traffic \\(active device=${ib}\\) server=connected client=connected:\\n`),
          );
          assertEquals(channelCounters(block)[1], 120);
        } finally {
          await stopReference(ref);
          await Deno.remove(dir, { recursive: true });
        }
      });
    }),
});
