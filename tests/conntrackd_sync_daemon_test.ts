// conntrackd in Sync mode against the reference daemon (Debian's conntrackd 1.4.7), compared by
// tests/lib/ctd_diff.ts (read its header; CTKIT_CTD_SELF=1 runs reference against reference). Each
// side's daemon has its own sync peer — the reference daemon in a peer namespace at the other end of
// a veth dedicated link — so the only thing that differs between the sides is the daemon under test:
// the peers' caches, counters, logs and kernel tables show what that daemon put on the wire.
//
// Normalised here beyond the harness, each for a timing reason:
// - channel byte/packet counters (`Bytes sent/recv`, `Pckts sent/recv`) in FTFW and NOTRACK: both
//   ends send an ALIVE or an ACK every idle second, so the counts follow the clock. ALARM sends no
//   such messages and its counters stay exact.
// - FTFW with a live peer: ACK controls waiting in the resend queue (`control -> seq:N flags:8`) and
//   the queue sizes they make in `-s queue`: the two ends acknowledge each other's ACKs every second,
//   so how many are in flight depends on the phase of the two 1-second timers. Data objects in the
//   resend queue stay exact (the cases wait until the peer acknowledged them).
// - sequence numbers start at the Unix time of the first message: `-s rsqueue` shows them as offsets
//   from the first one listed.
// - with real traffic (the FTP cases), how many updates of one flow a peer sends depends on how the
//   flow's kernel events fall into its transmit rounds (FTFW coalesces an object queued twice), so
//   the external conntrack cache's update counters are left out there; expectation counters stay.
// - ALARM refreshes entries at random moments within RefreshTime (the reference's unseeded random(),
//   ctkit's Math.random()); the cases use a RefreshTime no case lives long enough to reach, except the
//   refresh case, which checks what a refresh must achieve rather than when it happens.
import {
  ct,
  type CtdCase,
  type CtdStep,
  ctdSuite,
  icmp,
  REF_CTD,
  SELF,
  syncConfig,
  type SyncConfigOptions,
  tcp,
  TRACK,
  type Twin,
  udp,
} from "./lib/ctd_diff.ts";
import type { Step } from "./lib/diff.ts";
import { deepStrictEqual as assertEquals } from "node:assert";

// ---------------------------------------------------------------------------------------------
// configuration and kernel activity

/** A twin whose daemon and peers run `o` (each at its end of the link), or `peer` for the peers. */
function syncTwin(o: SyncConfigOptions, peer: SyncConfigOptions = o) {
  return { config: syncConfig(o, "daemon"), syncPeer: syncConfig(peer, "peer") };
}

/** ALARM with refreshes no case lives to see (see the header). */
const ALARM_QUIET = "RefreshTime 100000\nCacheTimeout 200000";

type ModeName = "FTFW" | "NOTRACK" | "ALARM";

function modeClauses(mode: ModeName, extra = ""): string {
  return (mode === "ALARM" ? ALARM_QUIET + "\n" : "") + extra;
}

/** Entries made in the daemon's namespace. */
const LOCAL: CtdStep[] = [
  tcp("10.0.0.1", "10.0.0.2", 1000, 22, "ESTABLISHED", "-u ASSURED"),
  udp("10.0.0.3", "10.0.0.4", 53, 5353),
  icmp("10.0.0.5", "10.0.0.6", 77),
  tcp("10.0.0.7", "10.0.0.8", 2000, 80, "SYN_SENT", "-m 7"),
];

/** Entries made in the peer's namespace (the peer syncs them to the daemon under test). */
const REMOTE: CtdStep[] = [
  tcp("10.1.0.1", "10.1.0.2", 3000, 443, "ESTABLISHED", "-u ASSURED"),
  udp("10.1.0.3", "10.1.0.4", 1234, 53, "-m 5"),
  icmp("10.1.0.5", "10.1.0.6", 88),
].map(peer);

/** A step run in the peer's namespace. */
function peer(s: Step): CtdStep {
  return { inPeer: s };
}

/**
 * Entries of every kind the wire carries: NAT (address and port), zone, IPv6, SCTP, GRE, UDP-Lite;
 * `n` keeps the two ends' addresses apart.
 */
function varied(n: number): Step[] {
  return [
    tcp(`10.${n}.0.1`, `10.${n}.0.2`, 10, 20, "ESTABLISHED", `--dst-nat 10.${n}.9.9`),
    udp(`10.${n}.0.3`, `10.${n}.0.4`, 10, 20, `--src-nat 10.${n}.8.8:4000`),
    udp(`10.${n}.0.5`, `10.${n}.0.6`, 11, 21, "--zone 5 -m 3"),
    tcp(`fd0${n}::1`, `fd0${n}::2`, 1, 2, "ESTABLISHED", "-u ASSURED"),
    ct(`-I -s fd0${n}::5 -d fd0${n}::6 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9 -t 300`),
    ct(
      `-I -s 10.${n}.1.1 -d 10.${n}.1.2 -p sctp --sport 1 --dport 2 --state ESTABLISHED --orig-vtag 11 ` +
        "--reply-vtag 12 -t 300",
    ),
    ct(`-I -s 10.${n}.1.7 -d 10.${n}.1.8 -p gre --srckey 1 --dstkey 2 -t 300`),
    ct(`-I -s 10.${n}.1.5 -d 10.${n}.1.6 -p udplite --sport 5 --dport 6 -t 300`),
  ];
}

