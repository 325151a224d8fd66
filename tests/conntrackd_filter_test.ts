// conntrackd's Filter (src/conntrackd/filter/): the userspace checks, the BPF
// program of `Filter From Kernelspace` and the ExpectationSync helper list, all
// configured from conntrackd.conf text through src/conntrackd/config.
//
// Besides unit cases, three oracles: libnetfilter_conntrack builds the
// reference BPF program (read back from a socket and compared byte for byte);
// the kernel runs our program on real events inside a throw-away namespace;
// and the reference conntrackd (Stats mode, in that namespace) shows which
// entries its own filters let into its cache.
//
// Run as `deno run -A --no-check tests/conntrackd_filter_test.ts --listen`, this
// file is the namespace test's event listener (see listen()).

import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert";
import { addrBytes, ntop6, pton6 } from "../src/common/inet.ts";
import { decodeConntrack } from "../src/conntrack/decode.ts";
import {
  Conntrack,
  Expect,
  IPPROTO_ICMP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from "../src/conntrack/model.ts";
import { type FilterConfig, parseConfig } from "../src/conntrackd/config/mod.ts";
import { ipv4Word, ipv6Words, NO_ADDRESS } from "../src/conntrackd/filter/address.ts";
import {
  attachKernelFilter,
  buildKernelFilter,
  CtFilter,
  expectHelperAccepted,
  KernelFilterError,
  masterSanity,
  SANITY_MESSAGES,
} from "../src/conntrackd/filter/mod.ts";
import { NetlinkSocket } from "../src/netlink/socket.ts";
import { libc } from "../ffi/libc.ts";
import { Netns } from "./lib/netns.ts";

/** The Filter of a conntrackd.conf whose General block holds `body` inside `Filter { }`. */
function filterOf(body: string, from = ""): FilterConfig {
  const text = `General {\n\tUNIX { Path /tmp/x.ctl }\n\tFilter ${from}{\n${body}\n\t}\n}\n`;
  return parseConfig(text, "filter-test.conf").general.filter;
}

interface CtOptions {
  /** Reply source (default: the original destination, i.e. no NAT). */
  rsrc?: string | null;
  rdst?: string | null;
  state?: number;
}

/** A conntrack as the decoder would give it; `null` leaves an address unset. */
function ct(
  l3: number,
  proto: number | undefined,
  src: string | null,
  dst: string | null,
  o: CtOptions = {},
) {
  const c = new Conntrack();
  c.orig.l3 = c.reply.l3 = l3;
  c.orig.proto = c.reply.proto = proto;
  c.orig.src = src ?? undefined;
  c.orig.dst = dst ?? undefined;
  c.reply.src = (o.rsrc === undefined ? dst : o.rsrc) ?? undefined;
  c.reply.dst = (o.rdst === undefined ? src : o.rdst) ?? undefined;
  c.state = o.state;
  return c;
}

const v4 = (proto: number | undefined, src: string, dst: string, o?: CtOptions) => ct(2, proto, src, dst, o);
const v6 = (proto: number | undefined, src: string, dst: string, o?: CtOptions) => ct(10, proto, src, dst, o);

const TCP_ESTABLISHED = 3, TCP_SYN_SENT = 1, TCP_TIME_WAIT = 7, TCP_CLOSE = 8, TCP_SYN_SENT2 = 9;

// ---------------------------------------------------------------------------
// Userspace filter

Deno.test("userspace: no Filter clause leaves only the sanity check", () => {
  for (const cfg of [filterOf(""), parseConfig("General { UNIX { Path /x } }\n", "x").general.filter]) {
    const f = new CtFilter(cfg);
    assert(f.empty);
    assertEquals(f.rejects(v4(IPPROTO_TCP, "1.2.3.4", "5.6.7.8"), true), false);
    assertEquals(f.rejects(v6(250, "::1", "::2"), true), false);
    assertEquals(f.rejects(ct(0, IPPROTO_TCP, "1.2.3.4", "5.6.7.8"), true), true);
  }
  assertEquals(new CtFilter(filterOf("Protocol Accept { TCP }")).empty, false);
  assertEquals(new CtFilter(filterOf("State Ignore { }")).empty, false);
});

Deno.test("userspace: sanity check needs the layer 3 protocol and both source addresses", () => {
  // An Ignore clause that drops nothing, so only the sanity check decides.
  for (const f of [new CtFilter(filterOf("")), new CtFilter(filterOf("Protocol Ignore { }"))]) {
    for (const userspace of [true, false]) {
      const reason = (c: Conntrack) => f.dropReason(c, userspace);
      assertEquals(reason(ct(0, IPPROTO_TCP, "1.1.1.1", "2.2.2.2")), "l3");
      assertEquals(reason(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2")), null);
      assertEquals(reason(ct(2, IPPROTO_TCP, null, "2.2.2.2", { rsrc: "2.2.2.2" })), "ipv4");
      assertEquals(reason(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { rsrc: null })), "ipv4");
      // Destinations are not part of the check.
      assertEquals(reason(ct(2, IPPROTO_TCP, "1.1.1.1", null, { rsrc: "2.2.2.2", rdst: null })), null);
      assertEquals(reason(ct(10, IPPROTO_UDP, null, "::2", { rsrc: "::2" })), "ipv6");
      assertEquals(reason(v6(IPPROTO_UDP, "::1", "::2", { rsrc: null })), "ipv6");
      assertEquals(reason(v6(IPPROTO_UDP, "::1", "::2")), null);
      // Other families have no address requirement.
      assertEquals(reason(ct(7, IPPROTO_UDP, null, null)), null);
      assertEquals(f.rejects(ct(10, IPPROTO_UDP, null, "::2"), userspace), true);
    }
  }
  assertEquals(SANITY_MESSAGES.ipv4, "missing IPv4 address. You forgot to load nf_conntrack_ipv4?");
  assertEquals(SANITY_MESSAGES.ipv6, "missing IPv6 address. You forgot to load nf_conntrack_ipv6?");
  assertEquals(SANITY_MESSAGES.l3, "missing layer 3 protocol");
});

Deno.test("userspace: the clauses only apply when filtering in userspace", () => {
  const f = new CtFilter(filterOf("Protocol Accept { UDP }\nAddress Ignore { IPv4_address 1.1.1.1 }"));
  const c = v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2");
  assertEquals(f.rejects(c, true), true);
  assertEquals(f.rejects(c, false), false);
});

Deno.test("userspace: Protocol Accept keeps only listed protocols, Ignore drops them", () => {
  const accept = new CtFilter(filterOf("Protocol Accept { TCP UDP sctp }"));
  const ignore = new CtFilter(filterOf("Protocol Ignore { TCP UDP sctp }"));
  for (
    const [proto, listed] of [[IPPROTO_TCP, true], [IPPROTO_UDP, true], [IPPROTO_SCTP, true], [1, false]]
  ) {
    const c = v4(proto as number, "1.1.1.1", "2.2.2.2");
    assertEquals(accept.rejects(c, true), !listed, `accept ${proto}`);
    assertEquals(ignore.rejects(c, true), listed as boolean, `ignore ${proto}`);
    assertEquals(accept.dropReason(c, true), listed ? null : "protocol");
  }
  // A missing protocol counts as 0 (the C getter's value for an unset attribute).
  assertEquals(accept.rejects(v4(undefined, "1.1.1.1", "2.2.2.2"), true), true);
  assertEquals(
    new CtFilter(filterOf("Protocol Accept { ip }")).rejects(v4(undefined, "1.1.1.1", "2.2.2.2"), true),
    false,
  );
  // A clause whose names are all unknown still sets the policy: Accept with an empty list drops everything.
  const cfg = filterOf("Protocol Accept { nosuchproto }");
  assertEquals(cfg.protocol, { policy: "accept", protocols: [] });
  assertEquals(new CtFilter(cfg).rejects(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2"), true), true);
  assertEquals(
    new CtFilter(filterOf("Protocol Ignore { }")).rejects(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2"), true),
    false,
  );
});

Deno.test("userspace: addresses test the original source and the reply source, never the destination", () => {
  const ignore = new CtFilter(filterOf("Address Ignore { IPv4_address 10.0.0.8 }"));
  // Original source.
  assertEquals(ignore.dropReason(v4(IPPROTO_TCP, "10.0.0.8", "1.1.1.1"), true), "address");
  // No NAT: the reply source is the original destination.
  assertEquals(ignore.rejects(v4(IPPROTO_TCP, "1.1.1.1", "10.0.0.8"), true), true);
  // DNAT to 10.0.0.8: only the reply source names it.
  assertEquals(ignore.rejects(v4(IPPROTO_TCP, "1.1.1.1", "9.9.9.9", { rsrc: "10.0.0.8" }), true), true);
  // DNAT away from 10.0.0.8: the original destination alone does not count, nor the reply destination.
  assertEquals(ignore.rejects(v4(IPPROTO_TCP, "1.1.1.1", "10.0.0.8", { rsrc: "10.0.0.9" }), true), false);
  assertEquals(ignore.rejects(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { rdst: "10.0.0.8" }), true), false);

  const accept = new CtFilter(filterOf("Address Accept { IPv4_address 10.0.0.8 }"));
  assertEquals(accept.rejects(v4(IPPROTO_UDP, "10.0.0.8", "1.1.1.1"), true), false);
  assertEquals(accept.rejects(v4(IPPROTO_UDP, "1.1.1.1", "10.0.0.8"), true), false);
  assertEquals(accept.rejects(v4(IPPROTO_UDP, "1.1.1.1", "9.9.9.9", { rsrc: "10.0.0.8" }), true), false);
  assertEquals(accept.rejects(v4(IPPROTO_UDP, "1.1.1.1", "10.0.0.8", { rsrc: "9.9.9.9" }), true), true);
  assertEquals(accept.dropReason(v4(IPPROTO_UDP, "1.1.1.1", "2.2.2.2"), true), "address");
});

Deno.test("userspace: netmask entries and exact addresses", () => {
  const body = `Address Ignore {
    IPv4_address 192.168.0.0/16
    IPv4_address 10.1.2.3
    IPv4_address 172.16.5.5/32
    IPv6_address 2001:db8::/32
    IPv6_address fe80::1
  }`;
  const ignore = new CtFilter(filterOf(body));
  const accept = new CtFilter(filterOf(body.replace("Ignore", "Accept")));
  const cases: [Conntrack, boolean][] = [
    [v4(IPPROTO_TCP, "192.168.200.1", "8.8.8.8"), true], // netmask, original source
    [v4(IPPROTO_TCP, "8.8.8.8", "192.168.0.9"), true], // netmask, reply source
    [v4(IPPROTO_TCP, "192.169.0.1", "8.8.8.8"), false],
    [v4(IPPROTO_TCP, "10.1.2.3", "8.8.8.8"), true], // exact
    [v4(IPPROTO_TCP, "8.8.8.8", "10.1.2.3"), true],
    [v4(IPPROTO_TCP, "10.1.2.4", "8.8.8.8"), false], // exact means exact
    [v4(IPPROTO_TCP, "172.16.5.5", "8.8.8.8"), true], // /32 is an exact entry
    [v4(IPPROTO_TCP, "172.16.5.6", "8.8.8.8"), false],
    // One source in a network, the other an exact address: the network decides first, same outcome.
    [v4(IPPROTO_TCP, "192.168.1.1", "10.1.2.3"), true],
    [v6(IPPROTO_TCP, "2001:db8:ffff::7", "2a00::1"), true],
    [v6(IPPROTO_TCP, "2a00::1", "2001:db8::1"), true],
    [v6(IPPROTO_TCP, "2001:db9::1", "2a00::1"), false],
    [v6(IPPROTO_TCP, "fe80::1", "2a00::1"), true],
    [v6(IPPROTO_TCP, "2a00::2", "fe80::1"), true],
    [v6(IPPROTO_TCP, "fe80::2", "2a00::1"), false],
    // The IPv4 and IPv6 lists are separate: an IPv4-mapped address is an IPv6 address.
    [v6(IPPROTO_TCP, "::ffff:10.1.2.3", "2a00::1"), false],
  ];
  for (const [c, listed] of cases) {
    const what = `${c.orig.src} -> ${c.orig.dst} (reply from ${c.reply.src})`;
    assertEquals(ignore.rejects(c, true), listed, `Ignore: ${what}`);
    assertEquals(accept.rejects(c, true), !listed, `Accept: ${what}`);
  }
  // /0 takes every address of its family, and only of its family.
  const all4 = new CtFilter(filterOf("Address Ignore { IPv4_address 1.2.3.4/0 }"));
  assertEquals(all4.rejects(v4(IPPROTO_UDP, "8.8.8.8", "9.9.9.9"), true), true);
  assertEquals(all4.rejects(v6(IPPROTO_UDP, "::8", "::9"), true), false);
  // A netmask entry is compared after masking both sides (host bits in the entry do not matter).
  const hostBits = new CtFilter(filterOf("Address Ignore { IPv6_address 2001:db8::99/64 }"));
  assertEquals(hostBits.rejects(v6(IPPROTO_UDP, "2001:db8::5", "2a00::9"), true), true);
  assertEquals(hostBits.rejects(v6(IPPROTO_UDP, "2001:db8:0:1::5", "2a00::9"), true), false);
});

Deno.test("userspace: Address Accept drops a family it lists nothing for; other families pass", () => {
  const only4 = new CtFilter(filterOf("Address Accept { IPv4_address 10.0.0.0/8 }"));
  assertEquals(only4.rejects(v4(IPPROTO_TCP, "10.0.0.1", "8.8.8.8"), true), false);
  assertEquals(only4.rejects(v6(IPPROTO_TCP, "2001:db8::1", "2001:db8::2"), true), true);
  assertEquals(only4.rejects(ct(7, IPPROTO_TCP, null, null), true), false);
  const only6 = new CtFilter(filterOf("Address Accept { IPv6_address ::1 }"));
  assertEquals(only6.rejects(v6(IPPROTO_TCP, "::1", "::2"), true), false);
  assertEquals(only6.rejects(v4(IPPROTO_TCP, "10.0.0.1", "8.8.8.8"), true), true);
  // Under Ignore such entries pass.
  const ignore4 = new CtFilter(filterOf("Address Ignore { IPv4_address 10.0.0.0/8 }"));
  assertEquals(ignore4.rejects(v6(IPPROTO_TCP, "2001:db8::1", "2001:db8::2"), true), false);
  // Accept with no entry at all drops every IPv4 and IPv6 entry.
  const none = new CtFilter(filterOf("Address Accept { }"));
  assertEquals(none.rejects(v4(IPPROTO_TCP, "10.0.0.1", "8.8.8.8"), true), true);
  assertEquals(none.rejects(v6(IPPROTO_TCP, "::1", "::2"), true), true);
  assertEquals(none.rejects(ct(7, IPPROTO_TCP, null, null), true), false);
});

Deno.test("userspace: State applies to TCP entries that carry a state only", () => {
  const accept = new CtFilter(filterOf("State Accept { ESTABLISHED CLOSED LISTEN for TCP }"));
  const ignore = new CtFilter(filterOf("State Ignore { ESTABLISHED CLOSED LISTEN for TCP }"));
  const cases: [Conntrack, boolean | null][] = [
    [v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { state: TCP_ESTABLISHED }), true],
    [v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { state: TCP_CLOSE }), true],
    [v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { state: TCP_SYN_SENT2 }), true], // LISTEN is the kernel's SYN_SENT2
    [v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { state: TCP_SYN_SENT }), false],
    [v6(IPPROTO_TCP, "::1", "::2", { state: TCP_TIME_WAIT }), false],
    [v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { state: 0 }), false],
    [v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { state: 200 }), false],
    // No state (e.g. a destroy event), or not TCP: the clause does not apply.
    [v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2"), null],
    [v4(IPPROTO_SCTP, "1.1.1.1", "2.2.2.2", { state: TCP_ESTABLISHED }), null],
    [v4(IPPROTO_UDP, "1.1.1.1", "2.2.2.2"), null],
  ];
  for (const [c, listed] of cases) {
    const what = `proto ${c.orig.proto} state ${c.state}`;
    assertEquals(accept.rejects(c, true), listed === null ? false : !listed, `Accept: ${what}`);
    assertEquals(ignore.rejects(c, true), listed === null ? false : listed, `Ignore: ${what}`);
  }
  assertEquals(
    ignore.dropReason(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { state: TCP_ESTABLISHED }), true),
    "state",
  );
  // An empty Accept list drops every TCP entry with a state.
  const none = new CtFilter(filterOf("State Accept { }"));
  assertEquals(none.rejects(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2", { state: TCP_ESTABLISHED }), true), true);
  assertEquals(none.rejects(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2"), true), false);
});

Deno.test("userspace: clauses run protocol, address, state; the last policy of a kind wins", () => {
  const f = new CtFilter(filterOf(`
    Protocol Accept { TCP }
    Address Ignore { IPv4_address 10.0.0.1 }
    State Accept { ESTABLISHED for TCP }`));
  const est = { state: TCP_ESTABLISHED };
  assertEquals(f.dropReason(v4(IPPROTO_UDP, "10.0.0.1", "2.2.2.2", est), true), "protocol");
  assertEquals(
    f.dropReason(v4(IPPROTO_TCP, "10.0.0.1", "2.2.2.2", { state: TCP_SYN_SENT }), true),
    "address",
  );
  assertEquals(f.dropReason(v4(IPPROTO_TCP, "10.0.0.2", "2.2.2.2", { state: TCP_SYN_SENT }), true), "state");
  assertEquals(f.dropReason(v4(IPPROTO_TCP, "10.0.0.2", "2.2.2.2", est), true), null);

  // Lists of one kind merge over clauses and blocks; the policy is the last one written.
  const merged = new CtFilter(filterOf("Protocol Accept { TCP }\nProtocol Ignore { UDP }"));
  assertEquals(merged.rejects(v4(IPPROTO_TCP, "1.1.1.1", "2.2.2.2"), true), true);
  assertEquals(merged.rejects(v4(IPPROTO_UDP, "1.1.1.1", "2.2.2.2"), true), true);
  assertEquals(merged.rejects(v4(IPPROTO_ICMP, "1.1.1.1", "2.2.2.2"), true), false);
  const blocks = parseConfig(
    "General {\n UNIX { Path /x }\n Filter { Address Ignore { IPv4_address 1.1.1.1 } }\n" +
      " Filter From Kernelspace { Address Ignore { IPv4_address 2.2.2.2 } }\n}\n",
    "x",
  ).general.filter;
  assert(blocks.kernelspace);
  const both = new CtFilter(blocks);
  assertEquals(both.rejects(v4(IPPROTO_TCP, "1.1.1.1", "3.3.3.3"), true), true);
  assertEquals(both.rejects(v4(IPPROTO_TCP, "3.3.3.3", "2.2.2.2"), true), true);
  assertEquals(both.rejects(v4(IPPROTO_TCP, "3.3.3.3", "4.4.4.4"), true), false);
});

Deno.test("expectations: ExpectationSync helper names are case-insensitive prefixes", () => {
  const conf = (opts: string) =>
    parseConfig(
      "General { UNIX { Path /x } }\nSync {\n Mode FTFW { }\n" +
        " UDP { IPv4_address 127.0.0.1\n IPv4_Destination_Address 127.0.0.2\n Port 3780\n Interface lo }\n" +
        ` Options { ${opts} }\n}\n`,
      "x",
    ).sync!.expectationSync;
  const list = conf("ExpectationSync { ftp SIP abcdefghijklmnopqrst }");
  assert(Array.isArray(list));
  const exp = (helper?: string) => Object.assign(new Expect(), { helper });
  const accepted = (helper?: string) => expectHelperAccepted(exp(helper), list as string[]);
  assertEquals(accepted("ftp"), true);
  assertEquals(accepted("FTP"), true);
  assertEquals(accepted("ftp-21"), true);
  assertEquals(accepted("sip"), true);
  assertEquals(accepted("sip-5060"), true);
  assertEquals(accepted("tftp"), false);
  assertEquals(accepted("ft"), false);
  assertEquals(accepted("irc"), false);
  assertEquals(accepted(undefined), false);
  // The reference keeps 16 characters of a listed name.
  assertEquals(accepted("abcdefghijklmnop"), true);
  assertEquals(accepted("abcdefghijklmnoX"), false);
  assertEquals(conf("ExpectationSync On"), true);
  assertEquals(expectHelperAccepted(exp(undefined), true), true);
  assertEquals(expectHelperAccepted(exp("ftp"), []), false);
});

Deno.test("expectations: the master tuple's sanity check", () => {
  const exp = new Expect();
  assertEquals(masterSanity(undefined), "nomaster");
  assertEquals(masterSanity(exp.master), "l3");
  Object.assign(exp.master, { l3: 2, src: "1.1.1.1" });
  assertEquals(masterSanity(exp.master), "ipv4");
  exp.master.dst = "2.2.2.2";
  assertEquals(masterSanity(exp.master), null);
  Object.assign(exp.master, { l3: 10, src: "::1", dst: undefined });
  assertEquals(masterSanity(exp.master), "ipv6");
  assertEquals(SANITY_MESSAGES.nomaster, "no master tuple in expectation");
});

Deno.test("addresses: numeric forms agree with inet_pton", () => {
  const words = new Int32Array(4);
  const bytesOf = (w: Int32Array) => {
    const b = new Uint8Array(16);
    w.forEach((x, i) => new DataView(b.buffer).setInt32(4 * i, x));
    return b;
  };
  // Random addresses with runs of zero groups, printed as the decoder prints them (incl. ::ffff:a.b.c.d).
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8;
  for (let n = 0; n < 3000; n++) {
    const b = new Uint8Array(16);
    for (let i = 0; i < 16; i++) b[i] = rnd() & 0xff;
    for (let g = 0; g < 8; g++) if (rnd() % 3 === 0) b[2 * g] = b[2 * g + 1] = 0;
    if (n % 10 === 0) b.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 0);
    const text = ntop6(b, 0);
    assert(ipv6Words(text, words), text);
    assertEquals(bytesOf(words), b, text);
  }
  for (
    const t of ["::", "::1", "1::", "2001:DB8::A", "1:2:3:4:5:6:7:8", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4"]
  ) {
    assert(ipv6Words(t, words), t);
    assertEquals(bytesOf(words), pton6(t), t);
  }
  for (
    const t of [
      "",
      ":",
      ":1",
      "1:",
      "1:::2",
      "1::2::3",
      "12345::",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "g::",
      "1.2.3.4",
    ]
  ) {
    assertEquals(ipv6Words(t, words), false, t);
    assertEquals(pton6(t), null, t);
  }
  for (const t of ["0.0.0.0", "10.0.0.1", "255.255.255.255", "192.168.1.200"]) {
    const b = addrBytes(t)!;
    assertEquals(ipv4Word(t), new DataView(b.buffer).getInt32(0), t);
  }
  for (const t of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "::1"]) {
    assertEquals(ipv4Word(t), NO_ADDRESS, t);
  }
});

// ---------------------------------------------------------------------------
// Kernel filter: libnetfilter_conntrack as the oracle

const NFCT_FILTER_L4PROTO = 0, NFCT_FILTER_L4PROTO_STATE = 1;
const NFCT_FILTER_SRC_IPV4 = 2, NFCT_FILTER_DST_IPV4 = 3, NFCT_FILTER_SRC_IPV6 = 4, NFCT_FILTER_DST_IPV6 = 5;
const NFCT_FILTER_LOGIC_NEGATIVE = 1;
const SOL_SOCKET = 1, SO_GET_FILTER = 26;
const TCP_STATE = {
  SYN_SENT: 1,
  SYN_RECV: 2,
  ESTABLISHED: 3,
  FIN_WAIT: 4,
  CLOSE_WAIT: 5,
  LAST_ACK: 6,
  TIME_WAIT: 7,
  CLOSE: 8,
  LISTEN: 9,
};

let lnfct: Deno.DynamicLibrary<typeof LNFCT_SYMBOLS> | undefined;
const LNFCT_SYMBOLS = {
  nfct_filter_create: { parameters: [], result: "pointer" },
  nfct_filter_destroy: { parameters: ["pointer"], result: "void" },
  nfct_filter_add_attr: { parameters: ["pointer", "u32", "buffer"], result: "void" },
  nfct_filter_add_attr_u32: { parameters: ["pointer", "u32", "u32"], result: "void" },
  nfct_filter_set_logic: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  nfct_filter_attach: { parameters: ["i32", "pointer"], result: "i32" },
} as const;

/** The classic BPF program attached to `fd`, as SO_GET_FILTER returns it. */
function attachedProgram(fd: number): Uint8Array {
  const count = new Uint8Array(4);
  const buf = new Uint8Array(8 * 4096);
  new DataView(count.buffer).setUint32(0, 4096, true);
  assert(libc().getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, buf, count) >= 0, "SO_GET_FILTER");
  return buf.slice(0, 8 * new DataView(count.buffer).getUint32(0, true));
}

