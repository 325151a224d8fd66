// Benchmark of the user-space helper path: the ftp helper parsing a busy FTP
// control connection, alone and behind a real NFQUEUE round trip. Runs inside
// the network namespace scripts/bench-helpers creates (lo with a 1500-byte
// MTU, iptables NFQUEUE rules on port 21 both ways). This kernel attaches no
// conntrack to queued packets, so the benchmark gives each packet the
// conntrack the kernel would (a kernel-shaped NFQA_CT nest per direction) and
// does what the dispatcher does with it: read it, run the helper, and send a
// verdict carrying the conntrack back. Usage (through the launcher):
//   scripts/bench-helpers [--seconds S] [--markdown]
import { MessageBuilder } from "../src/netlink/builder.ts";
import * as A from "../src/conntrack/attrs.ts";
import {
  HelperCall,
  IP_CT_ESTABLISHED,
  IP_CT_ESTABLISHED_REPLY,
  IP_CT_NEW,
} from "../src/conntrackd/helpers/context.ts";
import { putVerdictCt, readMasterCt } from "../src/conntrackd/helpers/ct_attrs.ts";
import { ftpHelper } from "../src/conntrackd/helpers/ftp.ts";
import { NfQueue } from "../src/conntrackd/helpers/queue.ts";
import { NF_ACCEPT, NFQA_CT } from "../src/conntrackd/helpers/queue_msg.ts";

const args = Deno.args;
const SECONDS = Number(args[args.indexOf("--seconds") + 1] || 0) || 5;
const MARKDOWN = args.includes("--markdown");
const QUEUE = 0;
const PORT = 21;
const enc = new TextEncoder();

