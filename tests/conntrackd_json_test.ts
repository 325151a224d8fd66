// `conntrackd -o json` (issue 15), the conversion itself: the `-s` texts the
// daemon prints (made here by the daemon's own formatters, which the
// differential suites hold byte-identical to conntrackd 1.4.7) come out with
// every counter under its documented name; lines the converter does not know
// are named by their label or kept in "unparsed"; cache dump lines read back
// into the same JSON `conntrack -o json` prints for the entry; `-o` on the
// command line. tests/conntrackd_json_daemon_test.ts runs it against both daemons.
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert";
import { statsToJson, uptimeMinutes } from "../src/conntrackd/client/json_stats.ts";
import { conntrackLineToJson, expectLineToJson } from "../src/conntrackd/client/json_dump.ts";
import { CacheStats } from "../src/conntrackd/cache/cache.ts";
import { formatCacheStats, formatCacheStatsExtended } from "../src/conntrackd/cache/cache.ts";
import { formatInjectStats, InjectStats } from "../src/conntrackd/sync/external.ts";
import {
  formatRuntimeStats,
  formatTrafficStats,
  RuntimeStats,
} from "../src/conntrackd/daemon/runtime_stats.ts";
import { formatNetworkStats, formatSyncStats } from "../src/conntrackd/sync/stats_text.ts";
import { newNetworkStats } from "../src/conntrackd/sync/wire/mod.ts";
import { formatChannelStats, formatLinkStats, TrafficStats } from "../src/conntrackd/channel/stats.ts";
import { Conntrack, Expect } from "../src/conntrack/model.ts";
import { formatConntrack } from "../src/conntrack/format/text.ts";
import { formatExpect } from "../src/conntrack/format/expect.ts";
import { formatConntrackJson, formatExpectJson } from "../src/conntrack/format/json.ts";
import { DaemonArgsExit, parseDaemonArgs } from "../src/conntrackd/client/args.ts";
import * as C from "../src/conntrackd/client/codes.ts";
import { prng } from "./lib/prng.ts";

const rnd = prng(15);
const n = () => Math.floor(rnd() * 4_000_000_000);

/** Objects of the JSON lines of `text` as `-s section` would print them; no part may be unparsed. */
function convert(section: string, text: string): Record<string, unknown>[] {
  const r = statsToJson(section, text);
  assertEquals(r.unparsed, 0, `unparsed parts in:\n${text}\n${r.lines.join("\n")}`);
  return r.lines.map((l) => JSON.parse(l));
}

/** Every number of the text (words of digits, the uptime aside), in order. */
function textNumbers(text: string): string[] {
  return text.split("\n").filter((l) => !l.startsWith("daemon uptime:"))
    .flatMap((l) => l.match(/(?<![A-Za-z0-9_.])\d+(?![A-Za-z0-9_])/g) ?? []);
}

/** Every number of the JSON lines (digits as written), in order. */
function jsonNumbers(lines: string[]): string[] {
  return lines.filter((l) => !l.includes('"block":"daemon"')).flatMap((l) =>
    l.match(/(?<=[:\[,])\d+(?=[,}\]])/g) ?? []
  );
}

function fill<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (typeof o[k] === "number") (o[k] as number) = n();
  return o;
}

Deno.test("-s json: the cache blocks, every counter by name", () => {
  const cache = { name: "internal", stats: fill(new CacheStats()), size: n() };
  const s = cache.stats;
  const [basic] = convert("ct", formatCacheStats(cache as never));
  assertEquals(basic, {
    section: "ct",
    block: "cache",
    cache: "internal",
    active: s.active,
    created: s.addOk,
    create_failed: s.addFail,
    updated: s.updOk,
    update_failed: s.updFail,
    destroyed: s.delOk,
    destroy_failed: s.delFail,
  });
  const [ext] = convert("cache", formatCacheStatsExtended(cache as never));
  assertEquals(ext, {
    section: "cache",
    block: "cache",
    cache: "internal",
    objects: s.objects,
    active: s.active,
    total: cache.size,
    created: s.addOk,
    create_failed: s.addFail,
    create_failed_no_memory: s.addFailEnomem,
    create_failed_no_space: s.addFailEnospc,
    updated: s.updOk,
    update_failed: s.updFail,
    update_failed_not_found: s.updFailEnoent,
    destroyed: s.delOk,
    destroy_failed: s.delFail,
    destroy_failed_not_found: s.delFailEnoent,
  });
  const inject = fill(new InjectStats());
  assertEquals(convert("ct", formatInjectStats(inject))[0], {
    section: "ct",
    block: "external_inject",
    created: inject.addOk,
    create_failed: inject.addFail,
    updated: inject.updOk,
    update_failed: inject.updFail,
    destroyed: inject.delOk,
    destroy_failed: inject.delFail,
  });
  // sync_mode.ts's bypass block (the reference's internal bypass stats)
  const u12 = (v: number) => String(v).padStart(12);
  const [a, b, c] = [n(), n(), n()];
  const bypass = `internal bypass:\nconnections new:\t\t${u12(a)}\nconnections updated:\t\t${u12(b)}\n` +
    `connections destroyed:\t\t${u12(c)}\n\n`;
  assertEquals(convert("cache", bypass)[0], {
    section: "cache",
    block: "internal_bypass",
    new: a,
    updated: b,
    destroyed: c,
  });
});

