// The portmapper helper on RPC messages built per RFC 1057 / RFC 1014 (XDR):
// PMAPPROC_GETPORT calls and their replies over UDP and TCP (record marking),
// IPv4 and IPv6, and every reason the reference has to ignore a message.
import { deepStrictEqual } from "node:assert";

/** deepStrictEqual without type narrowing (the values are compared, not typed). */
function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(actual, expected, message);
}
import { rpcTcpHelper, rpcUdpHelper } from "../src/conntrackd/helpers/rpc.ts";
import {
  IP_CT_ESTABLISHED as EST,
  IP_CT_ESTABLISHED_REPLY as EST_REPLY,
  IP_CT_NEW,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from "../src/conntrackd/helpers/context.ts";
import { IPS_DST_NAT } from "../src/conntrackd/helpers/nat.ts";
import { Flow, packet, tcp, udp } from "./lib/helper_packets.ts";

/** XDR: big-endian 32-bit words; opaque data padded to 4 bytes. */
class Xdr {
  private readonly parts: number[] = [];
  u32(v: number): this {
    this.parts.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  opaque(b: Uint8Array): this {
    this.u32(b.length);
    for (const x of b) this.parts.push(x);
    while (this.parts.length % 4) this.parts.push(0);
    return this;
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.parts);
  }
}

const AUTH_NULL = 0, AUTH_UNIX = 1;

/** AUTH_UNIX credentials body: stamp, machine name, uid, gid, gids. */
function authUnix(name: string): Uint8Array {
  return new Xdr().u32(0x5f3a1b2c).opaque(new TextEncoder().encode(name)).u32(0).u32(0).u32(2).u32(0).u32(10)
    .bytes();
}

interface CallOpts {
  xid?: number;
  rpcvers?: number;
  prog?: number;
  vers?: number;
  proc?: number;
  cred?: [number, Uint8Array];
  verf?: [number, Uint8Array];
  pmProg?: number;
  pmProt?: number;
  pmPort?: number;
  trailing?: number;
}

/** A CALL of PMAPPROC_GETPORT(prog, vers, prot, 0). */
function getport(o: CallOpts = {}): Uint8Array {
  const x = new Xdr().u32(o.xid ?? 0x1234abcd).u32(0).u32(o.rpcvers ?? 2).u32(o.prog ?? 100000)
    .u32(o.vers ?? 2).u32(o.proc ?? 3);
  const [cf, cb] = o.cred ?? [AUTH_UNIX, authUnix("client.example")];
  const [vf, vb] = o.verf ?? [AUTH_NULL, new Uint8Array(0)];
  x.u32(cf).opaque(cb).u32(vf).opaque(vb);
  x.u32(o.pmProg ?? 100003).u32(3).u32(o.pmProt ?? IPPROTO_TCP).u32(o.pmPort ?? 0);
  for (let i = 0; i < (o.trailing ?? 0); i++) x.u32(0);
  return x.bytes();
}

interface ReplyOpts {
  xid?: number;
  stat?: number;
  verf?: Uint8Array;
  accept?: number;
  port?: number;
}

/** An accepted, successful REPLY with the port. */
function reply(o: ReplyOpts = {}): Uint8Array {
  return new Xdr().u32(o.xid ?? 0x1234abcd).u32(1).u32(o.stat ?? 0).u32(AUTH_NULL).opaque(
    o.verf ?? new Uint8Array(0),
  )
    .u32(o.accept ?? 0).u32(o.port ?? 2049).bytes();
}

/** TCP record marking (RFC 1057 §10): last-fragment bit and length. */
function record(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + msg.length);
  new DataView(out.buffer).setUint32(0, 0x80000000 | msg.length);
  out.set(msg, 4);
  return out;
}

const C = "192.0.2.10", S = "198.51.100.20";

function udpFlow(c = C, s = S, status = 0) {
  const flow = new Flow(rpcUdpHelper, { src: c, dst: s, proto: IPPROTO_UDP, sport: 871, dport: 111, status });
  return {
    flow,
    call: (m: Uint8Array) => flow.run(packet(c, s, udp(871, 111, m)), IP_CT_NEW),
    reply: (m: Uint8Array) => flow.run(packet(s, c, udp(111, 871, m)), EST_REPLY),
  };
}

function tcpFlow(c = C, s = S) {
  const flow = new Flow(rpcTcpHelper, { src: c, dst: s, proto: IPPROTO_TCP, sport: 872, dport: 111 });
  return {
    flow,
    call: (m: Uint8Array, ctinfo = EST) => flow.run(packet(c, s, tcp(872, 111, record(m))), ctinfo),
    reply: (m: Uint8Array) => flow.run(packet(s, c, tcp(111, 872, record(m))), EST_REPLY),
  };
}

const rpcExpect = {
  class: 0,
  flags: 1,
  helper: "rpc",
  expectfn: null,
  nat: null,
  timeout: 300,
  expectMax: 1,
};

Deno.test("rpc/udp: GETPORT call then reply expects the client's connection to the announced port", () => {
  const f = udpFlow();
  f.call(getport());
  assertEquals(f.flow.expects().create, []);
  f.reply(reply({ port: 2049 }));
  assertEquals(f.flow.expects(), {
    create: [{
      ...rpcExpect,
      master: "udp 192.0.2.10:871 -> 198.51.100.20:111",
      tuple: "tcp 192.0.2.10:0 -> 198.51.100.20:2049",
      mask: "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
    }],
    attach: null,
  });
  // The xid is forgotten after a reply: a repeated reply finds nothing.
  f.reply(reply({ port: 2049 }));
  assertEquals(f.flow.expects().create, []);
});