/** Host-order words of an address (the reference's ntohl) and of a prefix's mask (its cidr.c). */
function hostWords(text: string, prefix: number): { addr: number[]; mask: number[] } {
  const b = addrBytes(text)!;
  const v = new DataView(b.buffer);
  const addr = Array.from({ length: b.length / 4 }, (_, i) => v.getUint32(4 * i));
  const mask = addr.map((_, i) => {
    const bits = Math.max(0, Math.min(32, prefix - 32 * i));
    return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  });
  return { addr, mask };
}

/**
 * What conntrackd 1.4.7's config parser (read_config_yy.y) asks
 * libnetfilter_conntrack for, attached to a socket and read back.
 */
function referenceProgram(cfg: FilterConfig): Uint8Array {
  const lib = (lnfct ??= Deno.dlopen("libnetfilter_conntrack.so.3", LNFCT_SYMBOLS)).symbols;
  const f = lib.nfct_filter_create()!;
  const words = (xs: number[]) => {
    const b = new Uint8Array(4 * xs.length);
    xs.forEach((x, i) => new DataView(b.buffer).setUint32(4 * i, x, true));
    return b;
  };
  try {
    if (cfg.protocol) {
      for (const p of cfg.protocol.protocols) lib.nfct_filter_add_attr_u32(f, NFCT_FILTER_L4PROTO, p);
      if (cfg.protocol.policy === "ignore") {
        lib.nfct_filter_set_logic(f, NFCT_FILTER_L4PROTO, NFCT_FILTER_LOGIC_NEGATIVE);
      }
    }
    if (cfg.address) {
      for (const e of cfg.address.entries) {
        const { addr, mask } = hostWords(e.address, e.prefix);
        const value = words([...addr, ...mask]);
        const [src, dst] = e.family === "ipv4"
          ? [NFCT_FILTER_SRC_IPV4, NFCT_FILTER_DST_IPV4]
          : [NFCT_FILTER_SRC_IPV6, NFCT_FILTER_DST_IPV6];
        lib.nfct_filter_add_attr(f, src, value);
        lib.nfct_filter_add_attr(f, dst, value);
      }
      if (cfg.address.policy === "ignore") {
        for (
          const a of [NFCT_FILTER_SRC_IPV4, NFCT_FILTER_DST_IPV4, NFCT_FILTER_SRC_IPV6, NFCT_FILTER_DST_IPV6]
        ) {
          lib.nfct_filter_set_logic(f, a, NFCT_FILTER_LOGIC_NEGATIVE);
        }
      }
    }
    if (cfg.state) {
      for (const s of cfg.state.states) {
        const value = new Uint8Array(4);
        new DataView(value.buffer).setUint16(0, IPPROTO_TCP, true);
        new DataView(value.buffer).setUint16(2, TCP_STATE[s], true);
        lib.nfct_filter_add_attr(f, NFCT_FILTER_L4PROTO_STATE, value);
      }
      if (cfg.state.policy === "ignore") {
        lib.nfct_filter_set_logic(f, NFCT_FILTER_L4PROTO_STATE, NFCT_FILTER_LOGIC_NEGATIVE);
      }
    }
    const sock = NetlinkSocket.open(0);
    try {
      assertEquals(lib.nfct_filter_attach(sock.fd, f), 0);
      return attachedProgram(sock.fd);
    } finally {
      sock.close();
    }
  } finally {
    lib.nfct_filter_destroy(f);
  }
}