Deno.test("-s json: runtime, network, traffic, links, queues, rsqueue, process", () => {
  const rt = fill(new RuntimeStats());
  rt.bytesOrig = 18446744073709551000n; // beyond 2^53: the digits must survive
  rt.bytesRepl = 0n;
  rt.packetsOrig = 7n;
  rt.packetsRepl = 8n;
  const text = formatRuntimeStats(rt, 212992, rt.startTime + 3 * 86400 + 4 * 3600 + 5 * 60 + 7);
  const r = statsToJson("runtime", text);
  assertEquals(r.unparsed, 0);
  const [daemon, netlink, runtime] = r.lines.map((l) => JSON.parse(l));
  assertEquals(daemon, { section: "runtime", block: "daemon", uptime_minutes: 3 * 1440 + 4 * 60 + 5 });
  assertEquals(netlink, {
    section: "runtime",
    block: "netlink",
    events_received: rt.eventsReceived,
    events_filtered: rt.eventsFiltered,
    events_unknown_type: rt.eventsUnknownType,
    catch_event_failed: rt.catchEventFailed,
    dump_unknown_type: rt.dumpUnknownType,
    overruns: rt.overrun,
    kernel_table_flushes: rt.kernelTableFlush,
    kernel_table_resyncs: rt.kernelTableResync,
    buffer_size_bytes: 212992,
  });
  assertEquals(runtime, {
    section: "runtime",
    block: "runtime",
    child_process_failed: rt.childProcessFailed,
    child_process_segfault: rt.childProcessSegfault,
    child_process_termsig: rt.childProcessTermsig,
    select_failed: rt.selectFailed,
    wait_failed: rt.waitFailed,
    local_read_failed: rt.localReadFailed,
    local_unknown_request: rt.localUnknownRequest,
  });
  const traffic = statsToJson("ct", formatTrafficStats(rt)).lines;
  assertEquals(traffic, ['{"section":"ct","block":"traffic","bytes":18446744073709551000,"packets":15}']);

  const net = fill(newNetworkStats());
  const [network, sequence] = convert("network", formatNetworkStats(net));
  assertEquals(network, {
    section: "network",
    block: "network",
    recv: {
      malformed: net.malformed,
      wrong_version: net.badVersion,
      malformed_header: net.badHeader,
      malformed_payload: net.badPayload,
      bad_type: net.badType,
      truncated: net.truncated,
      bad_size: net.badSize,
    },
    send: { malformed: net.sendMalformed },
  });
  assertEquals(sequence, {
    section: "network",
    block: "sequence_tracking",
    recv: { lost: net.lost, before: net.before },
  });
  assertEquals(convert("ct", formatSyncStats(net))[0], {
    section: "ct",
    block: "message_tracking",
    malformed: net.malformed,
    lost: net.lost,
  });

  const sent = fill(new TrafficStats()), received = fill(new TrafficStats());
  const counters = {
    bytes_sent: sent.bytes,
    bytes_received: received.bytes,
    packets_sent: sent.packets,
    packets_received: received.packets,
    send_errors: sent.errors,
    receive_errors: received.errors,
  };
  const tcp = {
    kind: "tcp" as const,
    sent,
    received,
    deviceName: () => "eth1.5",
    connectionStates: () => ({ server: true, client: false }),
  };
  assertEquals(convert("ct", formatChannelStats(tcp))[0], {
    section: "ct",
    block: "channel",
    kind: "tcp",
    device: "eth1.5",
    role: "ACTIVE",
    tcp_server: "connected",
    tcp_client: "disconnected",
    ...counters,
  });
  const udp = { ...tcp, kind: "udp" as const, connectionStates: () => null };
  // IFF_UP without IFF_RUNNING: NO-CARRIER
  assertEquals(convert("link", formatLinkStats(udp, 1, false))[0], {
    section: "link",
    block: "channel",
    kind: "udp",
    device: "eth1.5",
    status: "NO-CARRIER",
    role: "BACKUP",
    ...counters,
  });

  const queue =
    "allocated queue nodes:\t\t           3\n\nqueue txqueue:\ncurrent elements:\t\t           1\n" +
    "maximum elements:\t\t  2147483647\nnot enough space errors:\t           0\n\n";
  assertEquals(convert("queue", queue), [
    { section: "queue", block: "queue_nodes", allocated: 3 },
    {
      section: "queue",
      block: "queue",
      queue: "txqueue",
      current: 1,
      maximum: 2147483647,
      no_space_errors: 0,
    },
  ]);
  assertEquals(
    convert(
      "rsqueue",
      "resent queue (len=2)\ncontrol -> seq:1796532569 flags:72\nobject -> seq:1796532570\n",
    ),
    [
      { section: "rsqueue", block: "rsqueue", length: 2 },
      { section: "rsqueue", block: "rsqueue_entry", kind: "control", seq: 1796532569, flags: 72 },
      { section: "rsqueue", block: "rsqueue_entry", kind: "object", seq: 1796532570 },
    ],
  );
  assertEquals(convert("process", "PID=4242 type=commit\n"), [
    { section: "process", block: "process", pid: 4242, type: "commit" },
  ]);
  assertEquals(uptimeMinutes("1 day 0 h 2 min"), 1442);
  assertEquals(uptimeMinutes("59 min"), 59);
});

