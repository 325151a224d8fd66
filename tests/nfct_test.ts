// ctkit nfct against Debian's nfct 1.4.7, case by case in twin namespaces
// (see nfct_harness.ts). Run: deno test -A tests/nfct_test.ts
import { CTKIT } from "./lib/netns.ts";
import { run, twin } from "./nfct_harness.ts";

/** Every tracker nfct knows, with all of its state names (attribute order). */
const TRACKERS: { family: string; proto: string; states: string[] }[] = [
  {
    family: "inet",
    proto: "tcp",
    states: [
      "syn_sent",
      "syn_recv",
      "established",
      "fin_wait",
      "close_wait",
      "last_ack",
      "time_wait",
      "close",
      "syn_sent2",
      "retrans",
      "unacknowledged",
    ],
  },
  { family: "inet", proto: "udp", states: ["unreplied", "replied"] },
  { family: "inet6", proto: "udplite", states: ["unreplied", "replied"] },
  { family: "inet", proto: "icmp", states: ["timeout"] },
  { family: "inet6", proto: "icmpv6", states: ["timeout"] },
  { family: "inet6", proto: "ipv6-icmp", states: ["timeout"] },
  {
    family: "inet",
    proto: "sctp",
    states: [
      "closed",
      "cookie_wait",
      "cookie_echoed",
      "established",
      "shutdown_sent",
      "shutdown_recd",
      "shutdown_ack_sent",
    ],
  },
  {
    family: "inet",
    proto: "dccp",
    states: ["request", "respond", "partopen", "open", "closereq", "closing", "timewait"],
  },
  { family: "inet", proto: "gre", states: ["unreplied", "replied"] },
  { family: "inet", proto: "generic", states: ["timeout"] },
];

function policyArgs(states: string[], base: number): string[] {
  return states.flatMap((s, i) => [s, String(base + i)]);
}

Deno.test("nfct: usage, version, help, unknown words", async () => {
  await twin(async (t) => {
    const cases = [
      [],
      ["list"],
      ["version"],
      ["help"],
      ["timeout"],
      ["list", "version"],
      ["l", "v"],
      ["version", "list"],
      ["version", "x"],
      ["help", "x"],
      ["help", "list"],
      ["list", "help", "x"],
      ["x", "timeout"],
      ["list", "x"],
      ["x", "y", "z"],
      ["list", "t", "x"],
      ["", "version"],
      ["--help", "timeout"],
      ["-o", "xml"],
    ];
    for (const args of cases) await t.nfct(...args);
  });
});

Deno.test("nfct timeout: add, get, list, delete, flush with every tracker and state", async () => {
  await twin(async (t) => {
    for (const [i, tr] of TRACKERS.entries()) {
      await t.nfct(
        "add",
        "timeout",
        `all-${tr.proto}`,
        tr.family,
        tr.proto,
        ...policyArgs(tr.states, 100 * (i + 1)),
      );
      // One state set, the rest from the tracker's defaults.
      await t.nfct("add", "timeout", `one-${tr.proto}`, tr.family, tr.proto, tr.states.at(-1)!, "7");
    }
    await t.nfct("list", "timeout");
    for (const tr of TRACKERS) await t.nfct("get", "timeout", `all-${tr.proto}`);
    for (const tr of TRACKERS) await t.nfct("delete", "timeout", `one-${tr.proto}`);
    await t.nfct("list", "timeout");
    await t.nfct("get", "timeout", "one-tcp");
    await t.assertSameState();
    await t.nfct("flush", "timeout");
    await t.nfct("list", "timeout");
    await t.nfct("flush", "timeout");
  });
});