/** Our program, attached (so the kernel's checker accepts it) and read back. */
function ourAttachedProgram(program: Uint8Array): Uint8Array {
  const sock = NetlinkSocket.open(0);
  try {
    attachKernelFilter(sock.fd, program);
    return attachedProgram(sock.fd);
  } finally {
    sock.close();
  }
}

const many4 = (n: number, prefix = 32) =>
  Array.from(
    { length: n },
    (_, i) => `IPv4_address 10.${i >> 8}.${i & 255}.1${prefix < 32 ? "/" + prefix : ""}`,
  )
    .join("\n");
const many6 = (n: number) =>
  Array.from({ length: n }, (_, i) => `IPv6_address 2001:db8:${i.toString(16)}::1/${64 + (i % 65)}`).join(
    "\n",
  );

const KERNEL_CONFIGS = [
  "Protocol Accept { TCP }",
  "Protocol Ignore { UDP TCP ICMP sctp }",
  "Protocol Accept { }",
  "Address Accept { IPv4_address 10.0.0.1 }",
  "Address Ignore { IPv4_address 10.0.0.1 IPv4_address 192.168.0.0/16 IPv4_address 1.2.3.4/0 IPv4_address 172.16.0.0/12 }",
  "Address Ignore { IPv6_address 2001:db8::1 IPv6_address fd00::/8 IPv6_address ::/0 IPv6_address fe80::/10 }",
  "Address Accept { IPv4_address 10.0.0.0/8 IPv6_address 2001:db8::/32 IPv4_address 10.0.0.1 IPv6_address ::1 }",
  "Address Accept { }",
  "State Accept { ESTABLISHED for TCP }",
  "State Ignore { SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE LISTEN for TCP }",
  "State Ignore { }",
  `Protocol Ignore { UDP }
   Address Accept { IPv4_address 10.0.0.0/8 IPv6_address 2001:db8::1 }
   State Ignore { TIME_WAIT CLOSE for TCP }`,
  `Address Ignore { ${many4(60)} }`,
  `Address Accept { ${many4(50, 24)} ${many6(20)} }`,
  // More than 20 IPv6 entries: the library keeps the first 20.
  `Address Ignore { ${many6(30)} }`,
];