/** An update and a delete on each end. */
const CHANGES: CtdStep[] = [
  ct("-U -s 10.0.0.1 -m 9"),
  ct("-D -s 10.0.0.5"),
  peer(ct("-U -s 10.1.0.1 -m 11")),
  peer(ct("-D -s 10.1.0.5")),
];

/** A real FTP control connection through the kernel helper: a master plus an expectation. */
function ftp(sport: number, dataPort: number): Step[] {
  return [
    TRACK,
    {
      sh: "iptables -t raw -C OUTPUT -p tcp --dport 21 -j CT --helper ftp 2>/dev/null || " +
        "iptables -t raw -A OUTPUT -p tcp --dport 21 -j CT --helper ftp",
    },
    { traffic: ["ftp", "127.0.0.1", String(sport), "127.0.0.1", String(dataPort)] },
  ];
}

// ---------------------------------------------------------------------------------------------
// timing normalisation (see the header)

/** Channel byte/packet counters are left out: ALIVE and ACK messages go out every idle second. */
function linkCounters(text: string): string {
  return text.replace(/^ *\d+ (Bytes|Pckts) sent +\d+ \1 recv$/gm, "N $1 sent N $1 recv");
}

/** Sequence numbers as offsets from the first one listed. */
function seqOffsets(text: string): string {
  let first: number | undefined;
  return text.replace(/seq:(\d+)/g, (_m, v) => {
    first ??= Number(v);
    return `seq:+${(Number(v) - first + 2 ** 32) % 2 ** 32}`;
  });
}

/** `-s rsqueue` with a live FTFW peer: ACKs in flight dropped (and from len), seqs as offsets. */
function rsqueueLive(text: string): string {
  const acks = text.match(/^control -> seq:\d+ flags:8\n/gm)?.length ?? 0;
  return seqOffsets(
    text.replace(/^control -> seq:\d+ flags:8\n/gm, "").replace(
      /^resent queue \(len=(\d+)\)/,
      (_m, n) => `resent queue (len=${Number(n) - acks} without ACKs)`,
    ),
  );
}

/** `-s queue` with a live FTFW peer: the ACK controls in flight count in two places. */
function queueLive(text: string): string {
  return text.replace(/^(allocated queue nodes:\t\t) *\d+$/m, "$1N").replace(
    /^(queue rsqueue:\ncurrent elements:\t\t) *\d+$/m,
    "$1N",
  );
}

/** The external conntrack cache's update counters (see the header: real traffic). */
function externalUpdates(text: string): string {
  return text
    .replace(/^(cache external:\n(?:.*\n){2}connections updated:\t\t) *\d+/m, "$1N")
    .replace(/^(cache:external\t(?:.*\n){5}\tupdate OK\/failed:\t\t) *\d+/m, "$1N");
}

interface Timing {
  /** ALIVE/ACK messages run (FTFW, NOTRACK) */
  alive: boolean;
  /** a live FTFW peer acknowledges (ACKs in flight) */
  acks: boolean;
  /** real traffic: the peers' update counts vary */
  traffic?: boolean;
}

function timingOf(mode: ModeName | undefined, peersUp = true): Timing {
  return { alive: mode !== "ALARM", acks: mode !== "ALARM" && mode !== "NOTRACK" && peersUp };
}

/** The rewrite a request's output needs under `tm`. */
function rewriteFor(args: string[], tm: Timing): ((s: string) => string) | undefined {
  const a = args.join(" ");
  if (a === "-s rsqueue") return tm.acks ? rsqueueLive : seqOffsets;
  if (a === "-s queue") return tm.acks ? queueLive : undefined;
  const link = tm.alive && ["-s", "-s network", "-s link", "-s expect", "-s multicast"].includes(a);
  const ext = tm.traffic && ["-s", "-s cache"].includes(a);
  if (link && ext) return (s) => externalUpdates(linkCounters(s));
  if (link) return linkCounters;
  if (ext) return externalUpdates;
  return undefined;
}

/** Read-only requests to the daemons (both clients, both daemons), each with its rewrite. */
async function reads(t: Twin, tm: Timing, ...list: string[][]) {
  for (const args of list) await t.request(args, { rewrite: rewriteFor(args, tm) });
}

/** Requests to the peers (reference client, reference peers). */
async function peerReads(t: Twin, tm: Timing, ...list: string[][]) {
  for (const args of list) await t.peerRequest(args, { rewrite: rewriteFor(args, tm) });
}

/** A request that changes state (once per side). */
async function act(t: Twin, ...args: string[]) {
  await t.request(args, { mutates: true });
}

const ALL_READS = [
  ["-s"],
  ["-s", "network"],
  ["-s", "cache"],
  ["-s", "link"],
  ["-s", "queue"],
  ["-s", "rsqueue"],
  ["-s", "expect"],
  ["-i"],
  ["-i", "-x"],
  ["-e"],
  ["-e", "-x"],
  ["-i", "expect"],
  ["-e", "expect"],
];

