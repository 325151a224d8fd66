// The discovery-protocol helpers on messages built from their specifications:
// DHCPv6 (RFC 8415), mDNS (RFC 6762/1035), SLP (RFC 2608) and SSDP/UPnP
// (UDA 1.1: M-SEARCH, search responses, SUBSCRIBE/NOTIFY eventing).
import { deepStrictEqual, ok as assert } from "node:assert";

/** deepStrictEqual without type narrowing (the values are compared, not typed). */
function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(actual, expected, message);
}
import { dhcpv6Helper } from "../src/conntrackd/helpers/dhcpv6.ts";
import { mdnsHelper } from "../src/conntrackd/helpers/mdns.ts";
import { slpHelper } from "../src/conntrackd/helpers/slp.ts";
import { ssdpTcpHelper, ssdpUdpHelper } from "../src/conntrackd/helpers/ssdp.ts";
import {
  IP_CT_ESTABLISHED as EST,
  IP_CT_ESTABLISHED_REPLY as EST_REPLY,
  IP_CT_NEW,
  IPPROTO_TCP,
  IPPROTO_UDP,
  NF_ACCEPT,
  NF_DROP,
} from "../src/conntrackd/helpers/context.ts";
import { applyMangles, IPS_DST_NAT, IPS_SRC_NAT } from "../src/conntrackd/helpers/nat.ts";
import { enc, Flow, packet, udp } from "./lib/helper_packets.ts";
import { tcp } from "./lib/helper_packets.ts";

const V6ANY = "udp :::0";
const V6ONES = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

// ---- DHCPv6 ----

/** A DHCPv6 client message: type, transaction id, Client Identifier (DUID-LL), Elapsed Time. */
function dhcpv6(type: number): Uint8Array {
  return new Uint8Array([
    type,
    0x4a,
    0x1b,
    0x2c, // msg-type, transaction-id
    0,
    1,
    0,
    10,
    0,
    3,
    0,
    1,
    0x52,
    0x54,
    0x00,
    0x12,
    0x34,
    0x56, // OPTION_CLIENTID: DUID-LL, Ethernet
    0,
    8,
    0,
    2,
    0,
    0, // OPTION_ELAPSED_TIME
    0,
    6,
    0,
    4,
    0,
    23,
    0,
    24, // OPTION_ORO: DNS servers, domain list
  ]);
}

function dhcpFlow() {
  const ct = { src: "fe80::5054:ff:fe12:3456", dst: "ff02::1:2", proto: IPPROTO_UDP, sport: 546, dport: 547 };
  const flow = new Flow(dhcpv6Helper, ct);
  return { flow, send: (m: Uint8Array) => flow.run(packet(ct.src, ct.dst, udp(546, 547, m)), IP_CT_NEW) };
}

Deno.test("dhcpv6: a Solicit to the servers' group expects replies to the client's port 546, and sets 120 s", () => {
  const f = dhcpFlow();
  const call = f.send(dhcpv6(1));
  assertEquals(call.verdict, NF_ACCEPT);
  assertEquals(f.flow.expects(), {
    create: [],
    attach: {
      master: "udp fe80::5054:ff:fe12:3456:546 -> ff02::1:2:547",
      tuple: "udp :::0 -> fe80::5054:ff:fe12:3456:546",
      mask: `${V6ANY} -> ${V6ONES}:65535`,
      class: 0,
      flags: 1,
      helper: "dhcpv6",
      expectfn: null,
      nat: null,
      timeout: 300,
      expectMax: 1,
    },
  });
  assertEquals(call.setTimeout, 120);
});

Deno.test("dhcpv6: master timeout per message type; bad types are dropped with the reference's message", () => {
  const want: Record<number, number | undefined> = {
    0: undefined,
    1: 120,
    2: undefined,
    3: 30,
    4: 4,
    5: 600,
    6: 600,
    7: undefined,
    8: 1,
    9: 1,
    10: undefined,
    11: 120,
    12: undefined,
    13: undefined,
  };
  for (const [type, timeout] of Object.entries(want)) {
    const call = dhcpFlow().send(dhcpv6(Number(type)));
    assertEquals(call.setTimeout, timeout, `type ${type}`);
    assert(call.attach);
  }
  const call = dhcpFlow().send(dhcpv6(14));
  assertEquals(call.verdict, NF_DROP);
  assertEquals(call.notice, "Dropping DHCPv6 message with bad type 14");
  assertEquals(call.attach, null);
});