async function sh(cmd: string[]): Promise<string> {
  const o = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).output();
  if (o.code !== 0) throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(o.stderr)}`);
  return new TextDecoder().decode(o.stdout);
}

/** A busy control connection's traffic: commands (with PORT among them) and replies. */
const COMMANDS = [
  "PORT 127,0,0,1,195,80\r\n",
  "RETR /pub/data/file-000123.bin\r\n",
  "TYPE I\r\n",
  "PASV\r\n",
  "LIST -la /pub/data\r\n",
  "NOOP\r\n",
  "EPRT |1|127.0.0.1|50001|\r\n",
  "STOR upload-000042.tmp\r\n",
];
const REPLIES = [
  "200 PORT command successful. Consider using PASV.\r\n",
  "150 Opening BINARY mode data connection for file-000123.bin (1048576 bytes).\r\n",
  "226 Transfer complete.\r\n",
  "227 Entering Passive Mode (127,0,0,1,195,81).\r\n",
  "229 Entering Extended Passive Mode (|||50002|)\r\n",
];

// ---- 1. the parser alone ----

function parserOnly(): { segments: number; bytes: number; seconds: number } {
  const call = new HelperCall();
  call.helper = "ftp";
  call.policies = ftpHelper.policies;
  const segs: { pkt: Uint8Array; dir: 0 | 1; payload: number }[] = [];
  for (let i = 0; i < 64; i++) {
    const dir = (i & 1) as 0 | 1;
    const text = dir === 0 ? COMMANDS[i % COMMANDS.length] : REPLIES[i % REPLIES.length];
    const pkt = new Uint8Array(52 + text.length);
    pkt[0] = 0x45;
    pkt[9] = 6;
    pkt.set([127, 0, 0, 1], 12);
    pkt.set([127, 0, 0, 1], 16);
    pkt[32] = 0x80; // TCP header of 32 bytes (timestamps), as on lo
    pkt.set(enc.encode(text), 52);
    segs.push({ pkt, dir, payload: text.length });
  }
  const ct = call.ct;
  for (const a of [ct.orig.src, ct.orig.dst, ct.reply.src, ct.reply.dst]) a.set([127, 0, 0, 1]);
  const views = segs.map((s) => new DataView(s.pkt.buffer));
  const seq = [1000, 5000];
  const priv = new Uint8Array(24);
  let n = 0, bytes = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < 2000) {
    for (let k = 0; k < 10000; k++) {
      const s = segs[n & 63];
      views[n & 63].setUint32(24, seq[s.dir]);
      call.begin(s.dir ? IP_CT_ESTABLISHED_REPLY : IP_CT_ESTABLISHED, 24);
      call.priv.set(priv);
      call.pkt.set(s.pkt, s.pkt.length, 20);
      ftpHelper.run(call);
      priv.set(call.priv);
      seq[s.dir] = (seq[s.dir] + s.payload) >>> 0;
      bytes += s.payload;
      n++;
    }
    now = performance.now();
  }
  return { segments: n, bytes, seconds: (now - t0) / 1000 };
}

// ---- 2. through NFQUEUE ----

/** The NFQA_CT nest the kernel would attach for the flow, for one direction's view. */
function ctNest(sport: number, dport: number, info: Uint8Array): Uint8Array {
  const b = new MessageBuilder(512);
  const tuple = (type: number, sp: number, dp: number) => {
    b.nest(type).nest(A.CTA_TUPLE_IP).bytes(A.CTA_IP_V4_SRC, new Uint8Array([127, 0, 0, 1]))
      .bytes(A.CTA_IP_V4_DST, new Uint8Array([127, 0, 0, 1])).endNest().nest(A.CTA_TUPLE_PROTO)
      .u8(A.CTA_PROTO_NUM, 6).be16(A.CTA_PROTO_SRC_PORT, sp).be16(A.CTA_PROTO_DST_PORT, dp).endNest()
      .endNest();
  };
  tuple(A.CTA_TUPLE_ORIG, sport, dport);
  tuple(A.CTA_TUPLE_REPLY, dport, sport);
  b.be32(A.CTA_STATUS, 0x18a).be32(A.CTA_TIMEOUT, 431999).be32(A.CTA_USE, 1).be32(A.CTA_ID, 1);
  b.nest(A.CTA_HELP).str(A.CTA_HELP_NAME, "ftp").bytes(2, info).endNest();
  return b.bytesView().slice();
}

/** CPU seconds this process has used (all threads: the JS thread and the poll worker). */
async function cpuSeconds(): Promise<number> {
  const f = (await Deno.readTextFile("/proc/self/stat")).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface QueueRun {
  cpuUs: number;
  packets: number;
  payloadBytes: number;
  seconds: number;
  helperUs: number;
  clientBytes: number;
  commands: number;
}

/** Answers queued packets with the ftp helper until `stop` resolves. */
async function serveQueue(
  q: NfQueue,
  stop: Promise<void>,
): Promise<Omit<QueueRun, "clientBytes" | "commands" | "cpuUs">> {
  const call = new HelperCall();
  call.helper = "ftp";
  call.policies = ftpHelper.policies;
  const flows = new Map<number, { priv: Uint8Array; nest: Uint8Array }>();
  let packets = 0, payloadBytes = 0, helperMs = 0;
  let done = false;
  stop.then(() => done = true);
  const t0 = performance.now();
  while (!done) {
    if (!(await q.wait(50))) continue;
    q.drain((buf, _v, _o, _l, p) => {
      const h0 = performance.now();
      const off = p.payloadOff;
      const ihl = (buf[off] & 0x0f) * 4;
      const sport = (buf[off + ihl] << 8) | buf[off + ihl + 1];
      const dport = (buf[off + ihl + 2] << 8) | buf[off + ihl + 3];
      const fromClient = dport === PORT;
      const clientPort = fromClient ? sport : dport;
      let flow = flows.get(clientPort);
      if (!flow) {
        flows.set(
          clientPort,
          flow = { priv: new Uint8Array(24), nest: ctNest(clientPort, PORT, new Uint8Array(24)) },
        );
      }
      // The kernel's view: CTA_HELP_INFO carries the private data the last verdict wrote back.
      flow.nest.set(flow.priv, flow.nest.length - 24);
      const nv = new DataView(flow.nest.buffer);
      const syn = (buf[off + ihl + 13] & 0x12) === 0x02;
      const ctinfo = syn ? IP_CT_NEW : fromClient ? IP_CT_ESTABLISHED : IP_CT_ESTABLISHED_REPLY;
      call.begin(ctinfo, ftpHelper.privLen);
      readMasterCt(flow.nest, nv, 0, flow.nest.length, 2, call.ct);
      call.loadPriv();
      call.pkt.set(buf.subarray(off, off + p.payloadLen), p.payloadLen, ihl);
      ftpHelper.run(call);
      flow.priv.set(call.priv);
      payloadBytes += p.payloadLen - ihl - ((buf[off + ihl + 12] >> 4) << 2);
      packets++;
      q.verdict(p.queue, p.id, call.verdict === NF_ACCEPT ? NF_ACCEPT : 0, (b) => {
        b.nest(NFQA_CT);
        putVerdictCt(b, flow!.nest, nv, 0, flow!.nest.length, call);
        b.endNest();
      });
      helperMs += performance.now() - h0;
    });
  }
  return {
    packets,
    payloadBytes,
    seconds: (performance.now() - t0) / 1000,
    helperUs: (helperMs * 1000) / packets,
  };
}

// Traffic in two processes (no shared interpreter lock): a server that reads
// (and answers each line in ping-pong mode) and a client that sends commands.
const PY_SERVER = `
import socket, sys
mode = sys.argv[1]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", ${PORT})); srv.listen(1)
print("ready", flush=True)
c, _ = srv.accept()
buf = b""
reply = b"200 PORT command successful. Consider using PASV.\\r\\n"
while True:
    d = c.recv(1 << 20)
    if not d: break
    if mode == "pingpong":
        c.sendall(reply * d.count(b"\\n"))