const PEER_READS = [["-e"], ["-e", "-x"], ["-i"], ["-s"], ["-s", "cache"], ["-s", "network"]];

Deno.test("sync normalisation: only timing-dependent values are rewritten", () => {
  const link =
    "UDP traffic (active device=v0):\n                 512 Bytes sent                  428 Bytes recv\n" +
    "                   6 Pckts sent                    5 Pckts recv\n                   0 Error send                    0 Error recv\n";
  assertEquals(
    linkCounters(link),
    "UDP traffic (active device=v0):\nN Bytes sent N Bytes recv\nN Pckts sent N Pckts recv\n" +
      "                   0 Error send                    0 Error recv\n",
  );
  const rs = "resent queue (len=4)\ncontrol -> seq:1795287150 flags:8\nobject -> seq:1795287154\n" +
    "control -> seq:1795287155 flags:4\nobject -> seq:1795287157\n";
  assertEquals(
    rsqueueLive(rs),
    "resent queue (len=3 without ACKs)\nobject -> seq:+0\ncontrol -> seq:+1 flags:4\nobject -> seq:+3\n",
  );
  assertEquals(
    seqOffsets("object -> seq:4294967295\nobject -> seq:0\n"),
    "object -> seq:+0\nobject -> seq:+1\n",
  );
  const q = "allocated queue nodes:\t\t           2\n\nqueue txqueue:\ncurrent elements:\t\t           0\n" +
    "\nqueue rsqueue:\ncurrent elements:\t\t           2\nmaximum elements:\t\t      131072\n";
  assertEquals(
    queueLive(q),
    "allocated queue nodes:\t\tN\n\nqueue txqueue:\ncurrent elements:\t\t           0\n" +
      "\nqueue rsqueue:\ncurrent elements:\t\tN\nmaximum elements:\t\t      131072\n",
  );
  const counts = (n: number) =>
    `current active connections:\t           1\nconnections created:\t\t           1\tfailed:\t           0\n` +
    `connections updated:\t\t           ${n}\tfailed:\t           0\n`;
  const stats = (a: number, b: number) => `cache internal:\n${counts(a)}\ncache external:\n${counts(b)}`;
  assertEquals(externalUpdates(stats(5, 2)) === externalUpdates(stats(5, 3)), true);
  assertEquals(externalUpdates(stats(5, 2)) === externalUpdates(stats(4, 2)), false);
  const cache = (n: number) =>
    `cache:external\tactive objects:\t\t           1\n\tactive/total entries:\t\t           1/           1\n` +
    `\tcreation OK/failed:\t\t           1/           0\n\t\tno memory available:\t           0\n` +
    `\t\tno space left in cache:\t           0\n\tupdate OK/failed:\t\t           ${n}/           0\n`;
  assertEquals(externalUpdates(cache(2)), externalUpdates(cache(3)));
  assertEquals(externalUpdates(cache(2)).includes("update OK/failed:\t\tN/           0"), true);
});

// ---------------------------------------------------------------------------------------------
// waiting

/** Waits until `args` prints `n` lines on both sides (against the daemon or its peer). */
async function waitLines(t: Twin, args: string[], n: number, where: "daemon" | "peer" = "daemon") {
  const re = n === 0 ? /^$/ : new RegExp(String.raw`^(?:[^\n]*\n){${n}}$`);
  await t.waitFor(args, re, where);
}

/** FTFW: waits until every data message both ends sent was acknowledged. */
async function waitAcked(t: Twin) {
  const noObjects = /^resent queue \(len=\d+\)\n(?:control[^\n]*\n)*$/;
  await t.waitFor(["-s", "rsqueue"], noObjects);
  await t.waitFor(["-s", "rsqueue"], noObjects, "peer");
}

/** Waits until the kernel table of the daemons' (or peers') namespaces holds `n` entries. */
async function waitKernel(t: Twin, n: number, where: "daemon" | "peer" = "daemon") {
  await t.waitUntil(`${n} kernel entries (${where})`, async (side) => {
    const ns = where === "daemon" ? side.ns : side.peer!;
    const r = await ns.exec(["/usr/sbin/conntrack", "-C"]);
    return Number(r.stdout.trim()) === n ? undefined : `${r.stdout}${r.stderr}`;
  });
}

/** Waits until the log of both daemons has `text` (`count` times). */
async function waitLog(t: Twin, text: string, count = 1) {
  await t.waitUntil(`log has "${text}" ×${count}`, async (side) => {
    const log = await t.read(side, "log");
    return log.split(text).length - 1 >= count ? undefined : log;
  });
}

/** Waits until the kernel expectation table of the daemons' namespaces holds `n` entries. */
async function waitKernelExpects(t: Twin, n: number) {
  await t.waitUntil(`${n} kernel expectations`, async (side) => {
    const r = await side.ns.exec(["/usr/sbin/conntrack", "-L", "expect"]);
    const got = r.stdout === "" ? 0 : r.stdout.trimEnd().split("\n").length;
    return got === n ? undefined : `${r.stdout}${r.stderr}`;
  });
}

