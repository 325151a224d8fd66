// -U / --update: mark formula, status OR, timeouts, unchanged entries, output formats.
//
// The reference 1.4.7 is broken on this kernel in two ways (see the INTENTIONAL
// DIVERGENCE cases at the end): a -U without an address or -f (so with -p, -u, --state
// or no filter at all) sends AF_UNSPEC updates that the kernel rejects with "Operation
// not supported"; and a filtered -U stops after 256 updates with ENOBUFS. Those cases
// assert ctkit's correct behaviour instead of the reference's.
import { type Case, diffSuite, type Run, tcpEntry, w } from "./lib/diff.ts";
import { MIXED } from "./lib/ct_fixtures.ts";

// The reference's -U prints only some re-read entries, depending on dump order (which
// differs between namespaces): stdout is only comparable when at most one entry changes.
const MULTI = "reference prints a dump-order-dependent subset of the updated entries";

const ONE = [tcpEntry("1.1.1.1", "2.2.2.2", 10, 20, w("-m 0x0f"))];

function updates(prefix: string, argvs: string[], base: Partial<Case>): Case[] {
  return argvs.map((a) => ({ ...base, name: `${prefix}: -U ${a}`, argv: w(`-U ${a}`) }));
}

/** ctkit side must show `n` entries matching `filter` afterwards. */
function countIs(filter: string, n: number) {
  return async (run: (argv: string[]) => Promise<Run>) => {
    const r = await run(w(`-L ${filter}`));
    const got = r.stdout.split("\n").filter((l) => l !== "").length;
    return got === n ? undefined : `after the update, -L ${filter} shows ${got} entries, expected ${n}`;
  };
}

const V4 = {
  batch: [
    "-I -s 10.0.0.1 -d 10.0.1.1 -p tcp --sport 1 --dport 80 --state ESTABLISHED -u SEEN_REPLY -t 100 -m 1",
    "-I -s 10.0.0.2 -d 10.0.1.1 -p udp --sport 2 --dport 53 -t 100 -m 2",
    "-I -s 10.0.0.3 -d 10.0.1.1 -p udp --sport 3 --dport 53 -t 100 -u SEEN_REPLY",
  ].join("\n") + "\n",
};

const BIG = {
  batch: Array.from(
    { length: 300 },
    (_, i) => `-I -s 10.7.${i >> 8}.${i & 255} -d 10.8.0.1 -p udp --sport 1000 --dport 53 -t 200`,
  ).join("\n") + "\n",
};

const UPD = /^conntrack v[\d.]+ \(conntrack-tools\): (\d+) flow entries have been updated\.\n$/;

