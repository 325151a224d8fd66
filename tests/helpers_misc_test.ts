// Oracle TNS redirects, Amanda, SANE and TFTP on packets laid out per their
// protocols (TNS v2 header and REDIRECT/DATA packets, the Amanda REP line,
// the SANE net protocol's NET_START, RFC 1350 requests).
import { deepStrictEqual, ok as assert } from "node:assert";

/** deepStrictEqual without type narrowing (the values are compared, not typed). */
function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(actual, expected, message);
}
import { tnsHelper } from "../src/conntrackd/helpers/tns.ts";
import { amandaHelper } from "../src/conntrackd/helpers/amanda.ts";
import { saneHelper } from "../src/conntrackd/helpers/sane.ts";
import { tftpHelper } from "../src/conntrackd/helpers/tftp.ts";
import {
  IP_CT_ESTABLISHED as EST,
  IP_CT_ESTABLISHED_REPLY as EST_REPLY,
  IP_CT_NEW,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from "../src/conntrackd/helpers/context.ts";
import { applyMangles, IPS_DST_NAT, IPS_SRC_NAT } from "../src/conntrackd/helpers/nat.ts";
import { enc, Flow, packet, tcp, udp } from "./lib/helper_packets.ts";

// ---- TNS ----

const C = "192.0.2.10", S = "198.51.100.20";

/** A TNS packet: length, packet checksum, type, reserved, header checksum, then the body. */
function tnsPacket(type: number, body: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + body.length);
  const v = new DataView(p.buffer);
  v.setUint16(0, p.length);
  p[4] = type;
  p.set(body, 8);
  return p;
}

/** REDIRECT (type 5): data length, then the connect data. */
function redirect(data: string): Uint8Array {
  const d = enc(data);
  const body = new Uint8Array(2 + d.length);
  new DataView(body.buffer).setUint16(0, d.length);
  body.set(d, 2);
  return tnsPacket(5, body);
}

/** DATA (type 6): data flags, then the payload. */
function data(flags: number, text: string): Uint8Array {
  const d = enc(text);
  const body = new Uint8Array(2 + d.length);
  new DataView(body.buffer).setUint16(0, flags);
  body.set(d, 2);
  return tnsPacket(6, body);
}

const ADDRESS = "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=198.51.100.30)(PORT=1522)))";

function tnsFlow(status = 0, reply?: { src: string; dst: string; sport: number; dport: number }) {
  const ct = { src: C, dst: S, proto: IPPROTO_TCP, sport: 40000, dport: 1521, status, reply };
  const flow = new Flow(tnsHelper, ct);
  const r = reply ?? { src: S, dst: C, sport: 1521, dport: 40000 };
  return {
    flow,
    server: (p: Uint8Array, ctinfo = EST_REPLY) =>
      flow.run(packet(r.src, r.dst, tcp(1521, r.dport, p)), ctinfo),
    client: (p: Uint8Array) => flow.run(packet(C, S, tcp(40000, 1521, p)), EST),
  };
}

Deno.test("tns: a REDIRECT's HOST and PORT expect the client's connection there", () => {
  const f = tnsFlow();
  f.server(redirect(ADDRESS));
  assertEquals(f.flow.expects(), {
    create: [{
      master: "tcp 192.0.2.10:40000 -> 198.51.100.20:1521",
      tuple: "tcp 192.0.2.10:0 -> 198.51.100.30:1522",
      mask: "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
      class: 0,
      flags: 0,
      helper: "tns",
      expectfn: null,
      nat: null,
      timeout: 300,
      expectMax: 1,
    }],
    attach: null,
  });
  // Spaces inside the numbers are skipped.
  f.server(redirect("(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST= 198.51.100.31 )(PORT= 1523 )))"));
  assertEquals(f.flow.expects().create.map((e) => e.tuple), ["tcp 192.0.2.10:0 -> 198.51.100.31:1523"]);
});