/** The daemon's own FTP expectation and the one its peer synced (see expectExchange). */
const OWN_EXPECT = /dport=50000 .*sport=40021 dport=21 /;
const PEER_EXPECT = /dport=50001 .*sport=40022 dport=21 /;

/** Log lines of an expectation commit that directly follows the conntrack commit of a plain `-c`. */
const CHAINED_EXPECT_COMMIT = new RegExp(
  String.raw`(commit has taken \d+\.\d+ seconds\n)` +
    String.raw`\[[^\]\n]*\] \(pid=\d+\) \[notice\] Committed \d+ new expectations\n` +
    String.raw`(?:\[[^\]\n]*\] \(pid=\d+\) \[notice\] \d+ expectations can't be committed\n)?` +
    String.raw`\[[^\]\n]*\] \(pid=\d+\) \[notice\] commit has taken \d+\.\d+ seconds\n`,
  "g",
);

/** The kernel expectation table of one side's namespace. */
async function kernelExpects(t: Twin, side: 0 | 1): Promise<string> {
  return (await t.sides[side].ns.exec(["/usr/sbin/conntrack", "-L", "expect"])).stdout;
}

/**
 * LOCAL and REMOTE, one update and one delete on each end, until both ends caught up (`cached`: how
 * many of the 3 LOCAL entries left the daemon caches).
 */
async function exchange(t: Twin, mode: ModeName, cached = 3) {
  await t.kernel(...LOCAL, ...REMOTE, ...CHANGES);
  await waitLines(t, ["-i"], cached);
  await waitLines(t, ["-e"], 2);
  await waitLines(t, ["-e"], cached, "peer");
  if (mode === "FTFW") await waitAcked(t);
}

// ---------------------------------------------------------------------------------------------
// cases

function modeCases(mode: ModeName): CtdCase[] {
  const tm = timingOf(mode);
  return [
    {
      name: `${mode} udp: entries both ways, every read, commit, -F, -k`,
      opts: syncTwin({ mode, modeClauses: modeClauses(mode) }),
      async run(t) {
        await t.startPeers();
        await t.start();
        await exchange(t, mode);
        await reads(t, tm, ...ALL_READS);
        await peerReads(t, tm, ...PEER_READS);
        // the external cache into the daemons' kernel tables
        await act(t, "-c", "ct");
        await t.conntrack(["-L"]);
        await reads(t, tm, ["-s"], ["-s", "cache"], ["-i"], ["-e"]);
        // what the daemons under test sent, into the peers' kernel tables
        await t.peerRequest(["-c"]);
        await t.conntrack(["-L"], undefined, "peer");
        // the flush's own events are not sent: the peers keep their external caches
        await act(t, "-F");
        await waitKernel(t, 0);
        await waitLines(t, ["-i"], 0);
        if (mode === "FTFW") await waitAcked(t);
        await settlePeers(t);
        await reads(t, tm, ["-s"], ["-s", "cache"], ["-i"], ["-e"]);
        await peerReads(t, tm, ["-e"], ["-s", "cache"]);
        // docs/COMPAT.md: ctkit's dumps and flushes run in the daemon, `-s process` lists no
        // children; once the reference's have exited both lists are empty and comparable
        await t.waitNoChildren();
        await reads(t, tm, ["-s", "process"], ["-s", "runtime"]);
        await act(t, "-k");
        await t.compareEnded("after -k");
      },
    },
    {
      name: `${mode} udp: -f external, -n, -f internal, -R, -B, -t, -f`,
      opts: syncTwin({ mode, modeClauses: modeClauses(mode, "PurgeTimeout 2") }),
      async run(t) {
        await t.startPeers();
        await t.start();
        await t.kernel(...LOCAL, ...REMOTE);
        await waitLines(t, ["-i"], 4);
        await waitLines(t, ["-e"], 3);
        await waitLines(t, ["-e"], 4, "peer");
        if (mode === "FTFW") await waitAcked(t);
        await act(t, "-f", "external");
        await reads(t, tm, ["-e"], ["-s", "cache"]);
        // ALARM ignores -n and -B
        await act(t, "-n");
        if (mode !== "ALARM") await waitLines(t, ["-e"], 3);
        if (mode === "FTFW") await waitAcked(t);
        await reads(t, tm, ["-e"], ["-s"], ["-s", "cache"]);
        await act(t, "-f", "internal");
        await reads(t, tm, ["-i"], ["-s", "cache"]);
        await act(t, "-R");
        await reads(t, tm, ["-i"], ["-s", "cache"]);
        await act(t, "-B");
        if (mode === "FTFW") await waitAcked(t);
        await settlePeers(t);
        await reads(t, tm, ["-s"], ["-s", "cache"]);
        await peerReads(t, tm, ["-e"], ["-s"], ["-s", "cache"]);
        // a scheduled flush: the kernel table and the internal cache are emptied after PurgeTimeout
        await act(t, "-t");
        await waitLog(t, "flushing kernel conntrack table (scheduled)");
        await waitKernel(t, 0);
        await waitLines(t, ["-i"], 0);
        if (mode === "FTFW") await waitAcked(t);
        await settlePeers(t);
        await t.compareState();
        await t.conntrack(["-L"]);
        await reads(t, tm, ["-i"], ["-e"], ["-s"], ["-s", "cache"]);
        await peerReads(t, tm, ["-e"], ["-s", "cache"]);
        await act(t, "-f");
        await reads(t, tm, ["-i"], ["-e"], ["-s", "cache"]);
        // -f internal cancels a pending -t: the entries are still there after PurgeTimeout
        await t.kernel(...LOCAL);
        await waitLines(t, ["-i"], 4);
        await act(t, "-t");
        await act(t, "-f", "internal");
        await t.kernel({ sleep: 2500 });
        await t.conntrack(["-L"]);
        await waitKernel(t, 4);
      },
    },
  ];
}