Deno.test("kernel filter: instruction for instruction what libnetfilter_conntrack builds", () => {
  for (const body of KERNEL_CONFIGS) {
    for (const from of ["", "From Kernelspace "]) {
      const cfg = filterOf(body, from);
      const ours = buildKernelFilter(cfg);
      assert(ours !== null, body);
      const reference = referenceProgram(cfg);
      assertEquals(ours, reference, `program for ${body.slice(0, 80)}`);
      assertEquals(ourAttachedProgram(ours), reference);
    }
  }
});

Deno.test("kernel filter: nothing without clauses; too many addresses is an error, not a wrapped jump", () => {
  assertEquals(buildKernelFilter(filterOf("")), null);
  assertEquals(buildKernelFilter(filterOf("", "From Kernelspace ")), null);
  // Clauses without entries still give the reference's accept-all program (subsystem check + accept).
  assertEquals(buildKernelFilter(filterOf("Protocol Accept { }"))!.length, 5 * 8);
  assertThrows(() => buildKernelFilter(filterOf(`Address Ignore { ${many4(127)} }`)), KernelFilterError);
  assertThrows(() => attachKernelFilter(-1, buildKernelFilter(filterOf("Protocol Accept { TCP }"))!), (e) => {
    return e instanceof KernelFilterError && e.errno === 9 /* EBADF */;
  });
  assertThrows(() => attachKernelFilter(0, new Uint8Array(12)), KernelFilterError);
});