Deno.test("nfct timeout: state names and values as the reference reads them", async () => {
  await twin(async (t) => {
    await t.nfct(
      "add",
      "timeout",
      "case",
      "inet",
      "tcp",
      "ESTABLISHED",
      "11",
      "Syn_Sent",
      "12",
      "unacknowledged",
      "13",
    );
    await t.nfct("add", "timeout", "TCP", "inet", "TCP", "close", "5");
    // strcasecmp() folds ASCII only: the Kelvin sign is not a K.
    await t.nfct("add", "timeout", "kelvin", "inet", "tcp", "unac\u212Anowledged", "1");
    await t.nfct("add", "timeout", "dup", "inet6", "udp", "unreplied", "1", "unreplied", "2");
    await t.nfct(
      "add",
      "timeout",
      "atoi",
      "inet",
      "sctp",
      "closed",
      "-1",
      "cookie_wait",
      " 7",
      "cookie_echoed",
      "12abc",
      "established",
      "abc",
      "shutdown_sent",
      "99999999999",
      "shutdown_recd",
      "4294967296",
      "shutdown_ack_sent",
      "+9",
    );
    await t.nfct("add", "timeout", "zero", "inet", "icmp", "timeout", "0");
    await t.nfct("add", "timeout", "huge", "inet", "generic", "timeout", "99999999999999999999999");
    await t.nfct("list", "timeout");
  });
});

Deno.test("nfct timeout: bad input of every kind", async () => {
  await twin(async (t) => {
    const cases = [
      ["add", "timeout"],
      ["add", "timeout", "p"],
      ["add", "timeout", "p", "inet"],
      ["add", "timeout", "p", "inet", "tcp"], // no policy: the kernel refuses
      ["add", "timeout", "p", "inet6", "tcp", "established"],
      ["add", "timeout", "p", "inet", "tcp", "syn_sent", "1", "established"],
      ["add", "timeout", "p", "inet", "tcp", "syn_sent", "1", "bogus"],
      ["add", "timeout", "p", "inet", "bogus", "established", "1"],
      ["add", "timeout", "p", "inet", "6", "established", "1"],
      ["add", "timeout", "p", "inet", "", "established", "1"],
      ["add", "timeout", "p", "inetx", "tcp", "established", "1"],
      ["add", "timeout", "p", "INET", "tcp", "established", "1"],
      ["add", "timeout", "p", "inet6", "tcp", "bogus", "1"],
      ["add", "timeout", "p", "inet", "udp", "established", "1"],
      ["add", "timeout", "p", "inet", "sctp", "heartbeat_sent", "1"],
      ["add", "timeout", "p", "inet", "esp"],
      ["add", "timeout", "p", "inet", "esp", "timeout", "1"],
      ["add", "timeout", "p", "inet", "icmpv6", "timeout", "1"],
      ["get", "timeout"],
      ["get", "timeout", "a", "b"],
      ["get", "timeout", "missing"],
      ["delete", "timeout"],
      ["delete", "timeout", "a", "b"],
      ["delete", "timeout", "missing"],
      ["list", "timeout", "x"],
      ["list", "timeout", "-o", "xml"],
      ["flush", "timeout", "x"],
      ["disable", "timeout"],
      ["disable", "timeout", "p"],
    ];
    for (const args of cases) await t.nfct(...args);
    await t.nfct("add", "timeout", "twice", "inet", "udp", "unreplied", "5");
    await t.nfct("add", "timeout", "twice", "inet", "udp", "unreplied", "6");
    await t.nfct("add", "timeout", "twice", "inet", "tcp", "established", "6");
    await t.nfct("get", "timeout", "twice");
  });
});

Deno.test("nfct timeout: names are cut to 31 bytes like the reference", async () => {
  await twin(async (t) => {
    const long = "abcdefghij".repeat(4);
    await t.nfct("add", "timeout", long, "inet", "udp", "unreplied", "5");
    await t.nfct("add", "timeout", long.slice(0, 31) + "z", "inet", "udp", "unreplied", "6");
    await t.nfct("get", "timeout", long);
    await t.nfct("get", "timeout", long.slice(0, 31));
    // 20 two-byte characters: the cut falls inside one of them.
    await t.nfct("add", "timeout", "é".repeat(20), "inet", "udp", "replied", "9");
    await t.nfct("list", "timeout");
    await t.nfct("get", "timeout", "é".repeat(16));
    await t.nfct("delete", "timeout", long);
    await t.nfct("add", "timeout", "", "inet", "udp", "replied", "9");
  });
});