Deno.test("-s json: every number of the text is in the JSON, in order", () => {
  const rt = fill(new RuntimeStats());
  const net = fill(newNetworkStats());
  const cache = { name: "external", stats: fill(new CacheStats()), size: n() };
  for (
    const [section, text] of [
      ["runtime", formatRuntimeStats(rt, 4096, rt.startTime + 61)],
      ["network", formatNetworkStats(net)],
      ["ct", formatCacheStats(cache as never) + formatTrafficStats(rt) + formatSyncStats(net)],
      ["cache", formatCacheStatsExtended(cache as never)],
    ]
  ) {
    const r = statsToJson(section, text);
    assertEquals(r.unparsed, 0);
    assertEquals(jsonNumbers(r.lines), textNumbers(text), section);
  }
});

Deno.test("-s json: lines and blocks it does not know are named by their label or kept, never dropped", () => {
  // e.g. counters a later daemon adds to `-s network` (sync authentication)
  const net = formatNetworkStats(newNetworkStats()).replace(
    "\t\tBad message size:",
    "\t\tBad signature:\t                   5\n\t\tReplayed (too old):\t3/4\n\t\tBad message size:",
  );
  const [network] = convert("network", net);
  assertEquals((network.recv as Record<string, number>).bad_signature, 5);
  assertEquals((network.recv as Record<string, number>).replayed_too_old, 3);
  assertEquals((network.recv as Record<string, number>).replayed_too_old_1, 4);
  const text = "authentication:\n\tkey id:\t\t          12\n\tthis is prose\n\tlast key change: never\n\n" +
    "something else entirely\n  17 Widgets sent  18 Widgets lost\n";
  const r = statsToJson("network", text);
  assertEquals(r.unparsed, 3);
  assertEquals(r.lines.map((l) => JSON.parse(l)), [
    {
      section: "network",
      block: "authentication",
      key_id: 12,
      unparsed: ["\tthis is prose", "\tlast key change: never"],
    },
    {
      section: "network",
      block: "unknown",
      widgets_sent: 17,
      widgets_lost: 18,
      unparsed: ["something else entirely"],
    },
  ]);
});

// ---------------------------------------------------------------------------------------------
// cache dumps

