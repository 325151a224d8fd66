// conntrackd in Stats mode against the reference daemon (Debian's conntrackd 1.4.7): same
// configuration, same kernel activity, same client requests, compared by tests/lib/ctd_diff.ts
// (read its header for the modes: CTKIT_CTD_SELF=1 runs reference against reference).
import { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert";
import {
  compareTexts,
  ct,
  type CtdCase,
  ctdSuite,
  icmp,
  statsConfig,
  tcp,
  TRACK,
  type Twin,
  udp,
  VETH,
} from "./lib/ctd_diff.ts";

// ---------------------------------------------------------------------------------------------
// The comparison itself (pure): what is normalised, and nothing more.

Deno.test("harness: normalised log prefix, flow-log time, ages within tolerance, pids, ids", () => {
  const now = new Date().toString().split(" ").slice(0, 5);
  // ctime layout: "Sat Nov 21 18:31:02 2026"
  const ctime = `${now[0]} ${now[1]} ${String(Number(now[2])).padStart(2, " ")} ${now[4]} ${now[3]}`;
  const labels: [string, string] = ["a", "b"];
  const eq = (a: string, b: string, order?: "exact" | "multiset") =>
    compareTexts("x", a, b, labels, { order }) === undefined;
  assertEquals(eq(`[${ctime}] (pid=12) [notice] hi\n`, `[${ctime}] (pid=99) [notice] hi\n`), true);
  assertEquals(eq(`[${ctime}] (pid=12) [notice] hi\n`, `[${ctime}] (pid=12) [warning] hi\n`), false);
  // a stale time is not normalised away
  assertEquals(
    eq(`[${ctime}] (pid=1) [notice] hi\n`, "[Sat Jan  3 10:00:00 1998] (pid=1) [notice] hi\n"),
    false,
  );
  assertEquals(eq(`${ctime}\tudp 17 src=1.1.1.1\n`, `${ctime}\tudp 17 src=1.1.1.1\n`), true);
  assertEquals(eq("x [active since 4s]\n", "x [active since 6s]\n"), true);
  assertEquals(eq("x [active since 4s]\n", "x [active since 9s]\n"), false);
  assertEquals(eq("daemon uptime: 0 min\n", "daemon uptime: 1 h 2 min\n"), true);
  assertEquals(eq("daemon uptime: 0 min\n", "daemon uptime: 0 mins\n"), false);
  assertEquals(eq("PID=5 type=flush\n", "PID=77 type=flush\n"), true);
  assertEquals(eq("PID=5 type=flush\n", "PID=77 type=any\n"), false);
  assertEquals(eq("<id>5</id><mark>0</mark>\n", "<id>8</id><mark>0</mark>\n"), true);
  assertEquals(eq("a\nb\n", "b\na\n"), false);
  assertEquals(eq("a\nb\n", "b\na\n", "multiset"), true);
  assertEquals(eq("a\nb\n", "b\na\na\n", "multiset"), false);
  assertEquals(eq("a\n", "a"), false);
  assertEquals(eq("mark=1\n", "mark=2\n"), false);
  const table = (t: number) => `tcp      6 ${t} ESTABLISHED src=1.1.1.1\n`;
  const cmp = (a: number, b: number) =>
    compareTexts("t", table(a), table(b), labels, { tableTimeouts: true });
  assertEquals([cmp(299, 295), cmp(299, 280) === undefined], [undefined, false]);
});

Deno.test("harness: a difference is shown as a unified diff", () => {
  const d = compareTexts("conntrackd -s: stdout", "a\nb\nc\n", "a\nB\nc\nd\n", ["ref", "ctkit"])!;
  assertEquals(d.split("\n"), [
    "conntrackd -s: stdout differs:",
    "--- ref",
    "+++ ctkit",
    " a",
    "-b",
    "+B",
    " c",
    "+d",
  ]);
  assertMatch(
    compareTexts("x", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\n5\n6\n7\n8\nX\n", ["a", "b"])!,
    /@@ … @@\n 6\n/,
  );
});

/** Four entries of different kinds (from tests/conntrackd_client_test.ts). */
const BASE = [
  tcp("10.0.0.1", "10.0.0.2", 1000, 22, "ESTABLISHED", "-u ASSURED"),
  udp("10.0.0.3", "10.0.0.4", 53, 5353),
  icmp("10.0.0.5", "10.0.0.6", 77),
  tcp("10.0.0.7", "10.0.0.8", 2000, 80, "SYN_SENT", "-m 7"),
];

/** Every read-only client request; in Stats mode most of them print nothing. */
const READS = [
  ["-s"],
  ["-s", "ct"],
  ["-s", "cache"],
  ["-s", "runtime"],
  ["-s", "process"],
  ["-s", "network"],
  ["-s", "link"],
  ["-s", "multicast"],
  ["-s", "queue"],
  ["-s", "rsqueue"],
  ["-s", "expect"],
  ["-i"],
  ["-i", "ct"],
  ["-i", "-x"],
  ["-i", "expect"],
  ["-i", "expect", "-x"],
  ["-e"],
  ["-e", "-x"],
  ["-e", "expect"],
];

/** Absolute check on the reference's output too: the comparisons need a non-trivial baseline. */
function lineCount(t: Twin, what: string, text: string, n: number) {
  const got = text === "" ? 0 : text.trimEnd().split("\n").length;
  if (got !== n) t.fail(`${what}: expected ${n} lines from the reference, got ${got}:\n${text}`);
}

const FILTER_ADDRESS = `Filter {
  Address Ignore {
    IPv4_address 127.0.0.1
    IPv4_address 10.1.0.0/16
  }
}`;

const cases: CtdCase[] = [
  {
    name: "startup dump, every read-only request, -k",
    async run(t) {
      await t.kernel(...BASE);
      await t.start();
      await t.waitActive(4);
      for (const args of READS) {
        const r = await t.request(args);
        if (args.join(" ") === "-i" || args.join(" ") === "-i -x") lineCount(t, args.join(" "), r.stdout, 4);
      }
      await t.compareState();
      await t.request(["-k"], { mutates: true });
      await t.compareEnded("after -k");
      for (const side of t.sides) {
        for (const f of ["ctl", "lock"]) {
          if (await t.exists(side, f)) t.fail(`${side.name}: {DIR}/${f} still there after -k`);
        }
        if (!(await t.read(side, "log")).includes("---- shutdown received ----")) {
          t.fail(`${side.name}: {DIR}/log does not say the daemon shut down`);
        }
      }
      // nobody listens any more: both clients fail the same way
      await t.request(["-s"]);
    },
  },
  {
    name: "-k sent by ctkit's client to both daemons",
    async run(t) {
      await t.start();
      await t.request(["-k"], { mutates: true, clients: ["ctkit", "ctkit"] });
      await t.compareEnded("after -k");
    },
  },
  {
    name: "events after start: new, update, destroy, flow log",
    async run(t) {
      await t.start();
      await t.kernel(...BASE);
      await t.waitActive(4);
      await t.kernel(ct("-U -s 10.0.0.1 -m 9"), ct("-D -p udp"), ct("-D -p icmp"));
      await t.waitActive(2);
      await t.waitFlows(2);
      await t.requests(["-s"], ["-s", "cache"], ["-s", "runtime"], ["-i"], ["-i", "-x"]);
      // a destroyed entry that comes back is a new cache object
      await t.kernel(udp("10.0.0.3", "10.0.0.4", 53, 5353), ct("-D -p tcp --orig-port-dst 80"));
      await t.waitFlows(3);
      await t.waitActive(2);
      await t.requests(["-s"], ["-s", "cache"], ["-i"]);
    },
  },
  {
    name: "traffic from before the start (kernel default nf_conntrack_events=2): dump, then destroy",
    opts: { events: 2 },
    async run(t) {
      await t.kernel(
        TRACK,
        { traffic: ["udp", "127.0.0.1", "40002", "127.0.0.2", "5353", "reply"] },
        { traffic: ["ping", "127.0.0.1", "127.0.0.3", "77"] },
      );
      await t.start();
      await t.waitActive(2);
      await t.requests(["-i"], ["-s"]);
      await t.kernel(ct("-D -p udp"), udp("10.9.0.1", "10.9.0.2", 1, 2), ct("-D -s 10.9.0.1"));
      await t.waitFlows(2);
      const r = await t.request(["-i"]);
      lineCount(t, "-i", r.stdout, 1);
      await t.requests(["-s"], ["-s", "runtime"]);
    },
  },
  {
    name: "real loopback traffic: TCP, UDP with reply, ICMP echo",
    async run(t) {
      await t.start();
      await t.kernel(
        TRACK,
        { traffic: ["tcp", "127.0.0.1", "40001", "127.0.0.2", "8080"] },
        { traffic: ["udp", "127.0.0.1", "40002", "127.0.0.2", "5353", "reply"] },
        { traffic: ["ping", "127.0.0.1", "127.0.0.3", "77"] },
      );
      await t.waitActive(3);
      await t.settle();
      const r = await t.request(["-i"]);
      lineCount(t, "-i after traffic", r.stdout, 3);
      await t.requests(["-i", "-x"], ["-s"], ["-s", "cache"], ["-s", "runtime"]);
      await t.kernel(ct("-D -p udp"), ct("-D -p tcp"));
      await t.waitFlows(2);
      await t.requests(["-s"], ["-i"]);
    },
  },
  {
    name: "real traffic to a peer namespace over veth",
    opts: { peer: true },
    async run(t) {
      await t.start();
      await t.kernel(
        TRACK,
        { traffic: ["ping", VETH.local, VETH.peer, "78"] },
        { traffic: ["udp", VETH.local, "40005", VETH.peer, "9"] },
      );
      await t.waitActive(2);
      await t.settle();
      await t.requests(["-i"], ["-s"], ["-s", "runtime"]);
    },
  },
  {
    name: "bulk: 300 entries, dumps longer than one socket read",
    async run(t) {
      await t.start();
      const batch = Array.from(
        { length: 300 },
        (_, k) =>
          `-I -s 10.20.${k >> 8}.${k & 255} -d 10.30.0.1 -p udp --sport ${1024 + k} --dport 53 -t 300`,
      ).join("\n") + "\n";
      await t.kernel({ batch });
      await t.waitActive(300);
      const r = await t.request(["-i"]);
      lineCount(t, "-i", r.stdout, 300);
      await t.requests(["-i", "-x"], ["-s"], ["-s", "cache"], ["-s", "runtime"]);
      await t.kernel(ct("-D -p udp --dport 53"));
      await t.waitFlows(300);
      await t.requests(["-s"], ["-i"]);
    },
  },
  {
    name: "-F flushes the kernel table (flow log gets every entry)",
    async run(t) {
      await t.kernel(...BASE);
      await t.start();
      await t.waitActive(4);
      await t.request(["-F"], { mutates: true });
      await t.waitActive(0);
      await t.waitFlows(4);
      await t.waitNoChildren();
      await t.conntrack(["-L"]);
      await t.requests(["-s"], ["-s", "runtime"], ["-s", "process"], ["-i"]);
      await t.kernel(...BASE.slice(0, 2));
      await t.waitActive(2);
      await t.request(["-F", "ct"], { mutates: true });
      await t.waitActive(0);
      await t.waitFlows(6);
      await t.waitNoChildren();
      await t.conntrack(["-L"]);
      await t.requests(["-s"], ["-s", "runtime"]);
    },
  },
  {
    name: "Filter Address Ignore: dump, events and -F keep ignored entries",
    opts: { config: statsConfig(FILTER_ADDRESS) },
    async run(t) {
      await t.kernel(
        tcp("10.1.2.3", "10.9.9.9", 1, 2), // orig source ignored (netmask)
        udp("127.0.0.1", "127.0.0.2", 3, 4), // orig source ignored (exact)
        icmp("10.2.0.1", "10.2.0.2", 5), // kept
        tcp("10.3.0.1", "10.1.0.9", 6, 7), // reply source ignored
      );
      await t.start();
      await t.waitActive(1);
      await t.requests(["-i"], ["-s"]);
      await t.kernel(udp("10.1.5.5", "10.4.0.2", 8, 9), udp("10.4.0.1", "10.4.0.2", 10, 11));
      await t.waitActive(2);
      await t.requests(["-i"], ["-s"], ["-s", "runtime"]);
      await t.request(["-F"], { mutates: true });
      await t.waitActive(0);
      await t.waitFlows(2);
      await t.waitNoChildren();
      const [a] = await t.conntrack(["-L"]);
      lineCount(t, "conntrack -L after -F", a.stdout, 4);
      await t.requests(["-s"], ["-s", "runtime"]);
    },
  },
  {
    name: "Filter Protocol Accept TCP",
    opts: { config: statsConfig("Filter {\n  Protocol Accept {\n    TCP\n  }\n}") },
    async run(t) {
      await t.kernel(...BASE);
      await t.start();
      await t.waitActive(2);
      await t.kernel(udp("10.5.0.1", "10.5.0.2", 1, 2), tcp("10.5.0.1", "10.5.0.2", 3, 4));
      await t.waitActive(3);
      await t.kernel(ct("-D -p udp"), ct("-D -p icmp"), ct("-D -s 10.5.0.1 -p tcp"));
      await t.waitFlows(1);
      await t.requests(["-i"], ["-s"], ["-s", "runtime"]);
    },
  },
  {
    name: "Filter From Kernelspace: Protocol Ignore UDP",
    opts: { config: statsConfig("Filter From Kernelspace {\n  Protocol Ignore {\n    UDP\n  }\n}") },
    async run(t) {
      await t.kernel(...BASE);
      await t.start();
      await t.waitActive(3);
      await t.kernel(udp("10.5.0.1", "10.5.0.2", 1, 2), icmp("10.5.0.1", "10.5.0.2", 9));
      await t.waitActive(4);
      await t.requests(["-i"], ["-s"], ["-s", "runtime"]);
    },
  },
  {
    name: "Filter State Accept ESTABLISHED for TCP",
    opts: { config: statsConfig("Filter {\n  State Accept {\n    ESTABLISHED for TCP\n  }\n}") },
    async run(t) {
      await t.kernel(...BASE);
      await t.start();
      await t.waitActive(3);
      await t.kernel(
        tcp("10.6.0.1", "10.6.0.2", 1, 2, "TIME_WAIT"),
        tcp("10.6.0.1", "10.6.0.2", 3, 4, "ESTABLISHED"),
      );
      await t.waitActive(4);
      await t.requests(["-i"], ["-s"], ["-s", "runtime"]);
    },
  },
  {
    name: "HashLimit 5: no space left in cache",
    opts: { config: statsConfig("HashLimit 5") },
    async run(t) {
      await t.start();
      const entries = Array.from({ length: 8 }, (_, k) => udp(`10.7.0.${k + 1}`, "10.7.1.1", 100 + k, 53));
      await t.kernel(...entries);
      await t.waitFor(["-s", "cache"], /no space left in cache:\s+3\n/);
      await t.requests(["-s"], ["-s", "cache"], ["-i"], ["-s", "runtime"]);
      await t.kernel(ct("-F"));
      await t.waitActive(0);
      await t.waitFlows(5);
      await t.requests(["-s"], ["-s", "cache"]);
    },
  },
  {
    name: "NetlinkBufferSize within NetlinkBufferSizeMaxGrowth, reliable events",
    opts: {
      config: statsConfig(
        "NetlinkBufferSize 2097152\nNetlinkBufferSizeMaxGrowth 8388608\nNetlinkEventsReliable on",
      ),
    },
    async run(t) {
      await t.start();
      await t.kernel(...BASE);
      await t.waitActive(4);
      await t.requests(["-s", "runtime"], ["-s"]);
    },
  },
  {
    name: "NetlinkBufferSize above NetlinkBufferSizeMaxGrowth",
    opts: { config: statsConfig("NetlinkBufferSize 4194304\nNetlinkBufferSizeMaxGrowth 1048576") },
    async run(t) {
      await t.start();
      await t.requests(["-s", "runtime"]);
    },
  },
  {
    name: "-f, -f external, -f internal, -R, -R ct, -R expect",
    async run(t) {
      await t.kernel(...BASE);
      await t.start();
      await t.waitActive(4);
      for (const args of [["-f"], ["-f", "external"], ["-f", "internal"]]) {
        await t.request(args, { mutates: true });
        await t.requests(["-s"], ["-i"]);
      }
      for (const args of [["-R"], ["-R", "ct"], ["-R", "expect"]]) {
        await t.request(args, { mutates: true });
        await t.requests(["-s"], ["-s", "cache"], ["-i"]);
      }
      await t.request(["-s", "runtime"]);
    },
  },
  {
    name: "requests Stats mode ignores: -t -n -B -c -F expect",
    async run(t) {
      await t.kernel(...BASE);
      await t.start();
      await t.waitActive(4);
      for (const args of [["-t"], ["-n"], ["-B"], ["-c"], ["-c", "ct"], ["-c", "expect"], ["-F", "expect"]]) {
        await t.request(args, { mutates: true });
      }
      await t.waitNoChildren();
      await t.conntrack(["-L"]);
      await t.requests(["-s"], ["-s", "runtime"], ["-i"]);
    },
  },
  {
    name: "no daemon on the UNIX path: client error, exit 1",
    async run(t) {
      await t.requests(["-s"], ["-i"], ["-k"], ["-F"]);
    },
  },
];

ctdSuite("conntrackd daemon (Stats mode) vs reference", cases);