Deno.test("tns: an empty REDIRECT arms parsing of the next DATA packet only", () => {
  const f = tnsFlow();
  f.server(redirect(""));
  assertEquals(f.flow.priv[0], 1);
  // The DATA text starts right after the header, so its two flag bytes must not be NUL (C string).
  f.server(data(0x2020, ADDRESS));
  assertEquals(f.flow.expects().create.map((e) => e.tuple), ["tcp 192.0.2.10:0 -> 198.51.100.30:1522"]);
  assertEquals(f.flow.priv[0], 0);
  f.server(data(0x2020, ADDRESS));
  assertEquals(f.flow.expects().create, []);
  // A zero flags word ends the C string before the address: nothing, as the reference.
  f.server(redirect(""));
  f.server(data(0, ADDRESS));
  assertEquals(f.flow.expects().create, []);
  // Another packet type in between disarms.
  f.server(redirect(""));
  f.server(tnsPacket(12, new Uint8Array([1, 0, 1])));
  f.server(data(0x2020, ADDRESS));
  assertEquals(f.flow.expects().create, []);
});

Deno.test("tns: only the server's established packets; truncated and hostile text", () => {
  const f = tnsFlow();
  f.client(redirect(ADDRESS));
  f.server(redirect(ADDRESS), IP_CT_NEW);
  assertEquals(f.flow.expects().create, []);
  const bad = [
    "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=db.example.com)(PORT=1522)))",
    "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=198.51.100.30)(PORT=0)))",
    "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=198.51.100.30)(PORT=15x22)))",
    "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=198.51.100)(PORT=1522)))",
    "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=198.51.100.30)",
    "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=198.51.100.30)(PORT=1522",
    "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=198.51.\u0000100.30)(PORT=1522)))",
    "",
  ];
  for (const text of bad) {
    f.server(redirect(text));
    assertEquals(f.flow.expects().create, [], text);
  }
  for (let cut = 0; cut < 30; cut++) f.server(redirect(ADDRESS).subarray(0, cut));
  assertEquals(f.flow.expects().create, []);
});

Deno.test("tns: with NAT the address is rewritten and the TNS lengths follow", () => {
  const reply = { src: S, dst: "203.0.113.1", sport: 1521, dport: 61000 };
  const f = tnsFlow(IPS_SRC_NAT, reply);
  const call = f.server(redirect(ADDRESS));
  assertEquals(f.flow.expects().create.map((e) => [e.tuple, e.nat]), [[
    "tcp 192.0.2.10:0 -> 198.51.100.30:1522",
    "dir=0 tcp 0.0.0.0:1522 -> 0.0.0.0:0",
  ]]);
  assert(applyMangles(call.pkt, 2, IPPROTO_TCP, call.mangles));
  const payload = call.pkt.buf.subarray(call.pkt.tcpDataOff(), call.pkt.len);
  const v = new DataView(payload.buffer, payload.byteOffset);
  const text = new TextDecoder().decode(payload.subarray(10));
  assertEquals(text, "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=198.51.100.20)(PORT=1522)))");
  assertEquals([v.getUint16(0), v.getUint16(2), v.getUint16(6), v.getUint16(8)], [
    payload.length,
    0,
    0,
    text.length,
  ]);
});

// ---- Amanda ----

const REP = "Amanda 2.6 REP HANDLE 000-a0b1c2d3 SEQ 1700000000\n" +
  "CONNECT DATA 50000 MESG 50001 INDEX 50002\nOPTIONS features=9ffe00;\n";

function amandaFlow(status = 0) {
  // The backup server asks the client's amandad on UDP 10080; the client's reply names the ports.
  const ct = { src: C, dst: S, proto: IPPROTO_UDP, sport: 850, dport: 10080, status };
  const flow = new Flow(amandaHelper, ct);
  return {
    flow,
    reply: (text: string | Uint8Array) => flow.run(packet(S, C, udp(10080, 850, text)), EST_REPLY),
    request: (text: string) => flow.run(packet(C, S, udp(850, 10080, text)), IP_CT_NEW),
  };
}

const amandaExpect = (port: number) => ({
  master: "udp 192.0.2.10:850 -> 198.51.100.20:10080",
  tuple: `tcp 192.0.2.10:0 -> 198.51.100.20:${port}`,
  mask: "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
  class: 0,
  flags: 0,
  helper: "amanda",
  expectfn: null,
  nat: null,
  timeout: 180,
  expectMax: 3,
});

