// A symlink named `conntrack` pointing at scripts/ctkit must behave exactly like
// `ctkit conntrack` (and like the reference). Side A is the reference, side B the symlink;
// a second suite compares the symlink with `ctkit conntrack` directly.
import { type Case, CTKIT_CMD, diffSuite, REF, SELF, w } from "./lib/diff.ts";
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

const SIDE_B = SELF ? [REF] : [LINK];

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
  sideB: SIDE_B,
  order: "multiset",
  norm: ["id"],
}));

diffSuite("conntrack symlink vs reference", vsRef);

// symlink (side B) vs `ctkit conntrack` (side A) directly
const vsCtkit: Case[] = ARGVS.map((a) => ({
  name: `symlink vs ctkit conntrack: ${a}`,
  setup: [MIXED],
  argv: w(a),
  sideA: CTKIT_CMD,
  sideB: SIDE_B,
  order: "multiset",
  norm: ["id"],
}));

diffSuite("conntrack symlink vs ctkit conntrack", vsCtkit);