Deno.test("nfct timeout: command prefixes and the legacy subsystem-first order", async () => {
  await twin(async (t) => {
    await t.nfct("a", "t", "p1", "inet", "udp", "unreplied", "5");
    await t.nfct("timeout", "add", "p2", "inet", "tcp", "close", "3");
    await t.nfct("t", "a", "p3", "inet", "gre", "replied", "4");
    await t.nfct("g", "t", "p1");
    await t.nfct("timeout", "get", "p2");
    await t.nfct("", "");
    await t.nfct("timeout", "");
    await t.nfct("de", "timeout", "p1");
    await t.nfct("d", "t", "p3");
    await t.nfct("di", "timeout");
    await t.nfct("default-g", "timeout", "inet", "udp");
    await t.nfct("timeout", "default-g", "inet6", "tcp");
    await t.nfct("timeout", "x");
    await t.nfct("timeouts", "list");
    await t.nfct("lists", "timeout");
    await t.nfct("f", "t");
    await t.nfct("l", "t");
  });
});

Deno.test("nfct timeout: default-set and default-get", async () => {
  await twin(async (t) => {
    for (const tr of TRACKERS) await t.nfct("default-get", "timeout", tr.family, tr.proto);
    await t.nfct("default-set", "timeout", "inet", "udp", "unreplied", "44", "replied", "55");
    await t.nfct("default-set", "timeout", "inet", "tcp", ...policyArgs(TRACKERS[0].states, 200));
    await t.nfct("default-set", "timeout", "inet", "generic", "timeout", "321");
    await t.nfct("default-get", "timeout", "inet", "udp");
    await t.nfct("default-get", "timeout", "inet", "udplite");
    await t.nfct("default-get", "timeout", "inet", "tcp");
    await t.nfct("default-get", "timeout", "inet", "generic", "extra", "ignored");
    const cases = [
      ["default-set", "timeout"],
      ["default-set", "timeout", "inet", "udp"],
      ["default-set", "timeout", "inet", "udp", "unreplied"],
      ["default-set", "timeout", "inet", "udp", "bogus", "1"],
      ["default-set", "timeout", "inetx", "udp", "unreplied", "1"],
      ["default-set", "timeout", "inet", "bogus", "unreplied", "1"],
      ["default-set", "timeout", "inet", "esp", "timeout", "1"],
      ["default-get", "timeout"],
      ["default-get", "timeout", "inet"],
      ["default-get", "timeout", "inetx", "tcp"],
      ["default-get", "timeout", "inet", "bogus"],
      ["default-get", "timeout", "inet", "esp"],
      ["default-get", "timeout", "inet", "TCP"],
    ];
    for (const args of cases) await t.nfct(...args);
  });
});

/** Seconds left on the first UDP flow `conntrack -L` shows. */
function flowTimeout(listing: string): number {
  const m = listing.match(/^udp\s+17\s+(\d+)\s/m);
  if (!m) throw new Error(`no UDP flow in: ${JSON.stringify(listing)}`);
  return Number(m[1]);
}

Deno.test("nfct timeout: a policy made by ctkit is applied by the CT target", async () => {
  await twin(async (t) => {
    await t.nfct("add", "timeout", "slow", "inet", "udp", "unreplied", "777", "replied", "888");
    await t.both([
      "iptables",
      "-t",
      "raw",
      "-A",
      "OUTPUT",
      "-p",
      "udp",
      "--dport",
      "9999",
      "-j",
      "CT",
      "--timeout",
      "slow",
    ]);
    await t.both(["bash", "-c", "echo ping > /dev/udp/127.0.0.1/9999"]);
    const [ref, kit] = await t.both(["conntrack", "-L", "-p", "udp"]);
    for (const [who, listing] of [["reference", ref.stdout], ["ctkit", kit.stdout]]) {
      const left = flowTimeout(listing);
      if (left < 770 || left > 777) {
        throw new Error(`${who}: flow timeout ${left}, want about 777: ${listing}`);
      }
    }
    // In use by the rule: delete is refused, flush keeps it.
    await t.nfct("delete", "timeout", "slow");
    await t.nfct("flush", "timeout");
    await t.nfct("list", "timeout");
    await t.both(["iptables", "-t", "raw", "-F"]);
    await t.nfct("delete", "timeout", "slow");
  });
});