/**
 * Waits until the peers' `-s cache` agree and stopped changing (after a bulk or a flush), at most
 * SETTLE_MS; differences are left to the comparisons that follow.
 */
async function settlePeers(t: Twin) {
  const deadline = Date.now() + 3000;
  let prev = "";
  while (Date.now() < deadline) {
    const outs = await Promise.all(
      t.sides.map((s) => s.peer!.exec([REF_CTD, "-C", s.peerConf!, "-s", "cache"])),
    );
    const now = outs.map((o) => o.stdout).join("\u0000");
    if (now === prev && outs[0].stdout === outs[1].stdout) return;
    prev = now;
    await new Promise((r) => setTimeout(r, 150));
  }
}

const FTFW = timingOf("FTFW");
const FTFW_TRAFFIC = { ...FTFW, traffic: true };
const EXPECT_READS = [["-s", "expect"], ["-i", "expect"], ["-e", "expect"], ["-i"], ["-e"], ["-s", "cache"]];

/** FTP flows with expectations on both ends, synced both ways (ExpectationSync On). */
async function expectExchange(t: Twin) {
  await t.startPeers();
  await t.start();
  await t.kernel(...ftp(40021, 50000), ...ftp(40022, 50001).map(peer));
  await waitLines(t, ["-i", "expect"], 1);
  await waitLines(t, ["-e", "expect"], 1);
  await waitLines(t, ["-e", "expect"], 1, "peer");
  await waitAcked(t);
}