Deno.test("dhcpv6: unicast destinations and IPv4 packets are left alone; an empty payload reads type 0", () => {
  const ct = { src: "2001:db8::10", dst: "2001:db8::1", proto: IPPROTO_UDP, sport: 546, dport: 547 };
  const flow = new Flow(dhcpv6Helper, ct);
  const call = flow.run(packet(ct.src, ct.dst, udp(546, 547, dhcpv6(1))), IP_CT_NEW);
  assertEquals([call.attach, call.setTimeout], [null, undefined]);
  const v4 = new Flow(dhcpv6Helper, {
    src: "192.0.2.10",
    dst: "224.0.0.1",
    proto: IPPROTO_UDP,
    sport: 546,
    dport: 547,
  });
  assertEquals(v4.run(packet("192.0.2.10", "224.0.0.1", udp(546, 547, dhcpv6(1))), IP_CT_NEW).attach, null);
  const empty = dhcpFlow().send(new Uint8Array(0));
  assertEquals([empty.verdict, empty.setTimeout, empty.attach !== null], [NF_ACCEPT, undefined, true]);
});

// ---- mDNS and SLP ----

/** A DNS query (RFC 1035 §4.1): header, then QNAME QTYPE QCLASS. */
function dnsQuery(name: string, qtype: number): Uint8Array {
  const labels = name.split(".").flatMap((l) => [l.length, ...enc(l)]);
  return new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, qtype, 0, 1]);
}

Deno.test("mdns: a query expects answers from any host sent from the group port back to the querier", () => {
  const ct = { src: "192.0.2.10", dst: "224.0.0.251", proto: IPPROTO_UDP, sport: 5353, dport: 5353 };
  const flow = new Flow(mdnsHelper, ct);
  flow.run(packet(ct.src, ct.dst, udp(5353, 5353, dnsQuery("_ipp._tcp.local", 12))), IP_CT_NEW);
  assertEquals(flow.expects().attach, {
    master: "udp 192.0.2.10:5353 -> 224.0.0.251:5353",
    tuple: "udp 0.0.0.0:5353 -> 192.0.2.10:5353",
    mask: "udp 0.0.0.0:65535 -> 255.255.255.255:65535",
    class: 0,
    flags: 1,
    helper: "mdns",
    expectfn: null,
    nat: null,
    timeout: 30,
    expectMax: 8,
  });
});

Deno.test("mdns: a legacy one-shot query from an ephemeral port, IPv6, and any payload", () => {
  const ct = { src: "2001:db8::10", dst: "ff02::fb", proto: IPPROTO_UDP, sport: 40001, dport: 5353 };
  const flow = new Flow(mdnsHelper, ct);
  flow.run(packet(ct.src, ct.dst, udp(40001, 5353, dnsQuery("printer.local", 28))), IP_CT_NEW);
  assertEquals(flow.expects().attach?.tuple, "udp :::5353 -> 2001:db8::10:40001");
  flow.run(packet(ct.src, ct.dst, udp(40001, 5353, new Uint8Array(0))), IP_CT_NEW);
  assertEquals(flow.expects().attach?.tuple, "udp :::5353 -> 2001:db8::10:40001");
});

/** SLPv2 Service Request (RFC 2608 §8.1). */
function slpSrvRqst(): Uint8Array {
  const str = (s: string) => [s.length >> 8, s.length & 0xff, ...enc(s)];
  const body = [...str(""), ...str("service:printer"), ...str("DEFAULT"), ...str(""), ...str("")];
  const lang = str("en");
  const len = 14 + lang.length - 2 + body.length;
  return new Uint8Array([2, 1, 0, len >> 8, len & 0xff, 0x20, 0, 0, 0, 0, 0x12, 0x34, ...lang, ...body]);
}

