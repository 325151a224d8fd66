// Output formats of -L/-G on a mixed table, real traffic, timestamps and accounting:
// default, extended, xml, save, id, ktimestamp, timestamp, labels, userspace, combinations,
// and the -o list parsing rules (prefixes, case, SRC_NAT/DST_NAT trap, bad tokens).
import { type Case, diffSuite, w } from "./lib/diff.ts";
import { ACCOUNTING, MIXED, REAL, REAL_NAT, TIMESTAMPS } from "./lib/ct_fixtures.ts";

function outs(prefix: string, opts: string[], base: Partial<Case>): Case[] {
  return opts.map((o) => ({
    order: "multiset" as const,
    readOnly: true,
    ...base,
    name: `${prefix}: -L -o ${o}`,
    argv: w(`-L -o ${o}`),
  }));
}

const cases: Case[] = [
  ...outs("mixed", [
    "extended",
    "xml",
    "save",
    "id",
    "ext",
    "EXTENDED",
    "x",
    "extended,id",
    "xml,extended",
    "xml,id",
    "timestamp",
    "userspace",
    "labels",
    "extended,extended",
    "ktimestamp",
  ], { setup: [MIXED], norm: ["id"] }),
  ...outs("trap", ["s", "S", "d", "src_nat", "DST_NAT", "sa", "save,s"], { setup: [MIXED], norm: ["id"] }),
  ...outs("error", ["bogus", "", "xml,", ",xml", "save,xml", "xml,save", "save,id", "save,extended"], {
    setup: [MIXED],
  }),
  ...outs("real", ["extended", "xml", "save", "id"], { setup: REAL, norm: ["id"] }),
  ...outs("real nat", ["xml", "save", "extended"], { setup: REAL_NAT, norm: ["id"] }),
  ...outs("timestamps", ["ktimestamp", "ktimestamp,extended", "xml,ktimestamp", "xml"], {
    setup: [TIMESTAMPS, MIXED],
    norm: ["id", "ktime", "delta"],
  }),
  {
    name: "timestamps: default output has delta-time",
    setup: [TIMESTAMPS, MIXED],
    argv: w("-L"),
    order: "multiset",
    norm: ["delta"],
    readOnly: true,
  },
  ...outs("timestamps real", ["ktimestamp", "xml,ktimestamp"], {
    setup: [TIMESTAMPS, ...REAL],
    norm: ["id", "ktime", "delta"],
  }),
  ...outs("accounting", ["extended", "xml", "save"], { setup: [ACCOUNTING, ...REAL], norm: ["id"] }),
  {
    name: "-G -o xml,extended,id on a real flow",
    setup: REAL,
    argv: w("-G -s 127.0.0.1 -d 127.0.0.1 -p tcp --sport 40000 --dport 5000 -o xml,extended,id"),
    norm: ["id"],
    readOnly: true,
  },
  { name: "-L -o on an empty table (no xml header)", argv: w("-L -o xml"), readOnly: true },
  {
    name: "-o given twice",
    setup: [MIXED],
    argv: w("-L -o xml -o extended"),
    order: "multiset",
    norm: ["id"],
    readOnly: true,
  },
  { name: "-o without argument", argv: w("-L -o"), readOnly: true },
];

diffSuite("conntrack output formats", cases);