const IPS_SEEN_REPLY = 2, IPS_ASSURED = 4, IPS_CONFIRMED = 8, IPS_OFFLOAD = 1 << 14;
const V4 = (i: number) => `10.${i & 255}.${(i >> 8) & 255}.${(i * 7) & 255}`;
const V6 = (i: number) => `2001:db8::${(i & 0xffff).toString(16)}`;

/** An entry as conntrackd caches it, of protocol `proto`. */
function entry(i: number, proto: number, v6: boolean): Conntrack {
  const ct = new Conntrack();
  const l3 = v6 ? 10 : 2, a = v6 ? V6(i) : V4(i), b = v6 ? V6(i + 1) : V4(i + 1);
  ct.orig = { l3, src: a, dst: b, proto };
  ct.reply = { l3, src: b, dst: a, proto };
  if (proto === 1 || proto === 58) {
    Object.assign(ct.orig, { icmpType: 8, icmpCode: 0, icmpId: i & 0xffff });
    Object.assign(ct.reply, { icmpType: 0, icmpCode: 0, icmpId: i & 0xffff });
  } else if (proto !== 99) {
    Object.assign(ct.orig, { sport: 1024 + i, dport: 80 });
    Object.assign(ct.reply, { sport: 80, dport: 1024 + i });
  }
  if (proto === 6) ct.state = i % 9;
  if (proto === 132) ct.state = i % 8;
  if (proto === 33) ct.state = i % 9;
  ct.status = IPS_CONFIRMED | (i % 2 ? IPS_SEEN_REPLY : 0) | (i % 3 ? IPS_ASSURED : 0) |
    (i % 11 === 0 ? IPS_OFFLOAD : 0);
  ct.mark = i % 5;
  if (i % 4 === 0) ct.zone = i % 7;
  if (i % 6 === 0) ct.orig.zone = 3;
  if (i % 7 === 0) ct.reply.zone = 4;
  if (i % 8 === 0) ct.secmark = 9;
  if (i % 9 === 0) ct.helper = "ftp";
  if (i % 10 === 0) {
    ct.countersOrig = { packets: BigInt(i), bytes: 18446744073709551615n };
    ct.countersReply = { packets: 1n, bytes: 2n };
  }
  return ct;
}

/** What the text shows of an entry: status reduced to the visible bits, no id or labels. */
function visible(ct: Conntrack, external: boolean): Conntrack {
  const v = Object.assign(new Conntrack(), ct, { orig: { ...ct.orig }, reply: { ...ct.reply } });
  const s = ct.status ?? 0;
  v.status = (s & IPS_SEEN_REPLY) | (s & IPS_OFFLOAD ? IPS_OFFLOAD : s & IPS_ASSURED);
  if (external) v.reply = { l3: 0 };
  return v;
}

Deno.test("-i/-e json: dump lines read back into conntrack's JSON of the entry", () => {
  let count = 0;
  for (const proto of [6, 17, 1, 58, 132, 33, 136, 47, 99]) {
    for (let i = 0; i < 40; i++) {
      const v6 = proto === 58 || (proto !== 1 && i % 3 === 0);
      const ct = entry(i + proto * 100, proto, v6);
      for (const external of [false, true]) {
        const shown = visible(ct, external);
        // conntrackd's dump: the default line without timeout, then its markers
        const cached = Object.assign(new Conntrack(), shown);
        if (external) cached.reply = { l3: 0 };
        let line = formatConntrack(cached, 0, 0, null, 1024);
        line += i % 2 ? ` [expires in ${i}s]` : "";
        line += ` [active since ${i * 3}s]`;
        const r = conntrackLineToJson(line);
        assertEquals(r.unparsed, 0, line);
        let expected = formatConntrackJson(shown, 0, null);
        if (external) expected = expected.replace(',"reply":{}', "");
        expected = expected.slice(0, -1) + (i % 2 ? `,"expires_in":${i}` : "") + `,"active_since":${i * 3}}`;
        assertEquals(r.json, expected, line);
        count++;
      }
    }
  }
  assertEquals(count, 9 * 40 * 2);
  // NOTRACK's bypass mode dumps the kernel table: timeout and use are there
  const ct = entry(3, 17, false);
  ct.timeout = 298;
  ct.use = 1;
  const r = conntrackLineToJson(formatConntrack(ct, 0, 0, null, 1024));
  assertEquals(r.json, formatConntrackJson(visible(ct, false), 0, null));
});