// ---------------------------------------------------------------------------
// Kernel filter on real events, and the reference conntrackd's caches

/** Entries made with `conntrack -I`; batch A exists before the daemons start (they dump it), B after. */
const ENTRIES: Record<string, string> = {
  A1: "-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 --state ESTABLISHED",
  A2: "-p udp -s 192.168.1.7 -d 192.168.2.8 --sport 3 --dport 4",
  A3: "-p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 5 --dport 6 --state SYN_SENT",
  A4: "-p tcp -s 10.0.0.7 -d 10.9.9.9 --sport 7 --dport 8 --state ESTABLISHED --dst-nat 10.0.0.8",
  A5: "-p icmp -s 10.0.0.5 -d 10.0.0.6 --icmp-type 8 --icmp-code 0 --icmp-id 9",
  A6: "-p udp -s fd00::7 -d fd00::8 --sport 10 --dport 11",
  B1: "-p tcp -s 10.0.0.3 -d 10.0.0.1 --sport 12 --dport 13 --state SYN_SENT",
  B2: "-p tcp -s 192.168.1.5 -d 10.0.0.2 --sport 14 --dport 15 --state TIME_WAIT",
  B3: "-p udp -s 10.0.0.1 -d 172.16.0.9 --sport 16 --dport 17",
  B4: "-p udp -s 2001:db8:1::5 -d 2001:db8::2 --sport 18 --dport 19",
  B5: "-p tcp -s 2001:db8::9 -d 2001:db8::1 --sport 20 --dport 21 --state LISTEN",
  B6: "-p tcp -s 10.0.0.11 -d 10.9.9.10 --sport 22 --dport 23 --state ESTABLISHED --dst-nat 10.0.0.12",
  B7: "-p udp -s fd00::9 -d fd00::8 --sport 24 --dport 25",
  B8:
    "-p sctp -s 10.0.0.20 -d 10.0.0.21 --sport 26 --dport 27 --state ESTABLISHED --orig-vtag 1 --reply-vtag 2",
  B9: "-p udp -s 10.0.0.30 -d 10.0.0.8 --sport 28 --dport 29",
};
const LABELS = Object.keys(ENTRIES);
/** Entries are told apart by original source and destination. */
const LABEL_BY_ADDRESSES = new Map(
  LABELS.map((l) => [ENTRIES[l].replace(/.*-s (\S+) -d (\S+).*/, "$1>$2"), l]),
);

