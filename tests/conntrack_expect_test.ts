// The expectation table: created by the kernel FTP helper on real loopback traffic
// (iptables raw CT --helper ftp + a fake FTP server answering PASV), and by
// `conntrack -I expect` against that master.
import { type Case, diffSuite, w } from "./lib/diff.ts";
import { FTP } from "./lib/ct_fixtures.ts";

const RO = { setup: FTP, readOnly: true };
const MASTER = "-s 127.0.0.1 -d 127.0.0.1 -p tcp --sport 40021 --dport 21";
const EXP_NEW =
  `-I expect ${MASTER} --tuple-src 127.0.0.1 --tuple-dst 127.0.0.1 --mask-src 255.255.255.255 ` +
  "--mask-dst 255.255.255.255 --tuple-port-src 0 --tuple-port-dst 5000 --mask-port-src 0 --mask-port-dst 65535 -t 100";

const cases: Case[] = [
  { name: "-L expect", argv: w("-L expect"), ...RO },
  { name: "-L exp", argv: w("-L exp"), ...RO },
  { name: "-L e", argv: w("-L e"), ...RO },
  { name: "-L expect -o xml", argv: w("-L expect -o xml"), ...RO },
  { name: "-L expect -o timestamp", argv: w("-L expect -o timestamp"), norm: ["evtime"], ...RO },
  { name: "-L expect -o xml,timestamp", argv: w("-L expect -o xml,timestamp"), norm: ["evtime"], ...RO },
  { name: "-L expect -o extended", argv: w("-L expect -o extended"), ...RO },
  { name: "-L expect -o save", argv: w("-L expect -o save"), ...RO },
  { name: "-L expect -f ipv4", argv: w("-L expect -f ipv4"), ...RO },
  { name: "-L expect -f ipv6", argv: w("-L expect -f ipv6"), ...RO },
  { name: "-L expect -s is illegal", argv: w("-L expect -s 127.0.0.1"), ...RO },
  { name: "-L expect -p tcp is illegal", argv: w("-L expect -p tcp"), ...RO },
  { name: "master shows helper=ftp", argv: w("-L -p tcp --dport 21"), ...RO },
  { name: "-C expect", argv: w("-C expect"), ...RO },
  { name: "-G expect by master", argv: w(`-G expect ${MASTER}`), ...RO },
  {
    name: "-G expect by master with reply ports",
    argv: w(`-G expect ${MASTER} --reply-port-src 21 --reply-port-dst 40021`),
    ...RO,
  },
  {
    name: "-G expect -o xml",
    argv: w(`-G expect ${MASTER} --reply-port-src 21 --reply-port-dst 40021 -o xml`),
    ...RO,
  },
  {
    name: "-D expect expected tuple",
    argv: w(
      "-D expect -s 127.0.0.1 -d 127.0.0.1 -p tcp --sport 0 --dport 50000 --reply-port-src 0 --reply-port-dst 0",
    ),
    setup: FTP,
  },
  {
    name: "-D expect master tuple",
    argv: w(`-D expect ${MASTER} --reply-port-src 21 --reply-port-dst 40021`),
    setup: FTP,
  },
  { name: "-D expect without ports", argv: w("-D expect -s 127.0.0.1 -d 127.0.0.1 -p tcp"), ...RO },
  { name: "-F expect", argv: w("-F expect"), setup: FTP },
  { name: "-I expect", argv: w(EXP_NEW), setup: FTP },
  { name: "-I expect then list", argv: w("-L expect"), setup: [...FTP, { ct: w(EXP_NEW) }], readOnly: true },
  {
    name: "-I expect without master",
    argv: w(EXP_NEW.replace("--sport 40021", "--sport 40022")),
    setup: FTP,
  },
  { name: "-I expect missing tuple", argv: w(`-I expect ${MASTER} -t 100`), ...RO },
  { name: "-I expect udp", argv: w(EXP_NEW.replace("-p tcp", "-p udp")), setup: FTP },
  { name: "-I expect icmp is illegal", argv: w("-I expect -s 1.1.1.1 -d 2.2.2.2 -p icmp -t 10"), ...RO },
  { name: "-L expect on an empty table", argv: w("-L expect -o xml"), readOnly: true },
  { name: "-D conntrack of the master drops the expectation", argv: w("-D -p tcp --dport 21"), setup: FTP },
];

diffSuite("conntrack expect", cases);