`;

const PY_CLIENT = `
import socket, sys, time
secs = float(sys.argv[1]); mode = sys.argv[2]
cmds = ${JSON.stringify(COMMANDS.join(""))}.encode()
c = socket.create_connection(("127.0.0.1", ${PORT}))
sent = 0; n = 0; end = time.time() + secs
lines = [l + b"\\n" for l in cmds.split(b"\\n")[:-1]]
if mode == "stream":
    chunk = cmds * 512
    while time.time() < end:
        c.sendall(chunk); sent += len(chunk)
else:
    f = c.makefile("rb")
    while time.time() < end:
        line = lines[n % len(lines)]
        c.sendall(line); sent += len(line); f.readline(); n += 1
c.close()
print(sent, n)
`;

async function throughQueue(mode: "stream" | "pingpong"): Promise<QueueRun> {
  const q = NfQueue.open(16 << 20);
  q.bind(QUEUE);
  q.setParams(QUEUE, { maxLen: 10240 });
  const server = new Deno.Command("python3", { args: ["-c", PY_SERVER, mode], stdout: "piped" }).spawn();
  const reader = server.stdout.getReader();
  await reader.read(); // "ready"
  reader.releaseLock();
  const client = new Deno.Command("python3", {
    args: ["-c", PY_CLIENT, String(SECONDS), mode],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = client.output();
  const cpu0 = await cpuSeconds();
  const stats = await serveQueue(q, out.then(() => new Promise((r) => setTimeout(r, 300))));
  const cpuUs = ((await cpuSeconds()) - cpu0) * 1e6 / Math.max(1, stats.packets);
  const o = await out;
  await server.status;
  q.unbind(QUEUE);
  q.close();
  const [sent, n] = new TextDecoder().decode(o.stdout).trim().split(" ").map(Number);
  return { ...stats, cpuUs, clientBytes: sent, commands: n };
}

await sh(["ip", "link", "set", "lo", "mtu", "1500"]);
await sh(["ip", "link", "set", "lo", "up"]);
for (const dir of ["--dport", "--sport"]) {
  await sh([
    "iptables",
    "-A",
    "OUTPUT",
    "-p",
    "tcp",
    dir,
    String(PORT),
    "-j",
    "NFQUEUE",
    "--queue-num",
    String(QUEUE),
  ]);
}

const parser = parserOnly();
const stream = await throughQueue("stream");
const pingpong = await throughQueue("pingpong");

const fmt = (n: number, d = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const gbit = (bytes: number, s: number) => (bytes * 8) / s / 1e9;
const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
const rows = [
  [
    "ftp helper alone (segments of a busy session)",
    `${fmt(parser.segments / parser.seconds)} segments/s`,
    `${fmt(gbit(parser.bytes, parser.seconds), 2)} Gbit/s of control text`,
    `${fmt((parser.seconds * 1e6) / parser.segments, 2)} µs/segment`,
  ],
  [
    "NFQUEUE round trip, streamed commands (MSS 1448)",
    `${fmt(stream.packets / stream.seconds)} packets/s`,
    `${fmt(gbit(stream.payloadBytes, stream.seconds), 2)} Gbit/s of payload`,
    `${fmt(stream.helperUs, 2)} µs/packet in the handler, ${fmt(stream.cpuUs, 1)} µs CPU/packet in all`,
  ],
  [
    "NFQUEUE round trip, command/reply ping-pong",
    `${fmt(pingpong.commands / pingpong.seconds)} commands/s`,
    `${fmt(pingpong.packets / pingpong.seconds)} packets/s`,
    `${fmt((pingpong.seconds * 1e6) / Math.max(1, pingpong.commands))} µs per exchange`,
  ],
];
// One core's worth of ctkit at the measured CPU cost per packet, in full-size segments.
const capacityPps = 1e6 / stream.cpuUs;
const capacityGbit = (capacityPps * 1448 * 8) / 1e9;
const keepsUp = capacityGbit >= 1;
if (MARKDOWN) {
  console.log(`| case | rate | volume | per unit |\n| --- | --- | --- | --- |`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log(
    `\nMachine: ${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} cores (${cpu}), ` +
      `Deno ${Deno.version.deno}, ${SECONDS} s per queue run.`,
  );
  console.log(
    `\nctkit at ${fmt(stream.cpuUs, 1)} µs of CPU per queued packet (both its threads, syscalls included) ` +
      `can answer ${fmt(capacityPps)} packets/s on one core, ${fmt(capacityGbit, 2)} Gbit/s of 1448-byte ` +
      `segments: a 1 Gbit/s FTP control channel is ${keepsUp ? "kept up with" : "NOT kept up with"}. ` +
      `End to end on this 2-core test bed (traffic generator, kernel and ctkit sharing the cores): ` +
      `${fmt(gbit(stream.payloadBytes, stream.seconds), 2)} Gbit/s.`,
  );
} else {
  for (const r of rows) console.log(r.join("  "));
  console.log(
    `capacity ${fmt(capacityPps)} packets/s = ${
      fmt(capacityGbit, 2)
    } Gbit/s; keeps up with 1 Gbit/s: ${keepsUp}`,
  );
}