interface Scenario {
  body: string;
  /** Entries whose NEW event the kernel filter drops. */
  kernel: string[];
  /** Entries the userspace filter drops. */
  user: string[];
}

const SCENARIOS: Scenario[] = [
  {
    body: "Protocol Accept { TCP }",
    kernel: ["A2", "A5", "A6", "B3", "B4", "B7", "B8", "B9"],
    user: ["A2", "A5", "A6", "B3", "B4", "B7", "B8", "B9"],
  },
  {
    body: "Protocol Ignore { UDP ICMP }",
    kernel: ["A2", "A5", "A6", "B3", "B4", "B7", "B9"],
    user: ["A2", "A5", "A6", "B3", "B4", "B7", "B9"],
  },
  {
    body: "State Accept { ESTABLISHED LISTEN for TCP }",
    kernel: ["A3", "B1", "B2"],
    user: ["A3", "B1", "B2"],
  },
  { body: "State Ignore { ESTABLISHED for TCP }", kernel: ["A1", "A4", "B6"], user: ["A1", "A4", "B6"] },
  {
    body: "Address Ignore { IPv4_address 10.0.0.1 IPv4_address 192.168.0.0/16 }",
    kernel: ["A1", "A2", "B1", "B2", "B3"],
    user: ["A1", "A2", "B1", "B2", "B3"],
  },
  // The kernel looks at the original destination, userspace at the reply source: they differ under NAT.
  { body: "Address Ignore { IPv4_address 10.0.0.8 }", kernel: ["B9"], user: ["A4", "B9"] },
  { body: "Address Ignore { IPv4_address 10.9.9.9 }", kernel: ["A4"], user: [] },
  // Kernel Accept wants source and destination listed; userspace either source. IPv6 entries: see the next case.
  {
    body: "Address Accept { IPv4_address 10.0.0.0/8 }",
    kernel: ["A2", "A3", "A6", "B2", "B3", "B4", "B5", "B7"],
    user: ["A2", "A3", "A6", "B4", "B5", "B7"],
  },
  // In IPv6 messages the kernel's IPv4 destination lookup lands on CTA_TUPLE_PROTO, whose first word
  // (the CTA_PROTO_NUM header) reads as 5.0.1.0.
  { body: "Address Ignore { IPv4_address 5.0.0.0/8 }", kernel: ["A3", "A6", "B4", "B5", "B7"], user: [] },
  // libnetfilter_conntrack's IPv6 list stops at the first entry whose first 96 bits differ.
  {
    body: "Address Ignore { IPv6_address 2001:db8::1 IPv6_address 2001:db8::2 IPv6_address fd00::8 }",
    kernel: ["A3", "B4", "B5"],
    user: ["A3", "A6", "B4", "B5", "B7"],
  },
  {
    body:
      "Address Accept { IPv4_address 10.0.0.1 IPv4_address 10.0.0.2 IPv6_address 2001:db8::1 IPv6_address 2001:db8::2 }",
    kernel: LABELS.filter((l) => l !== "A1"),
    user: ["A2", "A4", "A5", "A6", "B6", "B7", "B8", "B9"],
  },
  {
    body: "Protocol Accept { TCP UDP }\nAddress Ignore { IPv6_address 2001:db8::/48 }",
    kernel: ["A3", "A5", "B4", "B5", "B8"],
    user: ["A3", "A5", "B4", "B5", "B8"],
  },
  // An empty list adds no kernel block; userspace Accept with nothing listed drops everything.
  { body: "Protocol Accept { }", kernel: [], user: LABELS },
];