Deno.test("slp: a multicast SrvRqst expects the agents' unicast replies (policy slp 8/16)", () => {
  const ct = { src: "192.0.2.10", dst: "239.255.255.253", proto: IPPROTO_UDP, sport: 427, dport: 427 };
  const flow = new Flow(slpHelper, ct);
  flow.run(packet(ct.src, ct.dst, udp(427, 427, slpSrvRqst())), IP_CT_NEW);
  const a = flow.expects().attach!;
  assertEquals([a.tuple, a.mask, a.flags, a.helper, a.timeout, a.expectMax], [
    "udp 0.0.0.0:427 -> 192.0.2.10:427",
    "udp 0.0.0.0:65535 -> 255.255.255.255:65535",
    1,
    "slp",
    16,
    8,
  ]);
});

// ---- SSDP ----

const MSEARCH = 'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\n' +
  "ST: ssdp:all\r\n\r\n";

function searchResponse(location: string, header = "LOCATION"): string {
  return "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n" +
    `${header}: ${location}\r\nSERVER: Linux/6.1 UPnP/1.1 test/1.0\r\nST: upnp:rootdevice\r\n` +
    "USN: uuid:2fac1234-31f8-11b4-a222-08002b34c003::upnp:rootdevice\r\n\r\n";
}

function ssdpFlow(src: string, group: string, status = 0) {
  const ct = { src, dst: group, proto: IPPROTO_UDP, sport: 50000, dport: 1900, status };
  return new Flow(ssdpUdpHelper, ct);
}

Deno.test("ssdp: an M-SEARCH to the group expects the devices' responses to the searcher", () => {
  const flow = ssdpFlow("192.0.2.10", "239.255.255.250");
  flow.run(packet("192.0.2.10", "239.255.255.250", udp(50000, 1900, MSEARCH)), IP_CT_NEW);
  assertEquals(flow.expects().attach, {
    master: "udp 192.0.2.10:50000 -> 239.255.255.250:1900",
    tuple: "udp 0.0.0.0:0 -> 192.0.2.10:50000",
    mask: "udp 0.0.0.0:0 -> 255.255.255.255:65535",
    class: 0,
    flags: 1,
    helper: "ssdp",
    expectfn: null,
    nat: null,
    timeout: 300,
    expectMax: 8,
  });
  assert(flow.call.attach!.sendHelperName);
  for (const group of ["ff02::c", "ff05::c"]) {
    const f6 = ssdpFlow("2001:db8::10", group);
    f6.run(packet("2001:db8::10", group, udp(50000, 1900, MSEARCH)), IP_CT_NEW);
    assertEquals(f6.expects().attach?.tuple, "udp :::0 -> 2001:db8::10:50000");
  }
});

Deno.test("ssdp: not the group, not M-SEARCH, or no payload: nothing", () => {
  const cases: [string, string, string][] = [
    ["192.0.2.10", "239.255.255.251", MSEARCH],
    ["192.0.2.10", "239.255.255.250", "NOTIFY * HTTP/1.1\r\n\r\n"],
    ["192.0.2.10", "239.255.255.250", "M-SEARC"],
    ["192.0.2.10", "239.255.255.250", ""],
    ["2001:db8::10", "ff0e::c", MSEARCH],
  ];
  for (const [src, dst, body] of cases) {
    const flow = ssdpFlow(src, dst);
    flow.run(packet(src, dst, udp(50000, 1900, body)), IP_CT_NEW);
    assertEquals(flow.expects().attach, null, `${dst} ${JSON.stringify(body)}`);
  }
});

