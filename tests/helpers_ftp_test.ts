// The FTP helper on real control-connection segments (RFC 959 PORT/PASV,
// RFC 2428 EPRT/EPSV), both directions, IPv4 and IPv6, split, truncated and
// hostile commands, NAT, and the policy in force.
import { deepStrictEqual, ok as assert } from "node:assert";

/** deepStrictEqual without type narrowing (the values are compared, not typed). */
function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(actual, expected, message);
}
import { ftpHelper } from "../src/conntrackd/helpers/ftp.ts";
import {
  IP_CT_ESTABLISHED as EST,
  IP_CT_ESTABLISHED_REPLY as EST_REPLY,
  IP_CT_NEW,
  IPPROTO_TCP,
  NF_ACCEPT,
} from "../src/conntrackd/helpers/context.ts";
import { applyMangles, IPS_SRC_NAT } from "../src/conntrackd/helpers/nat.ts";
import { Flow, packet, tcp } from "./lib/helper_packets.ts";

const C4 = "192.0.2.10", S4 = "198.51.100.20";
const C6 = "2001:db8::10", S6 = "2001:db8::20";
const CSEQ = 1000, SSEQ = 5000;

/** A control connection past its greeting and first command, so both directions are parsed. */
class Ftp {
  readonly flow: Flow;
  cseq = CSEQ;
  sseq = SSEQ;
  constructor(
    readonly c: string,
    readonly s: string,
    status = 0,
    reply?: { src: string; dst: string; sport: number; dport: number },
    policies?: { name: string; expectMax: number; expectTimeout: number }[],
  ) {
    this.flow = new Flow(ftpHelper, {
      src: c,
      dst: s,
      proto: IPPROTO_TCP,
      sport: 40000,
      dport: 21,
      status,
      reply,
    }, policies);
  }
  fromServer(text: string) {
    const call = this.flow.run(packet(this.s, this.c, tcp(21, 40000, text, this.sseq)), EST_REPLY);
    this.sseq += text.length;
    return call;
  }
  fromClient(text: string) {
    const call = this.flow.run(packet(this.c, this.s, tcp(40000, 21, text, this.cseq)), EST);
    this.cseq += text.length;
    return call;
  }
  static open(
    c = C4,
    s = S4,
    status = 0,
    reply?: { src: string; dst: string; sport: number; dport: number },
    policies?: { name: string; expectMax: number; expectTimeout: number }[],
  ) {
    const f = new Ftp(c, s, status, reply, policies);
    f.fromServer("220 ProFTPD Server ready.\r\n");
    f.fromClient("USER anonymous\r\n");
    f.fromServer("331 Anonymous login ok, send your complete email address as your password\r\n");
    f.fromClient("PASS guest@\r\n");
    f.fromServer("230 Anonymous access granted, restrictions apply\r\n");
    return f;
  }
  get expects() {
    return this.flow.expects();
  }
}

const ftpPolicy = { timeout: 300, expectMax: 1, class: 0, helper: "ftp", expectfn: null, nat: null };

Deno.test("ftp: PORT from the client expects the server's data connection to the announced port", () => {
  const f = Ftp.open();
  const call = f.fromClient("PORT 192,0,2,10,7,138\r\n");
  assertEquals(call.verdict, NF_ACCEPT);
  assertEquals(f.expects, {
    create: [{
      ...ftpPolicy,
      master: "tcp 192.0.2.10:40000 -> 198.51.100.20:21",
      tuple: "tcp 198.51.100.20:0 -> 192.0.2.10:1930",
      mask: "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
      flags: 0,
    }],
    attach: null,
  });
});

Deno.test("ftp: 227 PASV reply expects the client's connection to the server", () => {
  const f = Ftp.open();
  f.fromClient("PASV\r\n");
  f.fromServer("227 Entering Passive Mode (198,51,100,20,19,137).\r\n");
  assertEquals(f.expects.create, [{
    ...ftpPolicy,
    master: "tcp 192.0.2.10:40000 -> 198.51.100.20:21",
    tuple: "tcp 192.0.2.10:0 -> 198.51.100.20:5001",
    mask: "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
    flags: 0,
  }]);
});

Deno.test("ftp: EPRT |1| from the client and 229 EPSV from the server", () => {
  const f = Ftp.open();
  f.fromClient("EPRT |1|192.0.2.10|6275|\r\n");
  assertEquals(f.expects.create.map((e) => e.tuple), ["tcp 198.51.100.20:0 -> 192.0.2.10:6275"]);
  f.fromServer("200 EPRT command successful\r\n");
  f.fromClient("EPSV\r\n");
  f.fromServer("229 Entering Extended Passive Mode (|||6446|)\r\n");
  assertEquals(f.expects.create.map((e) => e.tuple), ["tcp 192.0.2.10:0 -> 198.51.100.20:6446"]);
  // Any printable non-digit delimiter.
  f.fromClient("EPSV\r\n");
  f.fromServer("229 Entering Extended Passive Mode (!!!6447!)\r\n");
  assertEquals(f.expects.create.map((e) => e.tuple), ["tcp 192.0.2.10:0 -> 198.51.100.20:6447"]);
});

