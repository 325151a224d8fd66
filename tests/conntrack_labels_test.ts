// Connection labels: -l filter, --label-add on -I/-U, --label-del with and without names,
// -o labels in every format. Every command of these cases (setup, tool, table dumps) runs
// in a private mount namespace with an overlay on /etc that provides
// /etc/xtables/connlabel.conf (tests/lib/labelmap_wrap.sh); the host's /etc is untouched.
import { type Case, diffSuite, type Step, tcpEntry, w } from "./lib/diff.ts";
import { LABELMAP, LABELS_ON } from "./lib/ct_fixtures.ts";

const LABELED: Step[] = [
  LABELS_ON,
  tcpEntry("1.1.1.1", "2.2.2.2", 10, 20, w("--label-add alpha,gamma")),
  tcpEntry("1.1.1.2", "2.2.2.2", 10, 20, w("--label-add beta")),
  tcpEntry("1.1.1.3", "2.2.2.2", 10, 20),
  { ct: w("-I -s 1.1.1.4 -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50 --label-add delta-x") },
];

const GAMMA: Step[] = [LABELS_ON, tcpEntry("1.1.1.1", "2.2.2.2", 10, 20, w("--label-add gamma"))];

const L = { labels: LABELMAP, setup: LABELED, order: "multiset" as const };
const RO = { ...L, readOnly: true };

function c(name: string, argv: string, base: Partial<Case>): Case {
  return { ...base, name: `${name}: ${argv}`, argv: w(argv) };
}

const cases: Case[] = [
  c("list", "-L", RO),
  c("list", "-L -o labels", RO),
  c("list", "-L -o extended,labels", RO),
  c("list", "-L -o xml,labels", { ...RO, norm: ["id"] }),
  c("list", "-L -o xml", { ...RO, norm: ["id"] }),
  c("list", "-L -o save", RO),
  c("filter", "-L -l alpha", RO),
  c("filter", "-L -l alpha -o labels", RO),
  c("filter", "-L -l alpha,gamma -o labels", RO),
  c("filter", "-L -l alpha -l gamma", RO),
  c("filter", "-L --label beta", RO),
  c("filter", "-L -l delta-x -p udp", RO),
  c("filter", "-L -l alpha,beta", RO),
  c("filter", "-L -l nosuch", RO),
  c("filter", "-L -l dup", RO),
  c(
    "create",
    "-I -s 3.3.3.3 -d 4.4.4.4 -p tcp --sport 1 --dport 2 --state ESTABLISHED -t 50 --label-add beta,delta-x",
    L,
  ),
  c("create", "-A -s 3.3.3.3 -d 4.4.4.4 -p udp --sport 1 --dport 2 -t 50 --label-add alpha", L),
  c("create", "-I -s 3.3.3.3 -d 4.4.4.4 -p udp --sport 1 --dport 2 -t 50 --label-add nosuch", L),
  c("create", "-I -s 3.3.3.3 -d 4.4.4.4 -p udp --sport 1 --dport 2 -t 50 -l alpha", L),
  c("update", "-U -s 1.1.1.3 --label-add beta", L),
  c("update", "-U -s 1.1.1.1 --label-add beta", L),
  c("update", "-U -s 1.1.1.1 --label-add alpha", L),
  c("update", "-U -s 1.1.1.1 --label-del gamma", L),
  c("update", "-U -s 1.1.1.1 --label-del", L),
  c("update", "-U -s 1.1.1.3 --label-del", L),
  c("update", "-U -s 1.1.1.1 --label-del alpha,gamma -o labels", L),
  c("update", "-U -s 1.1.1.0/24 -l alpha --label-add delta-x", L),
  c("update", "-U -s 1.1.1.1 --label-add beta --label-del alpha", L),
  c("update", "-U -s 1.1.1.1 --label-del nosuch", L),
  c("delete", "-D -l beta", L),
  c("delete", "-D -l gamma -o labels", L),
  c("events", "-E -o labels", {
    ...L,
    order: "exact",
    norm: ["portid"],
    event: {
      actions: [
        { ct: w("-U -s 1.1.1.3 --label-add gamma") },
        { ct: w("-D -s 1.1.1.3") },
      ],
    },
  }),
  c("events", "-E -l alpha", {
    ...L,
    order: "exact",
    norm: ["portid"],
    event: { actions: [{ ct: w("-U -s 1.1.1.1 -m 5") }, { ct: w("-U -s 1.1.1.2 -m 5") }] },
  }),
  // label map variants
  ...["-L -o labels", "-L -l gamma -o labels", "-L -o xml,labels"].map((a) =>
    c("map with holes and comments", a, {
      ...RO,
      norm: ["id"],
      labels: "# only bit 5\n5 gamma\n\n  7   seven  \n",
      setup: GAMMA,
    })
  ),
  c("map with bad lines", "-L -l gamma -o labels", {
    ...RO,
    labels: "x y\n5 gamma\n1024 big\n0 bad!name\n",
    setup: GAMMA,
  }),
  c("empty map", "-L -o labels", {
    ...RO,
    labels: "",
    setup: [LABELS_ON, tcpEntry("1.1.1.1", "2.2.2.2", 1, 2)],
  }),
  c("empty map", "-L -l gamma", {
    ...RO,
    labels: "",
    setup: [LABELS_ON, tcpEntry("1.1.1.1", "2.2.2.2", 1, 2)],
  }),
];

diffSuite("conntrack labels", cases);