Deno.test("ssdp: a search response's LOCATION expects the searcher's TCP connection to the device", () => {
  const flow = ssdpFlow("192.0.2.10", "239.255.255.250");
  const respond = (body: string) =>
    flow.run(packet("192.0.2.50", "192.0.2.10", udp(1900, 50000, body)), EST_REPLY).attach;
  respond(searchResponse("http://192.0.2.50:49152/description.xml"));
  assertEquals(flow.expects().attach, {
    master: "udp 192.0.2.10:50000 -> 239.255.255.250:1900",
    tuple: "tcp 0.0.0.0:0 -> 192.0.2.50:49152",
    mask: "tcp 0.0.0.0:0 -> 255.255.255.255:65535",
    class: 0,
    flags: 1,
    helper: "ssdp",
    expectfn: null,
    nat: null,
    timeout: 300,
    expectMax: 8,
  });
  // Header names are case-insensitive; no port means 80.
  respond(searchResponse("http://192.0.2.51/desc.xml", "location"));
  assertEquals(flow.expects().attach?.tuple, "tcp 0.0.0.0:0 -> 192.0.2.51:80");
  for (
    const bad of [
      "http://device.local:80/",
      "https://192.0.2.50/",
      "http://[2001:db8::50]:80/",
      "http://192.0.2/",
    ]
  ) {
    assertEquals(respond(searchResponse(bad)), null, bad);
  }
  assertEquals(respond("HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n"), null);
  // A value without its CR is not taken (the reference needs the CR within 256 bytes).
  assertEquals(respond("HTTP/1.1 200 OK\r\nLOCATION: http://192.0.2.50:1/"), null);
  assertEquals(respond(`HTTP/1.1 200 OK\r\nLOCATION: http://192.0.2.50:1/${"x".repeat(300)}\r\n`), null);
});

Deno.test("ssdp: IPv6 LOCATION URLs (with the port after the bracket)", () => {
  const flow = ssdpFlow("2001:db8::10", "ff02::c");
  const respond = (body: string) =>
    flow.run(packet("2001:db8::50", "2001:db8::10", udp(1900, 50000, body)), EST_REPLY).attach;
  respond(searchResponse("http://[2001:db8::50]:49152/description.xml"));
  assertEquals(flow.expects().attach?.tuple, "tcp :::0 -> 2001:db8::50:49152");
  respond(searchResponse("http://[2001:db8::50]/description.xml"));
  assertEquals(flow.expects().attach?.tuple, "tcp :::0 -> 2001:db8::50:80");
  assertEquals(respond(searchResponse("http://192.0.2.50:80/")), null);
  assertEquals(respond(searchResponse("http://[2001:db8::50/")), null);
});

const SUBSCRIBE = (callback: string) =>
  "SUBSCRIBE /upnp/event/WANIPConn1 HTTP/1.1\r\nHOST: 192.0.2.50:49152\r\n" +
  `CALLBACK: <${callback}>\r\nNT: upnp:event\r\nTIMEOUT: Second-1800\r\n\r\n`;

Deno.test("ssdp/tcp: SUBSCRIBE with a callback to the subscriber expects the device's NOTIFY connections", () => {
  const ct = { src: "192.0.2.10", dst: "192.0.2.50", proto: IPPROTO_TCP, sport: 40000, dport: 49152 };
  const flow = new Flow(ssdpTcpHelper, ct);
  const send = (body: string, ctinfo = EST) =>
    flow.run(packet(ct.src, ct.dst, tcp(40000, 49152, body)), ctinfo).attach;
  send(SUBSCRIBE("http://192.0.2.10:49200/callback"));
  assertEquals(flow.expects().attach, {
    master: "tcp 192.0.2.10:40000 -> 192.0.2.50:49152",
    tuple: "tcp 192.0.2.50:0 -> 192.0.2.10:49200",
    mask: "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
    class: 0,
    flags: 0,
    helper: "ssdp",
    expectfn: null,
    nat: null,
    timeout: 300,
    expectMax: 8,
  });
  // A callback to another host, other requests, replies and new connections: nothing.
  assertEquals(send(SUBSCRIBE("http://192.0.2.99:49200/callback")), null);
  assertEquals(send("GET /description.xml HTTP/1.1\r\n\r\n"), null);
  assertEquals(send(SUBSCRIBE("http://192.0.2.10:49200/callback"), IP_CT_NEW), null);
  assertEquals(
    flow.run(packet(ct.dst, ct.src, tcp(49152, 40000, SUBSCRIBE("http://192.0.2.10:1/"))), EST_REPLY).attach,
    null,
  );
});