Deno.test("rpc/udp: the queried protocol decides the expectation's protocol; IPv6 too", () => {
  const f = udpFlow("2001:db8::10", "2001:db8::20");
  f.call(getport({ pmProg: 100005, pmProt: IPPROTO_UDP, cred: [AUTH_NULL, new Uint8Array(0)] }));
  f.reply(reply({ port: 20048 }));
  assertEquals(f.flow.expects().create.map((e) => [e.tuple, e.mask]), [[
    "udp 2001:db8::10:0 -> 2001:db8::20:20048",
    "udp ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:0 -> ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:65535",
  ]]);
});

Deno.test("rpc/tcp: record-marked call and reply on an established connection", () => {
  const f = tcpFlow();
  f.call(getport({ xid: 77 }));
  f.reply(reply({ xid: 77, port: 32765 }));
  assertEquals(f.flow.expects().create.map((e) => [e.master, e.tuple]), [[
    "tcp 192.0.2.10:872 -> 198.51.100.20:111",
    "tcp 192.0.2.10:0 -> 198.51.100.20:32765",
  ]]);
  // Private data: xid, program, version, protocol (reset xid after the reply).
  const v = new DataView(f.flow.priv.buffer);
  assertEquals([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)], [
    0,
    100003,
    3,
    6,
  ]);
});

Deno.test("rpc/tcp: nothing before the connection is established", () => {
  const f = tcpFlow();
  f.call(getport({ xid: 5 }), IP_CT_NEW);
  f.reply(reply({ xid: 5 }));
  assertEquals(f.flow.expects().create, []);
});

Deno.test("rpc: verifier and credential bodies are skipped by their rounded lengths", () => {
  const f = udpFlow();
  f.call(getport({ cred: [AUTH_UNIX, authUnix("a")], verf: [3, new Uint8Array(5).fill(9)] }));
  f.reply(reply({ verf: new Uint8Array(7).fill(1), port: 4045 }));
  assertEquals(f.flow.expects().create.map((e) => e.tuple), ["tcp 192.0.2.10:0 -> 198.51.100.20:4045"]);
});

Deno.test("rpc: calls the helper does not follow leave no expectation", () => {
  const bad: CallOpts[] = [
    { rpcvers: 3 },
    { prog: 100003 },
    { vers: 3 },
    { proc: 4 },
    { pmProt: 132 },
    { pmPort: 111 },
    { cred: [AUTH_UNIX, new Uint8Array(404)] },
    { trailing: 1 },
  ];
  for (const o of bad) {
    const f = udpFlow();
    f.call(getport(o));
    f.reply(reply());
    assertEquals(f.flow.expects().create, [], JSON.stringify(o));
  }
});

Deno.test("rpc: replies the helper does not take", () => {
  const bad: ReplyOpts[] = [{ xid: 1 }, { stat: 1 }, { accept: 1 }, { port: 0 }, { port: 0x10000 }, {
    verf: new Uint8Array(401),
  }];
  for (const o of bad) {
    const f = udpFlow();
    f.call(getport());
    f.reply(reply(o));
    assertEquals(f.flow.expects().create, [], JSON.stringify(o));
  }
  // A port above 16 bits keeps its low half, as the reference's uint16_t.
  const f = udpFlow();
  f.call(getport());
  f.reply(reply({ port: 0x10801 }));
  assertEquals(f.flow.expects().create.map((e) => e.tuple), ["tcp 192.0.2.10:0 -> 198.51.100.20:2049"]);
});

Deno.test("rpc: messages in the wrong direction, truncated or hostile, and a failed call forgets the xid", () => {
  const f = udpFlow();
  // A CALL sent by the server, a REPLY sent by the client: ignored.
  f.flow.run(packet(S, C, udp(111, 871, getport())), EST_REPLY);
  f.flow.run(packet(C, S, udp(871, 111, reply())), IP_CT_NEW);
  assertEquals(f.flow.expects().create, []);
  const call = getport();
  for (let cut = 0; cut < call.length; cut += 3) {
    const g = udpFlow();
    g.call(call.subarray(0, cut));
    g.reply(reply());
    assertEquals(g.flow.expects().create, [], `call cut at ${cut}`);
  }
  const rep = reply();
  for (let cut = 0; cut < rep.length; cut++) {
    const g = udpFlow();
    g.call(getport());
    g.reply(rep.subarray(0, cut));
    assertEquals(g.flow.expects().create, [], `reply cut at ${cut}`);
  }
  const g = udpFlow();
  g.call(getport({ xid: 9 }));
  g.call(getport({ xid: 10, proc: 5 }));
  g.reply(reply({ xid: 9 }));
  assertEquals(g.flow.expects().create, []);
  // Random datagrams: never an exception.
  let seed = 3;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const m = new Uint8Array(rnd() % 120).map(() => rnd());
    if (m.length >= 8) m.set([0, 0, 0, 0, 0, 0, 0, i & 1]);
    (i & 1 ? g.reply : g.call)(m);
  }
});

Deno.test("rpc: with NAT the expectation maps the same port in the reverse direction", () => {
  const f = udpFlow(C, S, IPS_DST_NAT);
  f.call(getport());
  f.reply(reply({ port: 2049 }));
  assertEquals(f.flow.expects().create.map((e) => [e.expectfn, e.nat]), [[
    "nat-follow-master",
    "dir=0 tcp 0.0.0.0:2049 -> 0.0.0.0:0",
  ]]);
  assertEquals(f.flow.call.mangles, []);
});