Deno.test("-i/-e expect json: expectation lines read back", () => {
  for (let i = 0; i < 30; i++) {
    const exp = new Expect();
    const v6 = i % 2 === 1, proto = i % 3 ? 6 : 17;
    const l3 = v6 ? 10 : 2;
    exp.master = {
      l3,
      src: v6 ? V6(i) : V4(i),
      dst: v6 ? V6(i + 1) : V4(i + 1),
      proto,
      sport: 39000 + i,
      dport: 21,
    };
    exp.tuple = { l3, src: exp.master.src, dst: exp.master.dst, proto, sport: 0, dport: 40000 + i };
    exp.mask = {
      l3,
      src: v6 ? "ffff:ffff::" : "255.255.255.255",
      dst: v6 ? "::" : "0.0.0.0",
      proto,
      sport: 0,
      dport: 65535,
    };
    exp.flags = i % 8;
    if (i % 4 === 0) exp.class = i % 3;
    if (i % 5 === 0) exp.zone = 2;
    exp.helper = i % 6 === 0 ? undefined : "ftp";
    const line = formatExpect(exp, 0, 0) + ` [active since ${i}s]`;
    const r = expectLineToJson(line);
    assertEquals(r.unparsed, 0, line);
    assertEquals(r.json, formatExpectJson(exp, 0).slice(0, -1) + `,"active_since":${i}}`, line);
  }
});

Deno.test("-i/-e json: what does not read is kept, not dropped", () => {
  const r = conntrackLineToJson(
    "tcp      6 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 " +
      "[ASSURED] mark=0 newthing=7 [FLAG] [active since 3s]",
  );
  assertEquals(r.unparsed, 2);
  assertEquals(JSON.parse(r.json).unparsed, ["newthing=7", "[FLAG]"]);
  assertEquals(JSON.parse(r.json).active_since, 3);
  assertEquals(conntrackLineToJson("<flow>…</flow>"), { json: '{"unparsed":"<flow>…</flow>"}', unparsed: 1 });
  assertEquals(expectLineToJson("not an expectation").unparsed, 1);
});

// ---------------------------------------------------------------------------------------------
// the command line

function parse(argv: string) {
  return parseDaemonArgs(argv.split(" "), "conntrackd");
}

function parseFails(argv: string): DaemonArgsExit {
  try {
    parse(argv);
  } catch (e) {
    if (e instanceof DaemonArgsExit) return e;
    throw e;
  }
  throw new Error(`${argv}: parsed`);
}

Deno.test("-o json: with -s, -i and -e in any order; refused elsewhere with a clear line", () => {
  for (
    const [argv, code] of [
      ["-s -o json", C.STATS],
      ["-o json -s network", C.STATS_NETWORK],
      ["-s rsq -o json", C.STATS_RSQUEUE],
      ["-s p -o json", C.STATS_PROCESS],
      ["-s expect -o json", C.EXP_STATS],
      ["-i -o json", C.CT_DUMP_INTERNAL],
      ["-o json -e", C.CT_DUMP_EXTERNAL],
      ["-i expect -o json", C.EXP_DUMP_INTERNAL],
      ["-o json -e exp -C /x.conf", C.EXP_DUMP_EXTERNAL],
    ] as const
  ) {
    const a = parse(argv);
    assertEquals([a.mode, a.requestCode, a.json], ["request", code, true], argv);
  }
  // without -o: nothing changes
  assertEquals(parse("-s").json, undefined);
  for (
    const [argv, message] of [
      ["-o json -c", /-o json goes with -s \[section\], -i \[ct\|expect\] or -e \[ct\|expect\] only/],
      ["-o json", /-o json goes with/],
      ["-d -o json", /-o json goes with/],
      ["-i -x -o json", /-o json cannot be combined with -x/],
      ["-s -o xml", /unknown parameter `xml' for option `-o'/],
      ["-s -o", /option `-o' needs a format: -o json/],
    ] as const
  ) {
    const e = parseFails(argv);
    assertEquals(e.status, 1, argv);
    assertEquals(e.stdout, "", argv);
    assertMatch(e.stderr, message, argv);
    assert(e.stderr.includes("[ERROR]"), argv);
  }
  // any other word with `o` second stays an unknown option, as for the reference
  assertMatch(parseFails("-s -ojson").stderr, /Unknown option: -ojson/);
  assertEquals(parseFails("-s -ojson").status, 0);
});