Deno.test("ftp: IPv6 EPRT |2| and EPSV; PORT on IPv6 records nothing (address mismatch, as the kernel)", () => {
  const f = Ftp.open(C6, S6);
  f.fromClient("EPRT |2|2001:db8::10|6275|\r\n");
  assertEquals(f.expects.create, [{
    ...ftpPolicy,
    master: "tcp 2001:db8::10:40000 -> 2001:db8::20:21",
    tuple: "tcp 2001:db8::20:0 -> 2001:db8::10:6275",
    mask: "tcp ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:0 -> ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:65535",
    flags: 0,
  }]);
  f.fromServer("200 ok\r\n");
  f.fromClient("EPSV\r\n");
  f.fromServer("229 Entering Extended Passive Mode (|||50000|)\r\n");
  assertEquals(f.expects.create.map((e) => e.tuple), ["tcp 2001:db8::10:0 -> 2001:db8::20:50000"]);
  // |1| on an IPv6 conntrack and PORT: not this family.
  f.fromClient("EPRT |1|192.0.2.10|6275|\r\n");
  assertEquals(f.expects.create, []);
  f.fromServer("500 no\r\n");
  f.fromClient("PORT 192,0,2,10,7,138\r\n");
  assertEquals(f.expects.create, []);
});

Deno.test("ftp: the first segment of each direction and segments not after a newline are not parsed", () => {
  const f = new Ftp(C4, S4);
  // The very first client segment is a PORT: never looked at.
  f.fromClient("PORT 192,0,2,10,7,138\r\n");
  assertEquals(f.expects.create, []);
  f.fromClient("PORT 192,0,2,10,7,139\r\n");
  assertEquals(f.expects.create.length, 1);
  // A retransmission (old sequence number) is not after a remembered newline.
  const old = f.flow.run(packet(C4, S4, tcp(40000, 21, "PORT 192,0,2,10,7,140\r\n", CSEQ + 5)), EST);
  assertEquals(old.create, []);
});

Deno.test("ftp: a command split over two segments is not parsed; the next whole one is", () => {
  const f = Ftp.open();
  f.fromClient("PORT 192,0,2,10,");
  assertEquals(f.expects.create, []);
  f.fromClient("7,138\r\n");
  assertEquals(f.expects.create, []);
  f.fromClient("PORT 192,0,2,10,7,141\r\n");
  assertEquals(f.expects.create.map((e) => e.tuple), ["tcp 198.51.100.20:0 -> 192.0.2.10:1933"]);
});

Deno.test("ftp: only established packets are parsed", () => {
  const f = Ftp.open();
  const text = "PORT 192,0,2,10,7,138\r\n";
  const call = f.flow.run(packet(C4, S4, tcp(40000, 21, text, f.cseq)), IP_CT_NEW);
  assertEquals(call.create, []);
  assertEquals(call.verdict, NF_ACCEPT);
});

Deno.test("ftp: a third-party address is not recorded, and that line's newline is not remembered", () => {
  const f = Ftp.open();
  f.fromClient("PORT 203,0,113,99,7,138\r\n");
  assertEquals(f.expects.create, []);
  // The reference leaves without remembering this segment's end: the next line is skipped too.
  f.fromClient("PORT 192,0,2,10,7,138\r\n");
  assertEquals(f.expects.create, []);
  f.fromClient("NOOP\r\n");
  f.fromClient("PORT 192,0,2,10,7,138\r\n");
  assertEquals(f.expects.create.length, 1);
});

