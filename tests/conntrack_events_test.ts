// -E / --event: the listener runs in both namespaces, the same changes are made in both,
// then SIGINT ends it (summary line and XML footer come from the signal path).
// Events caused by a conntrack process carry `[USERSPACE] portid=N [progname=X]`; the
// portid differs between the namespaces and progname is only found while the writer is
// still alive, so those cases normalise that suffix ("portid").
import { type Case, diffSuite, type Step, tcpEntry, TRACK, w } from "./lib/diff.ts";
import { FTP, MIXED, REAL_NAT } from "./lib/ct_fixtures.ts";

const CHANGES: Step[] = [
  tcpEntry("1.1.1.1", "2.2.2.2", 10, 20),
  { ct: w("-I -s 2001:db8::1 -d 2001:db8::2 -p udp --sport 1 --dport 2 -t 30 -m 3") },
  { ct: w("-I -s 1.1.1.9 -d 2.2.2.2 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 4 -t 30 -w 2") },
  { ct: w("-U -s 1.1.1.1 -m 7") },
  { ct: w("-U -s 2001:db8::1 -u ASSURED") },
  { ct: w("-D -s 1.1.1.1") },
  { ct: w("-D -s 2001:db8::1") },
];

function events(prefix: string, argvs: string[], base: Partial<Case> = {}): Case[] {
  return argvs.map((a) => ({
    norm: ["portid"],
    event: { actions: CHANGES },
    ...base,
    name: `${prefix}: ${a}`,
    argv: w(a),
  }));
}

const cases: Case[] = [
  ...events("changes", [
    "-E",
    "--event",
    "-E conntrack",
    "-E -e NEW",
    "-E -e UPDATES",
    "-E -e DESTROY",
    "-E -e NEW,DESTROY",
    "-E -e ALL",
    "-E -e new,upd",
    "-E -o extended",
    "-E -o id",
    "-E -o save",
    "-E -o xml",
    "-E -o xml,extended",
    "-E -o userspace",
    "-E -o labels",
    "-E -p tcp",
    "-E -p udp",
    "-E -p icmp",
    "-E -f ipv6",
    "-E -f ipv4",
    "-E -s 1.1.1.1",
    "-E -s 1.1.1.0/24",
    "-E -d 2001:db8::2",
    "-E -m 7",
    "-E -m 3",
    "-E -m 0x1/0x1",
    "-E -w 2",
    "-E -n",
    "-E -j",
    "-E -c 0",
    "-E -b 1048576",
    "-E -e NEW -o xml -p udp",
  ], { norm: ["portid", "id"] }),
  ...events("timestamp", ["-E -o timestamp", "-E -o timestamp,extended", "-E -o xml,timestamp"], {
    norm: ["portid", "evtime", "id"],
  }),
  {
    name: "flush events (hash order)",
    setup: [MIXED],
    argv: w("-E -e DESTROY"),
    event: { actions: [{ ct: w("-F") }] },
    norm: ["portid"],
    order: "multiset",
  },
  {
    name: "real traffic events (no USERSPACE suffix)",
    setup: [TRACK],
    argv: w("-E"),
    event: {
      actions: [
        { traffic: w("tcp 127.0.0.1 40000 127.0.0.1 5000") },
        { traffic: w("udp 127.0.0.1 40001 127.0.0.1 5001 reply") },
        { traffic: w("ping 127.0.0.1 127.0.0.1 9") },
      ],
    },
  },
  {
    name: "real NAT traffic events in save format",
    setup: REAL_NAT.slice(0, 2),
    argv: w("-E -o save"),
    event: { actions: REAL_NAT.slice(2) },
  },
  {
    name: "expectation events from the ftp helper",
    setup: FTP.slice(0, 2),
    argv: w("-E expect"),
    event: { actions: FTP.slice(2) },
  },
  {
    name: "expectation events xml",
    setup: FTP.slice(0, 2),
    argv: w("-E expect -o xml"),
    event: { actions: FTP.slice(2) },
  },
  {
    name: "expectation events with timestamp",
    setup: FTP.slice(0, 2),
    argv: w("-E expect -o timestamp"),
    event: { actions: FTP.slice(2) },
    norm: ["evtime"],
  },
  {
    name: "SIGTERM ends the listener like SIGINT",
    argv: w("-E"),
    event: { actions: CHANGES, signal: "SIGTERM" },
    norm: ["portid"],
  },
  {
    name: "SIGTERM ends an xml listener (footer)",
    argv: w("-E -o xml"),
    event: { actions: CHANGES, signal: "SIGTERM" },
    norm: ["portid", "id"],
  },
  {
    name: "no events at all",
    argv: w("-E"),
    event: { actions: [] },
  },
  {
    name: "no events at all, xml (no header, no footer)",
    argv: w("-E -o xml"),
    event: { actions: [] },
  },
  // rejected -E option combinations (no listener starts)
  ...[
    "-E -z",
    "-E -t 10",
    "-E -u ASSURED",
    "-E -e BOGUS",
    "-E -e",
    "-E -i 1",
    "-E expect -p tcp",
    "-E -o save,xml",
  ].map((
    a,
  ): Case => ({ name: `error: ${a}`, argv: w(a), readOnly: true })),
];

diffSuite("conntrack -E", cases);