Deno.test("amanda: the CONNECT line's ports; the last goes with the verdict; master timeout 300", () => {
  const f = amandaFlow();
  const req = f.request("Amanda 2.6 REQ HANDLE 000-a0b1c2d3 SEQ 1700000000\nSECURITY USER amanda\n");
  assertEquals([req.attach, req.setTimeout], [null, undefined]);
  const call = f.reply(REP);
  assertEquals(call.setTimeout, 300);
  assertEquals(f.flow.expects(), { create: [], attach: amandaExpect(50002) });
});

Deno.test("amanda: only the first line after CONNECT; numbers that stop the scan", () => {
  const cases: [string, number | null][] = [
    ["CONNECT MESG 50001\nDATA 50000\n", 50001],
    ["CONNECT DATA 0 MESG 50001\n", null],
    ["CONNECT DATA 123456 MESG 50001\n", null],
    // DATA is searched first and MESG only after DATA's number: this MESG is missed.
    ["CONNECT MESG 50001 DATA 50000\n", 50000],
    ["CONNECT INDEX  +7\n", 7],
    ["HELLO\n", null],
    ["\u0000CONNECT DATA 5\n", null],
  ];
  for (const [text, port] of cases) {
    const f = amandaFlow();
    f.reply(text);
    assertEquals(
      f.flow.expects().attach?.tuple ?? null,
      port === null ? null : amandaExpect(port).tuple,
      text,
    );
  }
  const f = amandaFlow();
  assertEquals(f.reply(new Uint8Array(0)).setTimeout, 300);
});

Deno.test("amanda: with NAT each expectation is created and its number rewritten", () => {
  const f = amandaFlow(IPS_DST_NAT);
  const call = f.reply(REP);
  assertEquals(f.flow.expects().create.map((e) => [e.tuple, e.nat]), [
    ["tcp 192.0.2.10:0 -> 198.51.100.20:50000", "dir=0 tcp 0.0.0.0:50000 -> 0.0.0.0:0"],
    ["tcp 192.0.2.10:0 -> 198.51.100.20:50001", "dir=0 tcp 0.0.0.0:50001 -> 0.0.0.0:0"],
    ["tcp 192.0.2.10:0 -> 198.51.100.20:50002", "dir=0 tcp 0.0.0.0:50002 -> 0.0.0.0:0"],
  ]);
  assertEquals(call.attach, null);
  assert(applyMangles(call.pkt, 2, IPPROTO_UDP, call.mangles));
  const out = new TextDecoder().decode(call.pkt.buf.subarray(call.pkt.udpDataOff(), call.pkt.len));
  assertEquals(out, REP);
});

// ---- SANE ----

function saneFlow() {
  const ct = { src: C, dst: S, proto: IPPROTO_TCP, sport: 40000, dport: 6566 };
  const flow = new Flow(saneHelper, ct);
  const word = (...w: number[]) => {
    const b = new Uint8Array(w.length * 4);
    w.forEach((x, i) => new DataView(b.buffer).setUint32(i * 4, x));
    return b;
  };
  return {
    flow,
    word,
    client: (b: Uint8Array) => flow.run(packet(C, S, tcp(40000, 6566, b)), EST),
    server: (b: Uint8Array) => flow.run(packet(S, C, tcp(6566, 40000, b)), EST_REPLY),
  };
}

/** SANE_NET_START reply: status, port (as a word whose upper half must be zero), byte order, resource. */
function startReply(status: number, port: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, status);
  v.setUint32(4, port);
  v.setUint32(8, 0x1234);
  v.setUint32(12, 0);
  return b;
}

