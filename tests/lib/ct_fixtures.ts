// Shared kernel-table fixtures for the conntrack differential tests.
import { type Step, TRACK, w } from "./diff.ts";

/** A mixed table: tcp/udp/icmp/IPv6/sctp/gre/udplite/unknown, marks, zones, states, statuses. */
export const MIXED_LINES = [
  "-I -s 10.1.0.1 -d 10.2.0.1 -p tcp --sport 1001 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 300 -m 1",
  "-I -s 10.1.0.2 -d 10.2.0.1 -p tcp --sport 1002 --dport 443 --state SYN_SENT -t 120 -m 2",
  "-I -s 10.1.0.3 -d 10.2.0.2 -p tcp --sport 1003 --dport 22 --state TIME_WAIT -u SEEN_REPLY -t 60 -m 0x12",
  "-I -s 10.1.1.1 -d 10.2.0.1 -p udp --sport 53 --dport 5353 -t 30 -m 3",
  "-I -s 10.1.1.2 -d 10.2.0.3 -p udp --sport 123 --dport 123 -u SEEN_REPLY -t 180 -w 7",
  "-I -s 10.1.2.1 -d 10.2.0.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 42 -t 30",
  "-I -s 2001:db8::1 -d 2001:db8::2 -p tcp --sport 2001 --dport 80 --state ESTABLISHED -u SEEN_REPLY -t 200 -m 4",
  "-I -s 2001:db8::3 -d 2001:db8::2 -p udp --sport 2002 --dport 53 -t 40",
  "-I -s 2001:db8::5 -d 2001:db8::2 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 7 -t 30",
  "-I -s 10.1.3.1 -d 10.2.0.4 -p sctp --sport 5000 --dport 5001 --state ESTABLISHED --orig-vtag 100 --reply-vtag 200 -u SEEN_REPLY -t 90",
  "-I -s 10.1.4.1 -d 10.2.0.5 -p gre --orig-key-src 0x10 --orig-key-dst 0x20 -t 50",
  "-I -s 10.1.5.1 -d 10.2.0.6 -p 99 -t 40",
  "-I -s 10.1.5.2 -d 10.2.0.6 -p ospf -t 40 -m 5",
  "-I -s 10.1.6.1 -d 10.2.0.7 -p udplite --sport 9 --dport 10 -t 30",
  "-I -s 10.1.7.1 -d 10.2.0.8 -p tcp --sport 1010 --dport 80 --state ESTABLISHED -u SEEN_REPLY -t 300 --orig-zone 3",
  "-I -s 10.1.7.2 -d 10.2.0.8 -p tcp --sport 1010 --dport 80 --state ESTABLISHED -u SEEN_REPLY -t 300 --reply-zone 4",
  "-I -s 10.1.8.1 -d 10.2.0.9 -p tcp --sport 1011 --dport 8080 --state ESTABLISHED -u SEEN_REPLY,FIXED_TIMEOUT -t 250 --dst-nat 192.168.9.9:80",
  "-I -s 10.1.8.2 -d 10.2.0.9 -p tcp --sport 1012 --dport 8080 --state ESTABLISHED -u SEEN_REPLY -t 250 --src-nat 192.168.8.8",
].join("\n") + "\n";

export const MIXED: Step = { batch: MIXED_LINES };

/** Entry counts of MIXED, for documentation in case names. */
export const MIXED_COUNT = MIXED_LINES.trim().split("\n").length;

/** Real loopback traffic: TCP (TIME_WAIT, ASSURED), UDP with reply, ICMP and ICMPv6 echo, TCP over IPv6. */
export const REAL: Step[] = [
  TRACK,
  { traffic: w("tcp 127.0.0.1 40000 127.0.0.1 5000") },
  { traffic: w("tcp ::1 40002 ::1 5002") },
  { traffic: w("udp 127.0.0.1 40001 127.0.0.1 5001 reply") },
  { traffic: w("udp 127.0.0.1 40003 127.0.0.2 5003") },
  { traffic: w("ping 127.0.0.1 127.0.0.1 77") },
  { traffic: w("ping6 ::1 ::1 78") },
];

/** Real NATed loopback flows: DNAT 127.0.0.9:80 -> 127.0.0.1:8080 and SNAT to 127.0.0.5. */
export const NAT_RULES: Step = {
  sh: "nft -f - <<'EOF'\n" +
    "table ip ctknat {\n" +
    "  chain out { type nat hook output priority -100; ip daddr 127.0.0.9 tcp dport 80 dnat to 127.0.0.1:8080; }\n" +
    "  chain post { type nat hook postrouting priority 100; ip daddr 127.0.0.1 tcp dport 8081 snat to 127.0.0.5; " +
    "ip daddr 127.0.0.1 udp dport 8082 snat to 127.0.0.6:7000; }\n" +
    "}\nEOF",
};

export const REAL_NAT: Step[] = [
  TRACK,
  NAT_RULES,
  { traffic: w("tcp 127.0.0.1 41000 127.0.0.9 80 127.0.0.1 8080") },
  { traffic: w("tcp 127.0.0.1 41001 127.0.0.1 8081") },
  { traffic: w("udp 127.0.0.1 41002 127.0.0.1 8082") },
  { traffic: w("tcp 127.0.0.1 41003 127.0.0.1 9000") },
];

/** Makes the kernel record start/stop timestamps for new entries. */
export const TIMESTAMPS: Step = { sh: "sysctl -qw net.netfilter.nf_conntrack_timestamp=1" };
/** Makes the kernel count packets/bytes per direction. */
export const ACCOUNTING: Step = { sh: "sysctl -qw net.netfilter.nf_conntrack_acct=1" };

/** Real FTP control connection with the kernel helper: creates an expectation. */
export const FTP: Step[] = [
  TRACK,
  { sh: "iptables -t raw -A OUTPUT -p tcp --dport 21 -j CT --helper ftp" },
  { traffic: w("ftp 127.0.0.1 40021 127.0.0.1 50000") },
];

/** Label map used by the label cases (bits 0, 1, 5, 9; one duplicate ignored). */
export const LABELMAP = "# ctkit test labels\n0 alpha\n1 beta\n5 gamma\n9 delta-x\n1 dup\n";
/** Enables connlabel storage in the namespace (any rule using ct labels; needs no label map). */
export const LABELS_ON: Step = {
  sh:
    "nft -f - <<'EOF'\ntable ip ctklabel {\n  chain o { type filter hook output priority 0; ct label 127 counter; }\n}\nEOF",
};
