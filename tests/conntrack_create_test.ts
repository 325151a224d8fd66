// -I / --create and -A / --add: every protocol, addresses from either direction,
// NAT, zones, marks, status, timeouts, EEXIST, and rejected input (table unchanged).
import { type Case, diffSuite, tcpEntry, w } from "./lib/diff.ts";
import { MIXED, MIXED_COUNT } from "./lib/ct_fixtures.ts";

const T = "-s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20";

function creates(prefix: string, argvs: string[], base: Partial<Case> = {}): Case[] {
  return argvs.map((a) => ({ ...base, name: `${prefix}: ${a}`, argv: w(a) }));
}

const cases: Case[] = [
  ...creates("create", [
    `-I ${T} --state ESTABLISHED -u SEEN_REPLY -t 50`,
    `--create ${T} --state LISTEN -u SEEN_REPLY -t 50`,
    `-I ${T} --state SYN_SENT -t 120`,
    `-I ${T} --state TIME_WAIT -u SEEN_REPLY,ASSURED -t 30`,
    `-I ${T} --state CLOSE -t 10`,
    `-I ${T} --state SYN_SENT2 -t 10`,
    `-I ${T} --state ESTABLISHED -u ASSURED -t 50 -m 42`,
    `-I ${T} --state ESTABLISHED -t 50 -m 0x10/0xf0`,
    `-I ${T} --state ESTABLISHED -t 50 -u FIXED_TIMEOUT`,
    `-I ${T} --state ESTABLISHED -t 50 -u UNSET`,
    `-I ${T} --state ESTABLISHED -t 50 -w 5`,
    `-I ${T} --state ESTABLISHED -t 50 --orig-zone 6`,
    `-I ${T} --state ESTABLISHED -t 50 --reply-zone 6`,
    `-I ${T} --state ESTABLISHED -t 50 --zone 65535`,
    `-I ${T} --state ESTABLISHED -t 0`,
    `-I ${T} --state ESTABLISHED -t 4294967295`,
    `-I ${T} --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED -t 50`,
    `-I ${T} -r 2.2.2.2 -q 1.1.1.1 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED -t 50`,
    `-I ${T} -r 3.3.3.3 -q 1.1.1.1 --reply-port-src 80 --reply-port-dst 10 --state ESTABLISHED -t 50`,
    "-I -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50",
    "-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    "-I -s ::1 -d ::2 -p udp --sport 1 --dport 2 -t 30",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 53 --dport 53 -t 30",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --orig-port-src 53 --orig-port-dst 54 -t 30 -u SEEN_REPLY",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udplite --sport 53 --dport 53 -t 30",
    "-I -t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p icmp --icmp-type 8 --icmp-code 0 -t 29",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p icmp --icmp-type 13 --icmp-code 0 --icmp-id 5 -t 29",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p icmp --icmp-type 3 --icmp-code 1 -t 29",
    "-I -s 2001:db8::1 -d 2001:db8::2 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9 -t 29",
    "-I -s 2001:db8::1 -d 2001:db8::2 -p ipv6-icmp --icmpv6-type 128 --icmpv6-code 0 -t 29",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p sctp --sport 1 --dport 2 --state ESTABLISHED --orig-vtag 10 --reply-vtag 11 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p sctp --sport 1 --dport 2 --state COOKIE_WAIT --orig-vtag 0 --reply-vtag 0 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p sctp --sport 1 --dport 2 --state ESTABLISHED -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p dccp --sport 1 --dport 2 --state OPEN --role client -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p dccp --sport 1 --dport 2 --state OPEN -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p dccp --sport 1 --dport 2 --state NOPE --role server -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p dccp --sport 1 --dport 2 --state OPEN --role boss -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p gre --orig-key-src 0x10 --orig-key-dst 0x20 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p gre --srckey 16 --dstkey 32 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p gre --orig-key-src 1 --orig-key-dst 2 --reply-key-src 3 --reply-key-dst 4 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p 99 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p ospf -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p 253 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p 132 -t 50",
    "-I -s 1 -d 2.2 -p udp --sport 1 --dport 2 -t 50",
    `-I ${T} --state ESTABLISHED -t 50 --dst-nat 3.3.3.3`,
    `-I ${T} --state ESTABLISHED -t 50 --dst-nat 3.3.3.3:80`,
    `-I ${T} --state ESTABLISHED -t 50 --src-nat 4.4.4.4`,
    `-I ${T} --state ESTABLISHED -t 50 --src-nat 4.4.4.4:1000`,
    `-I ${T} --state ESTABLISHED -t 50 --src-nat 4.4.4.4 --dst-nat 3.3.3.3:80`,
    "-I -s 2001:db8::1 -d 2001:db8::2 -p tcp --sport 10 --dport 20 --state LISTEN -t 50 --dst-nat [2001:db8::3]:80",
    "-I -s 2001:db8::1 -d 2001:db8::2 -p tcp --sport 10 --dport 20 --state LISTEN -t 50 --src-nat 2001:db8::4",
    `-I ${T} --state ESTABLISHED -t 50 --dst-nat`,
  ]),
  ...creates("add", [
    `-A ${T} --state ESTABLISHED -u SEEN_REPLY -t 50`,
    `--add ${T} --state ESTABLISHED -t 50 -m 3`,
    "-A -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 30",
  ]),
  ...creates("exists", [
    `-I ${T} --state ESTABLISHED -u SEEN_REPLY -t 50`,
    `-I ${T} --state SYN_SENT -t 10 -m 9`,
    `-A ${T} --state ESTABLISHED -u SEEN_REPLY -t 50`,
    `-A ${T} --state SYN_SENT -t 10 -m 9`,
  ], { setup: [tcpEntry("1.1.1.1", "2.2.2.2", 10, 20)] }),
  // rejected input: the table must stay as it was
  ...creates("error", [
    "-I -s 1.1.1.1 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    "-I -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 20 --state LISTEN -u SEEN_REPLY -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state listen -t 50",
    "-I -s 1.1.1.1 -d 2001:db8::2 -p tcp --sport 10 --dport 20 --state LISTEN -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p icmp --icmp-type 8 -t 29",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p icmp -t 29",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p 256 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p foo -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p -10 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p 2000 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p 20foo -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p gre --srckey 1 -t 50",
    "-I -s 1.1.1.1/24 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -f ipv4",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -c 1",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -j",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -z",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -w 65536",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -m foo",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -u BOGUS",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -u",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 --dst-nat 3.3.3.3:",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 --dst-nat 3.3.3.3:70000",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 --dst-nat [2001:db8::3",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 --dst-nat []:80",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 --dst-nat 3.3.3.3.3",
    "-I -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 -l foo",
    "-I -s 999.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50",
    "-I -s [::1] -d ::2 -p udp --sport 1 --dport 2 -t 50",
    "-I dying -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50",
    "-I --sport 1 -p udp -s 1.1.1.1 -d 2.2.2.2 --dport 2 -t 50",
  ], { setup: [MIXED], readOnly: true, order: "multiset" }),
  // INTENTIONAL DIVERGENCE: 1.4.7 compares the word against a state table with NULL holes
  // (strcmp on NULL) and dies with SIGSEGV; ctkit reports the upstream error instead.
  {
    name: "DIVERGENCE unknown SCTP state is an error, not a crash",
    setup: [MIXED],
    argv: w(
      "-I -s 1.1.1.1 -d 2.2.2.2 -p sctp --sport 1 --dport 2 --state BOGUS --orig-vtag 1 --reply-vtag 2 -t 50",
    ),
    expect: {
      code: 2,
      stderr:
        /^conntrack v[\d.]+ \(conntrack-tools\): unknown SCTP state `BOGUS'\nTry `conntrack -h' or 'conntrack --help' for more information\.\n$/,
      stdoutLines: 0,
    },
    checkB: async (run) => {
      const r = await run(w("-C"));
      return r.stdout === `${MIXED_COUNT}\n` ? undefined : `table changed: -C says ${r.stdout}`;
    },
    divergence: { why: "reference segfaults", reference: { code: 139 } },
  },
];

diffSuite("conntrack -I/-A", cases);