Deno.test("sane: NET_START then a successful reply expects the data connection", () => {
  const f = saneFlow();
  f.client(f.word(7, 0));
  assertEquals(new DataView(f.flow.priv.buffer).getUint32(0, true), 1);
  f.server(startReply(0, 32771));
  assertEquals(f.flow.expects().attach, {
    master: "tcp 192.0.2.10:40000 -> 198.51.100.20:6566",
    tuple: "tcp 192.0.2.10:0 -> 198.51.100.20:32771",
    mask: "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
    class: 0,
    flags: 0,
    helper: "sane",
    expectfn: null,
    nat: null,
    timeout: 300,
    expectMax: 1,
  });
  // One reply per request.
  f.server(startReply(0, 32772));
  assertEquals(f.flow.expects().attach, null);
});

Deno.test("sane: other requests disarm; failures, odd sizes and non-zero padding are ignored", () => {
  const f = saneFlow();
  f.client(f.word(7, 0));
  f.client(f.word(8, 0)); // SANE_NET_CANCEL
  f.server(startReply(0, 32771));
  assertEquals(f.flow.expects().attach, null);
  f.client(f.word(7, 0));
  f.client(f.word(7, 0, 0)); // not 8 bytes: state kept
  f.server(startReply(4, 32771)); // SANE_STATUS_INVAL
  assertEquals(f.flow.expects().attach, null);
  f.client(f.word(7, 0));
  f.server(startReply(0, 0x10000 | 32771));
  assertEquals(f.flow.expects().attach, null);
  f.client(f.word(7, 0));
  f.server(new Uint8Array(7));
  assertEquals(f.flow.expects().attach, null);
  const g = saneFlow();
  g.client(g.word(7, 0));
  assertEquals(g.flow.run(packet(S, C, tcp(6566, 40000, startReply(0, 9))), IP_CT_NEW).attach, null);
});

// ---- TFTP ----

/** RFC 1350 RRQ/WRQ: opcode, filename, NUL, mode, NUL. */
function request(opcode: number, file: string, mode = "octet"): Uint8Array {
  return new Uint8Array([0, opcode, ...enc(file), 0, ...enc(mode), 0]);
}

Deno.test("tftp: read and write requests expect the server's transfer back to the client's port", () => {
  for (const op of [1, 2]) {
    const ct = { src: C, dst: S, proto: IPPROTO_UDP, sport: 50000, dport: 69 };
    const flow = new Flow(tftpHelper, ct);
    flow.run(packet(C, S, udp(50000, 69, request(op, "pxelinux.0"))), IP_CT_NEW);
    assertEquals(flow.expects().attach, {
      master: "udp 192.0.2.10:50000 -> 198.51.100.20:69",
      tuple: "udp 198.51.100.20:0 -> 192.0.2.10:50000",
      mask: "udp 255.255.255.255:0 -> 255.255.255.255:65535",
      class: 0,
      flags: 0,
      helper: "tftp",
      expectfn: null,
      nat: null,
      timeout: 300,
      expectMax: 1,
    });
  }
});

Deno.test("tftp: other opcodes, short datagrams; IPv6 and NAT", () => {
  const ct = { src: C, dst: S, proto: IPPROTO_UDP, sport: 50000, dport: 69 };
  const flow = new Flow(tftpHelper, ct);
  for (
    const body of [
      new Uint8Array([0, 3, 0, 1]),
      new Uint8Array([0, 5, 0, 1, 0]),
      new Uint8Array([0]),
      new Uint8Array(0),
    ]
  ) {
    assertEquals(flow.run(packet(C, S, udp(50000, 69, body)), IP_CT_NEW).attach, null);
  }
  const ct6 = {
    src: "2001:db8::10",
    dst: "2001:db8::20",
    proto: IPPROTO_UDP,
    sport: 50000,
    dport: 69,
    status: IPS_SRC_NAT,
    reply: { src: "2001:db8::20", dst: "2001:db8::1", sport: 69, dport: 61000 },
  };
  const f6 = new Flow(tftpHelper, ct6);
  f6.run(packet(ct6.src, ct6.dst, udp(50000, 69, request(1, "boot.img", "netascii"))), IP_CT_NEW);
  const a = f6.expects().attach!;
  assertEquals([a.tuple, a.nat, a.expectfn], [
    "udp 2001:db8::20:0 -> 2001:db8::1:61000",
    "dir=1 udp :::50000 -> :::0",
    "nat-follow-master",
  ]);
});
