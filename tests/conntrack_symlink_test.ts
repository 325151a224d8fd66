// A symlink named `conntrack` pointing at the ctkit executable (CTKIT_BIN, by default the launcher
// scripts/ctkit) must behave exactly like
// `ctkit conntrack` (and like the reference). Side A is the reference, side B the symlink;
// a second suite compares the symlink with `ctkit conntrack` directly.
import { type Case, CTKIT_CMD, diffSuite, refAs, SELF, w } from "./lib/diff.ts";
import { CTKIT } from "./lib/netns.ts";
import { MIXED } from "./lib/ct_fixtures.ts";

const dir = Deno.makeTempDirSync({ prefix: "ctkit-symlink-" });
const LINK = `${dir}/conntrack`;
Deno.symlinkSync(CTKIT, LINK);
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
});

// the reference is started with the symlink's path as argv[0] (the usage text prints it)
const REF_AS_LINK = refAs(LINK);
const SIDE_B = SELF ? REF_AS_LINK : [LINK];

const ARGVS = [
  "-V",
  "-h",
  "-L",
  "-L -o xml",
  "-L -p tcp -o extended",
  "-C",
  "-D -s 10.1.0.1",
  "-I -s 9.9.9.9 -d 8.8.8.8 -p udp --sport 1 --dport 2 -t 30",
  "-U -s 10.1.0.2 -m 99",
  "-L --bogus",
];

const vsRef: Case[] = ARGVS.map((a) => ({
  name: `symlink vs reference: ${a}`,
  setup: [MIXED],
  argv: w(a),
  sideA: REF_AS_LINK,
  sideB: SIDE_B,
  order: "multiset",
  norm: ["id"],
}));

diffSuite("conntrack symlink vs reference", vsRef);

// symlink (side B) vs `ctkit conntrack` (side A) directly
const vsCtkit: Case[] = ARGVS.filter((a) => a !== "-h").map((a) => ({
  name: `symlink vs ctkit conntrack: ${a}`,
  setup: [MIXED],
  argv: w(a),
  // `ctkit conntrack` prints "conntrack" as its name, the symlink its path: not for -h
  sideA: SELF ? REF_AS_LINK : CTKIT_CMD,
  sideB: SIDE_B,
  order: "multiset",
  norm: ["id"],
}));

diffSuite("conntrack symlink vs ctkit conntrack", vsCtkit);