const agrees = (s: Scenario) => s.kernel.join() === s.user.join();

/** Lines of a byte stream. */
class LineReader {
  private buf = "";
  private readonly reader: ReadableStreamDefaultReader<string>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  async next(timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf("\n");
      if (i >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        return line;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("timed out waiting for a line")),
          Math.max(0, deadline - Date.now()),
        );
      });
      try {
        const r = await Promise.race([this.reader.read(), timeout]);
        if (r.done) throw new Error(`stream ended (partial line: ${JSON.stringify(this.buf)})`);
        this.buf += r.value;
      } finally {
        clearTimeout(timer);
      }
    }
  }
  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));

/**
 * Listener mode: reads a JSON list of programs (hex, or null for none), opens
 * one conntrack event socket per program, prints "ready", and after a line on
 * stdin prints every message each socket received (hex), as JSON.
 */
async function listen(): Promise<void> {
  const input = new LineReader(Deno.stdin.readable);
  const programs: (string | null)[] = JSON.parse(await input.next());
  const NEW_UPDATE_DESTROY = 1 | 2 | 4;
  const sockets = programs.map((p) => {
    const s = NetlinkSocket.open(NEW_UPDATE_DESTROY);
    s.setReceiveBuffer(1 << 22);
    if (p !== null) attachKernelFilter(s.fd, unhex(p));
    return s;
  });
  console.log("ready");
  await input.next();
  const received = sockets.map((s) => {
    const messages: string[] = [];
    for (let n = s.tryRecv(); n >= 0; n = s.tryRecv()) {
      s.walk(n, (buf, _v, off, len) => messages.push(hex(buf.subarray(off, off + len))));
    }
    return messages;
  });
  console.log(JSON.stringify(received));
  Deno.exit(0);
}

if (import.meta.main && Deno.args[0] === "--listen") await listen();

interface Event {
  kind: "new" | "update" | "destroy";
  label: string;
  ct: Conntrack;
  raw: string;
}

function decodeEvent(raw: string): Event {
  const b = unhex(raw);
  const v = new DataView(b.buffer);
  const type = v.getUint16(4, true) & 0xff, flags = v.getUint16(6, true);
  const NLM_F_CREATE = 0x400;
  const kind = type === 2 ? "destroy" : flags & NLM_F_CREATE ? "new" : "update";
  const c = decodeConntrack(b, v, 0, b.length);
  const label = LABEL_BY_ADDRESSES.get(`${c.orig.src}>${c.orig.dst}`) ?? `?${c.orig.src}>${c.orig.dst}`;
  return { kind, label, ct: c, raw };
}

/** A reference conntrackd in Stats mode inside the namespace, console output in a file. */
class RefDaemon {
  private child?: Deno.ChildProcess;
  constructor(readonly ns: Netns, readonly dir: string, readonly name: string, body: string, from: string) {
    Deno.writeTextFileSync(
      this.conf,
      `General {\n\tLockFile ${dir}/${name}.lock\n\tUNIX { Path ${dir}/${name}.ctl }\n\tSyslog off\n\tLogFile off\n` +
        `\tFilter From ${from} {\n${body}\n\t}\n}\nStats {\n\tLogFile off\n}\n`,
    );
  }
  get conf(): string {
    return `${this.dir}/${this.name}.conf`;
  }
  get log(): string {
    return `${this.dir}/${this.name}.log`;
  }
  start(): void {
    Deno.writeTextFileSync(this.log, "");
    this.child = this.ns.spawn([
      "sh",
      "-c",
      'exec /usr/sbin/conntrackd -C "$0" >>"$1" 2>&1',
      this.conf,
      this.log,
    ]);
  }
  async ready(): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const log = Deno.readTextFileSync(this.log);
      if (log.includes("initialization completed")) return log;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`conntrackd ${this.name} did not start: ${Deno.readTextFileSync(this.log)}`);
  }
  /** Labels of the entries in its cache (`conntrackd -i`). */
  async cached(): Promise<string[]> {
    const r = await this.ns.exec(["/usr/sbin/conntrackd", "-C", this.conf, "-i"]);
    assertEquals(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter((l) => l.includes("src=")).map((l) => {
      const m = l.match(/src=(\S+) dst=(\S+)/)!;
      return LABEL_BY_ADDRESSES.get(`${m[1]}>${m[2]}`) ?? `?${m[1]}>${m[2]}`;
    }).sort();
  }
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  }
}