const cases: Case[] = [
  ...updates("single", [
    "-s 1.1.1.1 -m 5",
    "-s 1.1.1.1 -m 0x0f",
    "-s 1.1.1.1 -m 0x10/0x10",
    "-s 1.1.1.1 -m 0x3/0x3",
    "-s 1.1.1.1 -m 0xf0/0xf0",
    "-s 1.1.1.1 -m 0/0xffffffff",
    "-s 1.1.1.1 -m 1/0",
    "-s 1.1.1.1 -u ASSURED",
    "-s 1.1.1.1 -u FIXED_TIMEOUT",
    "-s 1.1.1.1 -u SEEN_REPLY",
    "-s 1.1.1.1 -t 500",
    "-s 1.1.1.1 -t 500 -u FIXED_TIMEOUT",
    "-s 1.1.1.1 -d 2.2.2.2 -m 7",
    "-d 2.2.2.2 -m 7",
    "-r 2.2.2.2 -m 7",
    "-q 1.1.1.1 -m 7",
    "-s 1.1.1.0/24 -m 7",
    "-s 1.1.0.0 --mask-src 255.255.0.0 -m 7",
    "-f ipv4 -m 7",
    "-s 1.1.1.1 -m 7 -o save",
    "-s 1.1.1.1 -m 7 -o xml",
    "-s 1.1.1.1 -m 7 -o extended",
    "-s 1.1.1.1 -m 7 -o id",
    "-s 1.1.1.1 -m 0x0f -o xml",
    "-s 9.9.9.9 -m 7",
    "-s 1.1.1.1 -m 7 -w 3",
    "-s 1.1.1.1 -m 7 -c 1",
    "-s 1.1.1.1 -m 7 -n",
    "-s 1.1.1.1 -m 7 -j",
    "-s 1.1.1.1 -m 7 -l alpha",
    "-s 1.1.1.1 -m 7 -i 1",
    "-s 1.1.1.1 -m 7 -z",
  ], { setup: ONE, norm: ["id"] }),
  { name: "single: -U by id", setup: ONE, argv: w("-U -s 1.1.1.1 -i {ID} -m 3"), idOf: w("-s 1.1.1.1") },
  ...updates("v6", ["-s 2001:db8::1 -m 9", "-s 2001:db8::5 -u ASSURED"], {
    setup: [MIXED],
    order: "multiset",
  }),
  ...updates("v6 multi", ["-f ipv6 -u ASSURED", "-s 2001:db8::/64 -m 0x1/0x1"], {
    setup: [MIXED],
    skipStdout: MULTI,
  }),
  // entries with zones / NAT / other protocols, one at a time (deterministic output)
  ...updates("special", [
    "-s 10.1.1.2 -m 9",
    "-s 10.1.1.2 -m 9 -w 7",
    "-s 10.1.7.1 -m 9",
    "-s 10.1.8.1 -m 9",
    "-s 10.1.8.2 -t 77",
    "-s 10.1.8.2 -u ASSURED",
    "-s 10.1.3.1 -m 9",
    "-s 10.1.4.1 -m 9",
    "-s 10.1.5.1 -m 9",
    "-s 10.1.2.1 -u SEEN_REPLY",
    "-s 10.1.0.3 -m 0x2/0x2",
    "-s 10.1.0.1 -m 1",
    "-s 10.1.0.1 -d 10.2.0.1 -p tcp --sport 1001 --dport 80 -m 3",
    "-r 10.2.0.1 -q 10.1.0.2 -p tcp --reply-port-src 443 --reply-port-dst 1002 -m 3",
  ], { setup: [MIXED], norm: ["id"] }),
  ...updates("multi", [
    "-s 10.0.0.0/24 -m 9",
    "-f ipv4 -m 0x100/0x100",
    "-d 10.0.1.1 -u ASSURED",
    "-f ipv4 -m 1",
    "-s 10.0.0.0/8 -t 77",
    "-s 10.0.0.0/8 -p udp -m 5",
  ], { setup: [V4], skipStdout: MULTI }),
  // ---- INTENTIONAL DIVERGENCE: -U without a family (reference: "Operation not supported") ----
  ...[
    ["-p tcp -m 9", "-f ipv4 -p tcp -m 9"],
    ["-p udp -m 9", "-f ipv4 -p udp -m 9"],
    ["-p tcp --state CLOSE -m 4", "-f ipv4 -p tcp --state CLOSE -m 4"],
    ["-u ASSURED", "-f ipv4 -u ASSURED"],
    ["-m 6", "-f ipv4 -m 6"],
    ["-m 0x10/0x10", "-f ipv4 -m 0x10/0x10"],
    ["-p tcp --dport 80 -u FIXED_TIMEOUT", "-f ipv4 -p tcp --dport 80 -u FIXED_TIMEOUT"],
  ].map(([argv, ref]): Case => ({
    name: `DIVERGENCE -U without family works: -U ${argv}`,
    setup: [V4],
    argv: w(`-U ${argv}`),
    refArgv: w(`-U ${ref}`),
    skipStdout: MULTI,
    divergence: {
      why: "1.4.7 sends the update with AF_UNSPEC, the kernel answers EOPNOTSUPP",
      reference: { code: 1, stderr: /Operation failed: Operation not supported/ },
    },
  })),
  {
    name: "DIVERGENCE -U -p tcp on a single entry prints it like the -f ipv4 form",
    setup: ONE,
    argv: w("-U -p tcp -m 9"),
    refArgv: w("-U -f ipv4 -p tcp -m 9"),
    divergence: {
      why: "1.4.7 sends the update with AF_UNSPEC, the kernel answers EOPNOTSUPP",
      reference: { code: 1, stderr: /Operation not supported/ },
    },
  },
  // ---- INTENTIONAL DIVERGENCE: filtered -U is capped at 256 entries by the reference ----
  {
    name: "DIVERGENCE filtered -U updates all 300 matching entries",
    setup: [BIG],
    argv: w("-U -s 10.7.0.0/16 -m 5"),
    expect: { code: 0, stderr: UPD, stdout: /^udp +17 /, stdoutLines: 300 },
    checkB: countIs("-m 5", 300),
    divergence: {
      why: "1.4.7 overruns its dump socket while updating and stops with ENOBUFS after 256",
      reference: { stderr: /No buffer space available/ },
    },
  },
  {
    name: "DIVERGENCE -U -f ipv4 -m updates all 300 entries",
    setup: [BIG],
    argv: w("-U -f ipv4 -m 0x20/0x20"),
    expect: { code: 0, stderr: UPD, stdoutLines: 300 },
    checkB: countIs("-m 0x20/0x20", 300),
    divergence: {
      why: "1.4.7 overruns its dump socket while updating and stops with ENOBUFS after 256",
      reference: { stderr: /No buffer space available/ },
    },
  },
];

diffSuite("conntrack -U", cases);