const cases: CtdCase[] = [
  ...modeCases("FTFW"),
  ...modeCases("NOTRACK"),
  ...modeCases("ALARM"),
  {
    name: "FTFW ExpectationSync: ftp expectations both ways, -c ct, -c expect, -F expect",
    opts: syncTwin({ mode: "FTFW", options: "ExpectationSync On" }),
    async run(t) {
      await expectExchange(t);
      await reads(t, FTFW_TRAFFIC, ...EXPECT_READS, ["-s"]);
      await peerReads(t, FTFW_TRAFFIC, ["-e", "expect"], ["-e"], ["-s", "expect"]);
      await act(t, "-c", "ct");
      await act(t, "-c", "expect");
      await t.conntrack(["-L"]);
      await t.conntrack(["-L", "expect"]);
      await reads(t, FTFW, ["-s", "expect"], ["-i", "expect"]);
      await act(t, "-F", "expect");
      await waitKernelExpects(t, 0);
      await waitAcked(t);
      await settlePeers(t);
      await reads(t, FTFW, ["-s", "expect"], ["-i", "expect"], ["-e", "expect"]);
      await peerReads(t, FTFW, ["-e", "expect"], ["-s", "expect"]);
    },
  },
  {
    name: "FTFW ExpectationSync: plain -c commits both caches",
    opts: syncTwin({ mode: "FTFW", options: "ExpectationSync On" }),
    async run(t) {
      // with the default HashSize the conntrack commit takes several steps, and 1.4.7 chains the
      // expectation commit after them
      await expectExchange(t);
      await act(t, "-c");
      await t.conntrack(["-L"]);
      await t.conntrack(["-L", "expect"]);
      const own = await kernelExpects(t, 0);
      if (!PEER_EXPECT.test(own)) {
        t.fail(`reference: plain -c did not commit the peer's expectation:\n${own}`);
      }
    },
  },
  {
    name: "FTFW ExpectationSync, HashSize 1024: plain -c and the expectations (docs/COMPAT.md)",
    opts: syncTwin({ mode: "FTFW", options: "ExpectationSync On", general: "HashSize 1024" }),
    async run(t) {
      // INTENTIONAL DIVERGENCE (docs/COMPAT.md): when the conntrack commit is done in one step
      // (HashSize <= 8192 buckets), 1.4.7 closes the client and never runs the chained expectation
      // commit; ctkit commits the expectations too and logs it. Checked here, then the reference is
      // brought level with `-c expect` and everything else is compared as usual.
      await expectExchange(t);
      t.allowDivergence((text) => text.replace(CHAINED_EXPECT_COMMIT, "$1"));
      await act(t, "-c");
      await t.conntrack(["-L"]);
      const [ref, ours] = [await kernelExpects(t, 0), await kernelExpects(t, 1)];
      if (!OWN_EXPECT.test(ref) || PEER_EXPECT.test(ref)) {
        t.fail(`reference: expected its own expectation only after plain -c:\n${ref}`);
      }
      const want = SELF ? [OWN_EXPECT] : [OWN_EXPECT, PEER_EXPECT];
      if (!want.every((re) => re.test(ours)) || ours.trimEnd().split("\n").length !== want.length) {
        t.fail(`${t.b.name}: expected ${want.length} kernel expectations after plain -c:\n${ours}`);
      }
      await act(t, "-c", "expect");
      await t.conntrack(["-L", "expect"]);
    },
  },
  {
    name: "FTFW ExpectationSync: XML dumps, -n, -B, -R expect, -f",
    opts: syncTwin({ mode: "FTFW", options: "ExpectationSync On" }),
    async run(t) {
      await expectExchange(t);
      await reads(t, FTFW_TRAFFIC, ["-i", "expect", "-x"], ["-e", "expect", "-x"]);
      await act(t, "-f", "external");
      await reads(t, FTFW_TRAFFIC, ["-e", "expect"], ["-s", "expect"]);
      // the peer's bulk answer carries its expectations too
      await act(t, "-n");
      await waitLines(t, ["-e", "expect"], 1);
      await waitAcked(t);
      await reads(t, FTFW_TRAFFIC, ["-e", "expect"], ["-e"], ["-s", "expect"]);
      await act(t, "-f", "internal");
      await act(t, "-R", "expect");
      await reads(t, FTFW_TRAFFIC, ["-i", "expect"], ["-i"], ["-s", "expect"]);
      await act(t, "-R");
      await act(t, "-B");
      await waitAcked(t);
      await settlePeers(t);
      await reads(t, FTFW_TRAFFIC, ["-i", "expect"], ["-i"], ["-s", "expect"]);
      await peerReads(t, FTFW_TRAFFIC, ["-e", "expect"], ["-s", "expect"]);
      await act(t, "-f");
      await reads(t, FTFW_TRAFFIC, ["-i", "expect"], ["-e", "expect"], ["-s", "expect"]);
    },
  },
  {
    name: "FTFW DisableExternalCache, ExpectationSync: the peer's master and expectation injected",
    opts: syncTwin(
      { mode: "FTFW", modeClauses: "DisableExternalCache on", options: "ExpectationSync On" },
      { mode: "FTFW", options: "ExpectationSync On" },
    ),
    async run(t) {
      await t.startPeers();
      await t.start();
      await t.kernel(...ftp(40022, 50001).map(peer));
      await waitKernelExpects(t, 1);
      await waitAcked(t);
      await t.conntrack(["-L"]);
      await t.conntrack(["-L", "expect"]);
      await reads(t, FTFW_TRAFFIC, ["-s", "expect"], ["-e", "expect"]);
    },
  },
  {
    name: "FTFW udp: NAT, zone, IPv6, SCTP, GRE, UDP-Lite entries both ways, commit on both ends",
    opts: syncTwin({ mode: "FTFW" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      const [local, remote] = [varied(4), varied(5)];
      await t.kernel(...local, ...remote.map(peer));
      await waitLines(t, ["-i"], local.length);
      await waitLines(t, ["-e"], remote.length);
      await waitLines(t, ["-e"], local.length, "peer");
      await waitAcked(t);
      await reads(t, FTFW, ["-i"], ["-e"], ["-e", "-x"], ["-s", "cache"]);
      await peerReads(t, FTFW, ["-e"], ["-e", "-x"]);
      await act(t, "-c", "ct");
      await t.conntrack(["-L"]);
      await t.peerRequest(["-c"]);
      await t.conntrack(["-L"], undefined, "peer");
    },
  },
  {
    name: "FTFW udp, TCPWindowTracking on: window scale on the wire, no liberal commit",
    opts: syncTwin({ mode: "FTFW", options: "TCPWindowTracking on" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await t.kernel(TRACK, { traffic: ["tcp", "127.0.0.1", "40001", "127.0.0.2", "8080"] });
      await t.kernel(peer(TRACK), peer({ traffic: ["tcp", "127.0.0.1", "40002", "127.0.0.2", "8081"] }));
      await waitLines(t, ["-e"], 1);
      await waitLines(t, ["-e"], 1, "peer");
      await waitAcked(t);
      await reads(t, FTFW_TRAFFIC, ["-e"], ["-e", "-x"], ["-i"]);
      await act(t, "-c");
      await t.conntrack(["-L"]);
    },
  },
  {
    name: "FTFW with Filter Address Ignore: ignored entries are neither cached nor sent",
    opts: syncTwin({
      mode: "FTFW",
      general: "Filter {\n  Address Ignore {\n    IPv4_address 10.0.0.0/30\n  }\n}",
    }, { mode: "FTFW" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await exchange(t, "FTFW", 1);
      await reads(t, FTFW, ["-i"], ["-e"], ["-s"], ["-s", "cache"]);
      await peerReads(t, FTFW, ["-e"]);
      // -F leaves what the filter excludes
      await act(t, "-F");
      await waitKernel(t, 2);
      await t.conntrack(["-L"]);
    },
  },
  {
    name: "NOTRACK tcp, both caches disabled: kernel to kernel",
    opts: syncTwin({
      mode: "NOTRACK",
      channel: "tcp",
      modeClauses: "DisableInternalCache on\nDisableExternalCache on",
    }),
    async run(t) {
      const tm = timingOf("NOTRACK");
      await t.startPeers();
      await t.start();
      await t.kernel(...LOCAL, ...REMOTE);
      await waitKernel(t, 7);
      await waitKernel(t, 7, "peer");
      await t.kernel(...CHANGES);
      await waitKernel(t, 5);
      await waitKernel(t, 5, "peer");
      await t.conntrack(["-L"]);
      await t.conntrack(["-L"], undefined, "peer");
      await reads(t, tm, ["-s"], ["-s", "cache"], ["-e"]);
      await t.request(["-i"], { tableTimeouts: true });
      await peerReads(t, tm, ["-s"]);
    },
  },
  {
    name: "FTFW peer restart: its HELLO empties the resend queue, -B brings it up to date",
    opts: syncTwin({ mode: "FTFW" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await exchange(t, "FTFW");
      await t.stopPeers("peers stopped");
      await t.kernel(udp("10.0.1.1", "10.0.1.2", 7, 8), ct("-D -s 10.0.0.7"));
      await waitLines(t, ["-i"], 3);
      // the data sent while the peer was away waits; an ACK of ours may be waiting too
      await reads(t, FTFW, ["-s", "rsqueue"], ["-s", "cache"]);
      await t.startPeers();
      await waitAcked(t);
      await reads(t, FTFW, ["-s", "rsqueue"], ["-s", "cache"], ["-s", "network"]);
      if (SELF) await peerReads(t, FTFW, ["-e"], ["-s", "network"]);
      else {
        // docs/COMPAT.md: ctkit keeps what the restarted peer never acknowledged and sends it
        // once the peer's first ACK shows it missing; 1.4.7 drops it until the next -B. So
        // ctkit's peer already has the flow made while it was away: prove it, then align.
        const rewrite = (text: string) =>
          text.split("\n").filter((l) => !l.includes("src=10.0.1.1 ")).join("\n");
        let delivered = false;
        for (let i = 0; i < 15 && !delivered; i++) {
          const [, ours] = await t.peerRequest(["-e"], { rewrite });
          delivered = ours.stdout.includes("src=10.0.1.1 ");
          if (!delivered) await new Promise((r) => setTimeout(r, 200));
        }
        if (!delivered) throw new Error("ctkit's peer lacks the flow made while it was away");
        await peerReads(t, FTFW, ["-s", "network"]);
      }
      await act(t, "-B");
      await waitLines(t, ["-e"], 3, "peer");
      await waitAcked(t);
      // The early delivery above shows in the peer's creation counters: compare them in self mode only.
      await peerReads(t, FTFW, ["-e"], ...(SELF ? [["-s", "cache"]] : []));
    },
  },
  {
    name: "FTFW: -c cancels a pending -t",
    opts: syncTwin({ mode: "FTFW", modeClauses: "PurgeTimeout 1" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await exchange(t, "FTFW");
      await act(t, "-t");
      await act(t, "-c");
      await t.kernel({ sleep: 2000 });
      await waitKernel(t, 5);
      await t.conntrack(["-L"]);
      await t.compareState();
    },
  },
  {
    name: "FTFW multicast: entries both ways, reads, commit",
    opts: syncTwin({ mode: "FTFW", channel: "multicast" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await exchange(t, "FTFW");
      await reads(t, FTFW, ["-s"], ["-s", "network"], ["-s", "link"], ["-s", "multicast"], ["-i"], ["-e"]);
      await peerReads(t, FTFW, ["-e"], ["-s"]);
      await act(t, "-c");
      await t.conntrack(["-L"]);
    },
  },
  {
    name: "NOTRACK tcp: entries both ways, reads, commit",
    opts: syncTwin({ mode: "NOTRACK", channel: "tcp" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await exchange(t, "NOTRACK");
      const tm = timingOf("NOTRACK");
      await reads(t, tm, ["-s"], ["-s", "network"], ["-s", "link"], ["-s", "queue"], ["-i"], ["-e"]);
      await peerReads(t, tm, ["-e"], ["-s"]);
      await act(t, "-c");
      await t.conntrack(["-L"]);
    },
  },
  {
    name: "FTFW DisableExternalCache: the peer's entries are injected into the kernel",
    opts: syncTwin({ mode: "FTFW", modeClauses: "DisableExternalCache on" }, { mode: "FTFW" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await t.kernel(...LOCAL, ...REMOTE);
      await waitKernel(t, 7);
      // the daemon's own `-D -p icmp` deletes the peer's injected ICMP entry as well, so the peer's
      // delete that follows finds nothing: counted neither as destroyed nor as failed
      await t.kernel(
        ct("-U -s 10.0.0.1 -m 9"),
        ct("-D -p icmp"),
        peer(ct("-U -s 10.1.0.1 -m 11")),
        peer(ct("-D -s 10.1.0.5")),
      );
      await waitKernel(t, 5);
      await waitLines(t, ["-e"], 3, "peer");
      await waitAcked(t);
      await t.conntrack(["-L"]);
      await reads(t, FTFW, ["-s"], ["-s", "cache"], ["-i"], ["-e"], ["-e", "-x"]);
      await peerReads(t, FTFW, ["-e"], ["-s"]);
      await act(t, "-c");
      await act(t, "-f", "external");
      await act(t, "-f");
      await t.conntrack(["-L"]);
      await reads(t, FTFW, ["-s"], ["-i"]);
    },
  },
  {
    name: "NOTRACK DisableInternalCache: bypass, -i dumps the kernel table, -B, -f internal",
    opts: syncTwin({ mode: "NOTRACK", modeClauses: "DisableInternalCache on" }, { mode: "NOTRACK" }),
    async run(t) {
      const tm = timingOf("NOTRACK");
      await t.startPeers();
      await t.start();
      await t.kernel(...LOCAL, ...REMOTE, ...CHANGES);
      await waitLines(t, ["-e"], 2);
      await waitLines(t, ["-e"], 3, "peer");
      await reads(t, tm, ["-s"], ["-s", "cache"], ["-e"]);
      // no internal cache: -i lists the kernel table, timeouts included
      for (const args of [["-i"], ["-i", "-x"]]) await t.request(args, { tableTimeouts: true });
      await peerReads(t, tm, ["-e"], ["-s"]);
      await t.peerRequest(["-f", "external"]);
      await act(t, "-B");
      await waitLines(t, ["-e"], 3, "peer");
      await peerReads(t, tm, ["-e"], ["-s"]);
      await act(t, "-R");
      await act(t, "-f", "internal");
      await waitKernel(t, 0);
      await t.conntrack(["-L"]);
      await reads(t, tm, ["-s"], ["-i"]);
    },
  },
  {
    name: "FTFW CommitTimeout 180: no timeouts on the wire, commits use 180 s",
    opts: syncTwin({ mode: "FTFW", modeClauses: "CommitTimeout 180" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await exchange(t, "FTFW");
      await reads(t, FTFW, ["-i"], ["-e"], ["-e", "-x"]);
      await peerReads(t, FTFW, ["-e", "-x"]);
      await act(t, "-c", "ct");
      await t.conntrack(["-L"]);
      await t.peerRequest(["-c"]);
      await t.conntrack(["-L"], undefined, "peer");
    },
  },
  {
    name: "FTFW StartupResync on: the peer's entries arrive at start",
    opts: syncTwin({ mode: "FTFW", modeClauses: "StartupResync on" }, { mode: "FTFW" }),
    async run(t) {
      await t.startPeers();
      await t.kernel(...REMOTE);
      await waitLines(t, ["-i"], 3, "peer");
      await t.start();
      await waitLines(t, ["-e"], 3);
      await waitAcked(t);
      await reads(t, FTFW, ["-e"], ["-s"], ["-s", "cache"]);
      await t.comparePeerLog();
    },
  },
  {
    name: "no Mode: FT-FW by default, with a warning",
    opts: syncTwin({}, { mode: "FTFW" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await exchange(t, "FTFW");
      await reads(t, FTFW, ["-s"], ["-s", "rsqueue"], ["-i"], ["-e"]);
      await t.compareState();
    },
  },
  {
    name: "FTFW with the peers away: sent data waits in the resend queue",
    opts: syncTwin({ mode: "FTFW" }),
    async run(t) {
      const away = timingOf("FTFW", false);
      await t.start();
      await t.kernel(...LOCAL, ct("-U -s 10.0.0.1 -m 9"), ct("-D -p icmp"));
      await waitLines(t, ["-i"], 3);
      await reads(t, away, ["-s", "rsqueue"], ["-s", "queue"], ["-s", "cache"], ["-s", "network"]);
      // a peer that comes up asks for everything (-n from its side) and acknowledges it
      await t.startPeers();
      await t.peerRequest(["-n"]);
      await waitLines(t, ["-e"], 3, "peer");
      await waitAcked(t);
      await reads(t, FTFW, ["-s", "rsqueue"], ["-s", "cache"]);
      await peerReads(t, FTFW, ["-e"], ["-s", "cache"]);
    },
  },
  {
    name: "ALARM RefreshTime 1, CacheTimeout 4: refreshed entries live, a stopped daemon's expire",
    opts: syncTwin({ mode: "ALARM", modeClauses: "RefreshTime 1\nCacheTimeout 4" }),
    async run(t) {
      await t.startPeers();
      await t.start();
      await t.kernel(...LOCAL, ...REMOTE);
      await waitLines(t, ["-e"], 4, "peer");
      await waitLines(t, ["-e"], 3);
      // past CacheTimeout: only refreshes keep the entries
      await t.kernel({ sleep: 5000 });
      await reads(t, timingOf("ALARM"), ["-e"], ["-i"]);
      await peerReads(t, timingOf("ALARM"), ["-e"]);
      await act(t, "-k");
      await t.compareEnded("after -k");
      await t.waitFor(["-e"], /^$/, "peer", 6000);
      // (no cache counters here: how often an entry was refreshed depends on the random timers)
      await peerReads(t, timingOf("ALARM"), ["-e"]);
    },
  },
];

ctdSuite("conntrackd daemon (Sync mode) vs reference", cases);