Deno.test("ssdp/tcp: NOTIFY renews the expectation of the connection it arrives on", () => {
  const ct = { src: "192.0.2.50", dst: "192.0.2.10", proto: IPPROTO_TCP, sport: 50001, dport: 49200 };
  const flow = new Flow(ssdpTcpHelper, ct);
  const notify =
    "NOTIFY /callback HTTP/1.1\r\nHOST: 192.0.2.10:49200\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\n" +
    "SEQ: 0\r\nCONTENT-LENGTH: 0\r\n\r\n";
  flow.run(packet(ct.src, ct.dst, tcp(50001, 49200, notify)), EST);
  const a = flow.expects().attach!;
  assertEquals([a.tuple, a.mask, a.flags], [
    "tcp 192.0.2.50:0 -> 192.0.2.10:49200",
    "tcp 255.255.255.255:0 -> 255.255.255.255:65535",
    0,
  ]);
});

Deno.test("ssdp: NAT variants are created over ctnetlink; a SUBSCRIBE's callback address is rewritten", () => {
  // M-SEARCH from behind source NAT.
  const m = ssdpFlow("10.0.0.5", "239.255.255.250", IPS_SRC_NAT);
  m.run(packet("10.0.0.5", "239.255.255.250", udp(50000, 1900, MSEARCH)), IP_CT_NEW);
  assertEquals(m.expects().create.map((e) => [e.tuple, e.nat, e.expectfn]), [[
    "udp 0.0.0.0:0 -> 10.0.0.5:50000",
    "dir=1 udp 0.0.0.0:50000 -> 0.0.0.0:0",
    "nat-follow-master",
  ]]);
  assertEquals(m.call.mangles, []);
  // SUBSCRIBE from behind source NAT: the callback names the public address.
  const ct = {
    src: "10.0.0.5",
    dst: "192.0.2.50",
    proto: IPPROTO_TCP,
    sport: 40000,
    dport: 49152,
    status: IPS_SRC_NAT,
    reply: { src: "192.0.2.50", dst: "203.0.113.1", sport: 49152, dport: 61000 },
  };
  const s = new Flow(ssdpTcpHelper, ct);
  const body = SUBSCRIBE("http://10.0.0.5:49200/callback");
  const call = s.run(packet(ct.src, ct.dst, tcp(40000, 49152, body)), EST);
  assertEquals(s.expects().create.map((e) => [e.tuple, e.nat]), [[
    "tcp 192.0.2.50:0 -> 203.0.113.1:49200",
    "dir=1 tcp 0.0.0.0:49200 -> 0.0.0.0:0",
  ]]);
  assert(applyMangles(call.pkt, 2, IPPROTO_TCP, call.mangles));
  const out = new TextDecoder().decode(call.pkt.buf.subarray(call.pkt.tcpDataOff(), call.pkt.len));
  assertEquals(out, SUBSCRIBE("http://203.0.113.1:49200/callback"));
  // NOTIFY through destination NAT: same direction.
  const n = new Flow(ssdpTcpHelper, {
    src: "192.0.2.50",
    dst: "203.0.113.1",
    proto: IPPROTO_TCP,
    sport: 50001,
    dport: 49200,
    status: IPS_DST_NAT,
    reply: { src: "10.0.0.5", dst: "192.0.2.50", sport: 49200, dport: 50001 },
  });
  n.run(packet("192.0.2.50", "203.0.113.1", tcp(50001, 49200, "NOTIFY /callback HTTP/1.1\r\n\r\n")), EST);
  assertEquals(n.expects().create.map((e) => e.nat), ["dir=0 tcp 0.0.0.0:49200 -> 0.0.0.0:0"]);
});

Deno.test("discovery helpers: random datagrams never throw", () => {
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  const flows = [
    dhcpFlow().flow,
    ssdpFlow("192.0.2.10", "239.255.255.250"),
    new Flow(mdnsHelper, {
      src: "192.0.2.10",
      dst: "224.0.0.251",
      proto: IPPROTO_UDP,
      sport: 5353,
      dport: 5353,
    }),
  ];
  for (let i = 0; i < 3000; i++) {
    const flow = flows[i % flows.length];
    const body = new Uint8Array(rnd() % 200).map(() => rnd());
    if (i % 7 === 0) body.set(enc("HTTP/1.1 200 OK\r\nLOCATION: http://").subarray(0, body.length));
    const c = flow.ct;
    flow.run(packet(c.src, c.dst, udp(c.sport, c.dport, body)), [IP_CT_NEW, EST, EST_REPLY][i % 3]);
  }
});