Deno.test("ftp: truncated and hostile commands create nothing and never throw", () => {
  const cases = [
    "PORT",
    "PORT ",
    "PORT 192,0,2,10,7,138", // no terminator before the end
    "PORT 192,0,2,10,7\r\n",
    "PORT 192,0,2,10,7,138,9\r\n",
    "PORT 192.0.2.10.7.138\r\n",
    "PORTX\r\n",
    "port 192,0,2,10,7,138\r\n", // case-sensitive
    "EPRT 1|192.0.2.10|6275|\r\n",
    "EPRT |1|192.0.2.10|0|\r\n",
    "EPRT |1|192.0.2.10|62a75|\r\n",
    "EPRT |1|192.0.2.10\r\n",
    "EPRT |3|192.0.2.10|6275|\r\n",
    "EPRT \x01\x31\x01192.0.2.10\x016275\x01\r\n",
    "\x00\x00\x00\x00\x00\x00\x00\x00\r\n",
  ];
  for (const text of cases) {
    const f = Ftp.open();
    const call = f.fromClient(text + (text.endsWith("\n") ? "" : ""));
    assertEquals(f.expects.create, [], JSON.stringify(text));
    assertEquals(call.verdict, NF_ACCEPT);
  }
  for (
    const text of [
      "227 ",
      "227 (",
      "227 Entering (198,51,100,20,19)\r\n",
      "229 (|||0|)\r\n",
      "229 (||6446|)\r\n",
      "229 (1116446|)\r\n",
    ]
  ) {
    const f = Ftp.open();
    f.fromServer(text);
    assertEquals(f.expects.create, [], JSON.stringify(text));
  }
  // Random bytes after a newline-ended exchange: never an exception.
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const f = Ftp.open();
    const body = new Uint8Array(1 + (rnd() % 60)).map(() => rnd());
    body.set([0x50, 0x4f, 0x52, 0x54, 0x20].slice(0, body.length));
    f.flow.run(packet(C4, S4, tcp(40000, 21, body, f.cseq)), EST);
  }
});

Deno.test("ftp: numbers wrap like the reference's unsigned arithmetic; port 0 is taken", () => {
  // Bits shifted past 32 are lost and larger values OR into the bytes before them, as in C.
  for (
    const text of ["PORT 448,0,2,10,7,138\r\n", "PORT 128,16384,2,10,7,138\r\n", "PORT 192,0,2,10,7,394\r\n"]
  ) {
    const f = Ftp.open();
    f.fromClient(text);
    assertEquals(f.expects.create.map((e) => e.tuple), ["tcp 198.51.100.20:0 -> 192.0.2.10:1930"], text);
  }
  const f = Ftp.open();
  f.fromClient("PORT 192,0,2,10,0,0\r\n");
  assertEquals(f.expects.create.map((e) => e.tuple), ["tcp 198.51.100.20:0 -> 192.0.2.10:0"]);
});

Deno.test("ftp: the configured policy's timeout and maximum go with the expectation", () => {
  const f = Ftp.open(C4, S4, 0, undefined, [{ name: "ftp", expectMax: 4, expectTimeout: 60 }]);
  f.fromClient("PORT 192,0,2,10,7,138\r\n");
  assertEquals(f.expects.create[0].timeout, 60);
  assertEquals(f.expects.create[0].expectMax, 4);
});

Deno.test("ftp: behind source NAT the expectation maps the port and the PORT text is rewritten", () => {
  const reply = { src: S4, dst: "203.0.113.1", sport: 21, dport: 61000 };
  const f = Ftp.open("10.0.0.5", S4, IPS_SRC_NAT, reply);
  const call = f.fromClient("PORT 10,0,0,5,7,138\r\n");
  assertEquals(f.expects.create, [{
    ...ftpPolicy,
    master: "tcp 10.0.0.5:40000 -> 198.51.100.20:21",
    tuple: "tcp 198.51.100.20:0 -> 203.0.113.1:1930",
    mask: "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
    flags: 0,
    expectfn: "nat-follow-master",
    nat: "dir=1 tcp 0.0.0.0:1930 -> 0.0.0.0:0",
  }]);
  assertEquals(call.mangles.map((m) => [m.at, m.len, m.text]), [[5, 14, "203,0,113,1,7,138"]]);
  assert(applyMangles(call.pkt, 2, IPPROTO_TCP, call.mangles));
  const payload = new TextDecoder().decode(call.pkt.buf.subarray(call.pkt.tcpDataOff(), call.pkt.len));
  assertEquals(payload, "PORT 203,0,113,1,7,138\r\n");
  assertEquals(call.pkt.view.getUint16(2), call.pkt.len);
});

Deno.test("ftp: private data keeps the per-direction newline sequence numbers (24 bytes)", () => {
  const f = Ftp.open();
  const v = new DataView(f.flow.priv.buffer);
  assertEquals(f.flow.priv.length, 24);
  // Two remembered positions per direction, the newest replacing the oldest.
  assertEquals(v.getInt32(16, true), 2);
  assertEquals(v.getInt32(20, true), 2);
  const orig = [v.getUint32(0, true), v.getUint32(4, true)].sort((a, b) => a - b);
  assertEquals(orig, [CSEQ + "USER anonymous\r\n".length, CSEQ + "USER anonymous\r\nPASS guest@\r\n".length]);
});
