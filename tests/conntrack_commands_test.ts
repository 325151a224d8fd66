// -V, -h, -C, -S, -G, -F, command combinations, and table words on other commands.
import { type Case, CTKIT_CMD, diffSuite, refAs, SELF, tcpEntry, w } from "./lib/diff.ts";
import { FTP, MIXED } from "./lib/ct_fixtures.ts";

const RO = { readOnly: true };
// The usage text starts with argv[0]: `ctkit conntrack` must print it like the reference
// started as plain `conntrack` (found through PATH).
const HELP = { readOnly: true, sideA: refAs("conntrack"), sideB: SELF ? refAs("conntrack") : CTKIT_CMD };
const MX = { setup: [MIXED], readOnly: true };

const cases: Case[] = [
  { name: "-V", argv: w("-V"), ...RO },
  { name: "--version", argv: w("--version"), ...RO },
  { name: "-h", argv: w("-h"), ...HELP },
  { name: "--help", argv: w("--help"), ...HELP },
  ...["tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "gre", "ospf", "99", "foo"].map((p) => ({
    name: `-h -p ${p}`,
    argv: w(`-h -p ${p}`),
    ...HELP,
  })),
  { name: "-p tcp -h (order)", argv: w("-p tcp -h"), ...HELP },
  { name: "no command", argv: [], ...HELP },
  { name: "no command, options only", argv: w("-s 1.1.1.1"), ...RO },
  { name: "two commands", argv: w("-L -D"), ...RO },
  { name: "same command twice", argv: w("-L -L"), ...RO },
  { name: "-V with -L", argv: w("-V -L"), ...RO },
  // -C
  { name: "-C empty", argv: w("-C"), ...RO },
  { name: "--count mixed", argv: w("--count"), ...MX },
  { name: "-C conntrack", argv: w("-C conntrack"), ...MX },
  { name: "-C expect (empty)", argv: w("-C expect"), ...MX },
  { name: "-C expect (ftp)", argv: w("-C expect"), setup: FTP, ...RO },
  { name: "-C with filter is illegal", argv: w("-C -s 1.1.1.1"), ...MX },
  { name: "-C dying is refused", argv: w("-C dying"), ...MX },
  // -S: counters depend on the cpu that ran an operation; totals must match
  { name: "-S fresh namespace", argv: w("-S") },
  { name: "--stats after inserts", argv: w("--stats"), setup: [MIXED], norm: ["stats"] },
  { name: "-S expect", argv: w("-S expect") },
  { name: "-S expect after ftp", argv: w("-S expect"), setup: FTP, norm: ["stats"] },
  { name: "-S with an option is illegal", argv: w("-S -p tcp"), ...MX },
  // -G
  { name: "-G tcp", argv: w("-G -s 10.1.0.1 -d 10.2.0.1 -p tcp --sport 1001 --dport 80"), ...MX },
  {
    name: "--get reply tuple",
    argv: w("--get -r 10.2.0.1 -q 10.1.0.2 -p tcp --reply-port-src 443 --reply-port-dst 1002"),
    ...MX,
  },
  {
    name: "-G udp -o xml",
    argv: w("-G -s 10.1.1.1 -d 10.2.0.1 -p udp --sport 53 --dport 5353 -o xml"),
    norm: ["id"],
    ...MX,
  },
  {
    name: "-G -o extended",
    argv: w("-G -s 10.1.0.1 -d 10.2.0.1 -p tcp --sport 1001 --dport 80 -o extended"),
    ...MX,
  },
  {
    name: "-G -o id",
    argv: w("-G -s 10.1.0.1 -d 10.2.0.1 -p tcp --sport 1001 --dport 80 -o id"),
    norm: ["id"],
    ...MX,
  },
  { name: "-G -o save", argv: w("-G -s 10.1.0.1 -d 10.2.0.1 -p tcp --sport 1001 --dport 80 -o save"), ...MX },
  {
    name: "-G icmp",
    argv: w("-G -s 10.1.2.1 -d 10.2.0.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 42"),
    ...MX,
  },
  { name: "-G ipv6", argv: w("-G -s 2001:db8::1 -d 2001:db8::2 -p tcp --sport 2001 --dport 80"), ...MX },
  {
    name: "-G gre",
    argv: w("-G -s 10.1.4.1 -d 10.2.0.5 -p gre --orig-key-src 0x10 --orig-key-dst 0x20"),
    ...MX,
  },
  { name: "-G unknown proto", argv: w("-G -s 10.1.5.1 -d 10.2.0.6 -p 99"), ...MX },
  { name: "-G sctp", argv: w("-G -s 10.1.3.1 -d 10.2.0.4 -p sctp --sport 5000 --dport 5001"), ...MX },
  { name: "-G zone 7", argv: w("-G -s 10.1.1.2 -d 10.2.0.3 -p udp --sport 123 --dport 123 -w 7"), ...MX },
  { name: "-G zone missing", argv: w("-G -s 10.1.1.2 -d 10.2.0.3 -p udp --sport 123 --dport 123"), ...MX },
  { name: "-G nonexistent", argv: w("-G -s 10.9.9.9 -d 10.2.0.1 -p tcp --sport 1 --dport 2"), ...MX },
  { name: "-G without ports", argv: w("-G -s 10.1.0.1 -d 10.2.0.1 -p tcp"), ...MX },
  { name: "-G without proto", argv: w("-G -s 10.1.0.1 -d 10.2.0.1"), ...MX },
  {
    name: "-G dying refused",
    argv: w("-G dying -s 10.1.0.1 -d 10.2.0.1 -p tcp --sport 1001 --dport 80"),
    ...MX,
  },
  // -F
  { name: "-F empty", argv: w("-F") },
  { name: "-F mixed", argv: w("-F"), setup: [MIXED] },
  { name: "--flush conntrack", argv: w("--flush conntrack"), setup: [MIXED] },
  { name: "-F -f ipv6", argv: w("-F -f ipv6"), setup: [MIXED] },
  { name: "-F -f ipv4", argv: w("-F -f ipv4"), setup: [MIXED] },
  { name: "-F with filter is illegal", argv: w("-F -s 10.1.0.1"), setup: [MIXED], ...RO },
  { name: "-F expect", argv: w("-F expect"), setup: FTP },
  {
    name: "-F expect leaves conntracks",
    argv: w("-F exp"),
    setup: [...FTP, tcpEntry("1.1.1.1", "2.2.2.2", 1, 2)],
  },
  { name: "-F unconfirmed refused", argv: w("-F unconfirmed"), setup: [MIXED], ...RO },
  // -A/-U on the expect table
  { name: "-U expect refused", argv: w("-U expect -s 1.1.1.1"), ...MX },
  { name: "-A expect refused", argv: w("-A expect -s 1.1.1.1"), ...MX },
  // -E with a table that does not support it
  { name: "-E dying refused", argv: w("-E dying"), ...MX },
  // deprecated -a
  { name: "-a is ignored with a warning", argv: w("-L -a 1.2.3.4"), ...MX, order: "multiset" },
];

diffSuite("conntrack commands", cases);