const except = (all: string[], out: string[]) => all.filter((l) => !out.includes(l)).sort();

Deno.test({
  name: "kernel filter on real events in a namespace, and the reference conntrackd's caches",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ns = await Netns.create("ctkflt");
    const dir = await Deno.makeTempDir({ prefix: "ctkit-filter-" });
    const daemons: RefDaemon[] = [];
    let listener: Deno.ChildProcess | undefined;
    let out: LineReader | undefined;
    try {
      const conntrack = async (args: string) => {
        const r = await ns.exec(["/usr/sbin/conntrack", ...args.split(" ")]);
        assertEquals(r.code, 0, `conntrack ${args}: ${r.stderr}`);
      };

      const programs = [null, ...SCENARIOS.map((s) => hex(buildKernelFilter(filterOf(s.body))!))];
      listener = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          ns.name,
          Deno.execPath(),
          "run",
          "-A",
          "--no-check",
          new URL(import.meta.url).pathname,
          "--listen",
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const stdin = listener.stdin.getWriter();
      out = new LineReader(listener.stdout);
      await stdin.write(new TextEncoder().encode(JSON.stringify(programs) + "\n"));
      assertEquals(await out.next(), "ready");

      for (const l of LABELS.filter((l) => l.startsWith("A"))) await conntrack(`-I ${ENTRIES[l]} -t 100`);
      SCENARIOS.forEach((s, i) => {
        daemons.push(new RefDaemon(ns, dir, `u${i}`, s.body, "Userspace"));
        daemons.push(new RefDaemon(ns, dir, `k${i}`, s.body, "Kernelspace"));
      });
      for (const d of daemons) d.start();
      for (const d of daemons) {
        const log = await d.ready();
        assert(
          log.includes(
            d.name.startsWith("k")
              ? "using kernel-space event filtering"
              : "using user-space event filtering",
          ),
          log,
        );
      }
      for (const l of LABELS.filter((l) => l.startsWith("B"))) await conntrack(`-I ${ENTRIES[l]} -t 100`);
      await new Promise((r) => setTimeout(r, 500)); // the daemons read their events
      const caches = await Promise.all(daemons.map((d) => d.cached()));
      for (const d of daemons) await d.stop();

      // Update and destroy events too.
      await conntrack("-U -s 10.0.0.1 -m 5");
      await conntrack("-U -s 2001:db8::1 -m 5");
      await conntrack("-F");
      await stdin.write(new TextEncoder().encode("drain\n"));
      const received: string[][] = JSON.parse(await out.next());
      await stdin.close().catch(() => {});
      await listener.status;
      listener = undefined;

      const all = received[0].map(decodeEvent);
      const newEvents = all.filter((e) => e.kind === "new");
      assertEquals(newEvents.map((e) => e.label).sort(), [...LABELS].sort());
      assert(
        all.some((e) => e.kind === "update") &&
          all.filter((e) => e.kind === "destroy").length === LABELS.length,
      );

      SCENARIOS.forEach((s, i) => {
        const what = `scenario ${JSON.stringify(s.body)}`;
        const f = new CtFilter(filterOf(s.body));
        const delivered = new Set(received[i + 1]);
        assert(received[i + 1].every((m) => received[0].includes(m)), `${what}: foreign messages`);
        // Intended semantics, both filters.
        assertEquals(
          newEvents.filter((e) => delivered.has(e.raw)).map((e) => e.label).sort(),
          except(LABELS, s.kernel),
          `${what}: kernel`,
        );
        assertEquals(
          newEvents.filter((e) => f.rejects(e.ct, true)).map((e) => e.label).sort(),
          [...s.user].sort(),
          `${what}: userspace`,
        );
        // Where the two filters mean the same, they agree on update and destroy events as well.
        if (agrees(s)) {
          for (const e of all) {
            assertEquals(delivered.has(e.raw), !f.rejects(e.ct, true), `${what}: ${e.kind} ${e.label}`);
          }
        }
        // The reference conntrackd: dumps (batch A) go through the userspace filter; events (batch B)
        // through the userspace filter or, From Kernelspace, through its own BPF program only.
        const batchA = LABELS.filter((l) => l.startsWith("A")),
          batchB = LABELS.filter((l) => l.startsWith("B"));
        assertEquals(caches[2 * i], except(LABELS, s.user), `${what}: reference, userspace`);
        assertEquals(
          caches[2 * i + 1],
          [...except(batchA, s.user), ...except(batchB, s.kernel)].sort(),
          `${what}: reference, kernelspace`,
        );
      });

      // Destroy events carry the TCP state too, so State Ignore also hides the end of an ignored
      // connection, in the kernel as in userspace; entries without a state (UDP) always pass.
      const stateIgnore = SCENARIOS.findIndex((s) => s.body.startsWith("State Ignore"));
      const destroyed = (label: string) => all.find((e) => e.kind === "destroy" && e.label === label)!;
      assertEquals(destroyed("A1").ct.state, TCP_ESTABLISHED);
      assert(!received[stateIgnore + 1].includes(destroyed("A1").raw));
      assert(received[stateIgnore + 1].includes(destroyed("B1").raw));
      assert(received[stateIgnore + 1].includes(destroyed("A2").raw));
    } finally {
      for (const d of daemons) await d.stop().catch(() => {});
      if (listener) {
        try {
          listener.kill("SIGKILL");
        } catch { /* gone */ }
        await listener.status.catch(() => {});
      }
      await out?.cancel();
      await ns.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