Deno.test("nfct helper: every subcommand answers as the reference (no cthelper here)", async () => {
  await twin(async (t) => {
    const cases = [
      ["list", "helper"],
      ["list", "helper", "x"],
      ["helper", "list"],
      ["add", "helper"],
      ["add", "helper", "ftp"],
      ["add", "helper", "ftp", "inet"],
      ["add", "helper", "ftp", "inetx", "tcp"],
      ["add", "helper", "ftp", "inet", "sctp"],
      ["add", "helper", "ftp", "inet", "udp"],
      ["add", "helper", "foo", "inet", "tcp"],
      ["add", "helper", "ftp", "inet", "tcp"],
      ["add", "helper", "rpc", "inet6", "udp"],
      ["add", "helper", "tns", "inet", "tcp", "extra"],
      ["get", "helper"],
      ["get", "helper", "ftp"],
      ["get", "helper", "ftp", "inet"],
      ["get", "helper", "ftp", "x"],
      ["get", "helper", "ftp", "inet", "x"],
      ["get", "helper", "ftp", "inet", "tcp"],
      ["get", "helper", "ftp", "inet", "tcp", "x"],
      ["delete", "helper"],
      ["delete", "helper", "ftp", "inet6", "udp"],
      ["delete", "helper", "ftp", "inet6", "udp", "x"],
      ["disable", "helper"],
      ["disable", "helper", "ftp", "inet", "tcp"],
      ["disable", "helper", "foo", "inet", "tcp"],
      ["disable", "helper", "ftp", "inet", "udp"],
      ["flush", "helper"],
      ["flush", "helper", "x"],
      ["default-set", "helper"],
      ["default-get", "helper", "x"],
      ["helper", "default-get"],
      ["d", "h"],
    ];
    for (const args of cases) await t.nfct(...args);
  });
});

Deno.test("nfct: a symlink named nfct behaves as the reference", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctkit-nfct-" });
  try {
    await Deno.symlink(CTKIT, `${dir}/nfct`);
    const path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    await twin(async (t) => {
      const viaPath = (...args: string[]) =>
        t.compare(
          ["env", `PATH=${path}`, "nfct", ...args],
          ["env", `PATH=${dir}:${path}`, "nfct", ...args],
          args,
        );
      // Make sure the ctkit side really ran the symlink, not the system nfct.
      const which = await run(t.kit, ["env", `PATH=${dir}:${path}`, "bash", "-c", "command -v nfct"]);
      if (which.stdout.trim() !== `${dir}/nfct`) throw new Error(`symlink not used: ${which.stdout}`);
      await viaPath();
      await viaPath("list");
      await viaPath("version", "x");
      await viaPath("list", "version");
      await viaPath("x", "y");
      await viaPath("disable", "timeout");
      await viaPath("default-get", "helper");
      await viaPath("add", "timeout", "s", "inet", "tcp", "established", "60");
      await viaPath("list", "timeout");
      // Called by full path the program name is not printed, so outputs still match.
      await t.compare(["/usr/sbin/nfct", "get", "timeout", "s"], [`${dir}/nfct`, "get", "timeout", "s"], [
        "get",
      ]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nfct timeout: a listing spread over several netlink datagrams", async () => {
  await twin(async (t) => {
    // 40 TCP policies (~150 bytes each) overflow the first, page-sized dump datagram.
    const loop = (nfct: string) =>
      `for i in $(seq 1 40); do ${nfct} add timeout policy-$i inet tcp established $i || exit 1; done`;
    const [ref, kit] = await Promise.all([
      run(t.ref, ["bash", "-c", loop("nfct")]),
      run(t.kit, ["bash", "-c", loop(`${CTKIT} nfct`)]),
    ]);
    if (ref.code !== 0 || kit.code !== 0) {
      throw new Error(`adding policies failed: ${ref.stderr}${kit.stderr}`);
    }
    await t.nfct("list", "timeout");
    await t.nfct("flush", "timeout");
  });
});

Deno.test("nfct: an unprivileged user gets the reference's permission errors", async () => {
  const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  await twin(async (t) => {
    for (
      const args of [["add", "timeout", "x", "inet", "udp", "unreplied", "1"], ["list", "timeout"], [
        "list",
        "helper",
      ]]
    ) {
      await t.compare([...asNobody, "nfct", ...args], [...asNobody, CTKIT, "nfct", ...args], args);
    }
  });
});
