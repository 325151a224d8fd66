// -R / --load-file: file and stdin batches, comments, blank lines, quoting, commands
// that are refused in batch mode, parse errors that abort before anything runs,
// EEXIST mid-batch (earlier lines stay applied), and save-format round trips.
import { type Case, diffSuite, tcpEntry, w } from "./lib/diff.ts";
import { MIXED, MIXED_LINES } from "./lib/ct_fixtures.ts";

const A = "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50";
const B =
  "-I -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50";
const C6 =
  "-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50";
const ICMP =
  "-I -t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226";

const SAVE = [
  "-A -t 49 -u SEEN_REPLY,ASSURED -w 3 -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p tcp --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 --state ESTABLISHED",
  "-A -t 39 -u UNSET -s 1.1.1.1 -d 2.2.2.2 -g 3.3.3.3 -q 1.1.1.1 -p tcp --sport 11 --dport 21 --reply-port-src 80 --reply-port-dst 11 --state SYN_SENT",
  "-A -t 9 -u UNSET -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2",
  "-A -t 28 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226",
  "-A -t 60 -u SEEN_REPLY -s 1.1.1.5 -d 2.2.2.2 -r 2.2.2.2 -n 9.9.9.9 -p udp --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1",
].join("\n") + "\n";

function stdin(name: string, text: string, base: Partial<Case> = {}): Case {
  return { order: "multiset", ...base, name: `stdin: ${name}`, argv: w("-R -"), stdin: text };
}

const cases: Case[] = [
  stdin("four creates", [A, B, C6, ICMP].join("\n") + "\n"),
  stdin("comments, blank and indented lines", `# a comment\n\n   \n\t\t\n  ${A}\n\t${B}\n#${C6}\n`),
  stdin("no trailing newline", A),
  stdin("empty input", ""),
  stdin("only comments", "# nothing\n#\n"),
  stdin(
    "quoted arguments",
    `-I -s "1.1.1.1" -d '2.2.2.2' -p "tcp" --sport 10 --dport 20 --state "LISTEN" -t 50\n`,
  ),
  stdin("quoted with escapes", `-I -s "1.1.1.\\1" -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 50\n`),
  stdin("EEXIST mid-batch keeps earlier lines", [A, B, A, C6].join("\n") + "\n", { setup: [] }),
  stdin("EEXIST on the first line", `${A}\n${B}\n`, { setup: [tcpEntry("1.1.1.1", "2.2.2.2", 10, 20)] }),
  stdin("-A is idempotent", [A.replace("-I", "-A"), A.replace("-I", "-A")].join("\n") + "\n"),
  stdin("parse error aborts before anything runs", `${A}\n${B}\n-I -s 1.1.1.9 -p tcp --bogus\n`),
  stdin("unknown protocol aborts", `${A}\n-I -s 1.1.1.1 -d 2.2.2.2 -p 256 -t 5\n`),
  stdin("missing option aborts", `${A}\n-I -s 1.1.1.1 -d 2.2.2.2 -p tcp -t 5\n`),
  stdin("-L is refused", `${A}\n-L\n`),
  stdin("-G is refused", `-G -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20\n`),
  stdin("-E is refused", `-E\n`),
  stdin("-V is refused", `-V\n`),
  stdin("-h is refused", `-h\n`),
  stdin("-C is refused", `-C\n`),
  stdin("-S is refused", `-S\n`),
  stdin("-L expect is refused", `-L expect\n`),
  stdin("-D expect is refused", `-D expect -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 --dport 2\n`),
  stdin("-F expect is refused", `-F expect\n`),
  stdin("-R inside a batch", `-R /dev/null\n`),
  stdin("deletes: zero matches are fine", `-D -s 10.1.0.1\n-D -s 9.9.9.9\n-D -p udp\n`, { setup: [MIXED] }),
  stdin("deletes print their entries", `-D -s 10.1.0.0/24 -o save\n-D -f ipv6\n`, { setup: [MIXED] }),
  // ---- INTENTIONAL DIVERGENCE: in a batch, 1.4.7 applies the mark (value/mask) of the
  // last line it parsed to every -U; ctkit applies each line's own -m.
  stdin(
    "DIVERGENCE updates and flush: -U uses its own -m",
    `-U -s 10.1.0.1 -m 77\n-U -s 9.9.9.9 -m 1\n-F\n${A}\n`,
    {
      setup: [MIXED],
      expect: {
        code: 0,
        stderr: "conntrack v1.4.7 (conntrack-tools): connection tracking table has been emptied.\n",
        stdout: /\[ASSURED\] mark=77 use=\d+\n$/,
      },
      divergence: {
        why: "1.4.7 copies the mark from the last parsed line's template (a global) into every -U",
        reference: { code: 0, stdout: /mark=3 use=/ },
      },
    },
  ),
  stdin("DIVERGENCE update then create: -U uses its own -m", `-U -s 10.1.0.2 -m 0x5/0x5\n${B}\n`, {
    setup: [MIXED],
    expect: { code: 0, stderr: "", stdout: / mark=7 use=\d+\n$/ },
    checkB: async (run) => {
      const r = await run(w("-L -s 10.1.0.2 -m 7"));
      return r.stdout.split("\n").filter((l) => l !== "").length === 1 ? undefined : "10.1.0.2 lacks mark 7";
    },
    divergence: {
      why: "1.4.7 copies the mark from the last parsed line's template (a global) into every -U",
      reference: { code: 0, stdout: / mark=0 use=/ },
    },
  }),
  stdin("save-format round trip", SAVE),
  stdin("the mixed fixture", MIXED_LINES),
  stdin("zone copy via save lines", SAVE.replaceAll("-w 3", "-w 4"), { setup: [{ batch: SAVE }] }),
  stdin("argument too long", `-I -s ${"1".repeat(1100)} -d 2.2.2.2 -p udp --sport 1 --dport 2 -t 5\n`),
  stdin("too many arguments", `-L ${"x ".repeat(300)}\n`),
  {
    name: "file: creates",
    files: { "batch.txt": [A, B, C6, ICMP].join("\n") + "\n" },
    argv: w("-R {DIR}/batch.txt"),
    order: "multiset",
  },
  {
    name: "file: --load-file with save lines",
    files: { "save.txt": SAVE },
    argv: w("--load-file {DIR}/save.txt"),
  },
  {
    name: "file: parse error",
    files: { "bad.txt": `${A}\n-I -s\n` },
    argv: w("-R {DIR}/bad.txt"),
  },
  { name: "file: missing file", argv: w("-R {DIR}/nope.txt") },
  { name: "file: missing argument", argv: w("-R"), readOnly: true },
  { name: "file: -R not first", argv: w("-L -R -"), stdin: A, readOnly: true },
  { name: "file: -R with extra words", files: { "b.txt": `${A}\n` }, argv: w("-R {DIR}/b.txt -L") },
];

diffSuite("conntrack -R", cases);
