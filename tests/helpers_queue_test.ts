// The NFQUEUE path in throw-away namespaces (iptables -j NFQUEUE): ctkit binds
// the queue, receives the packets and its ACCEPT/DROP verdicts decide
// delivery; a full queue drops, or lets packets by with fail-open; a rule
// without a listener drops, or passes with --queue-bypass. And the daemon
// with a Helper section on this kernel: one clear refusal, exit 1, nothing
// left running, compared with what the reference conntrackd prints.
import { deepStrictEqual, ok as assert } from "node:assert";
import { CTKIT, Netns, withNetns } from "./lib/netns.ts";

function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

const SCENARIO = new URL("./lib/nfqueue_scenario.ts", import.meta.url).pathname;
const DENO = Deno.execPath();

async function scenario(ns: Netns, name: string, queue: number, bypass = false) {
  const rule = ["-p", "udp", "--dport", "9999", "-j", "NFQUEUE", "--queue-num", String(queue)];
  const add = await ns.exec(["iptables", "-A", "OUTPUT", ...rule, ...(bypass ? ["--queue-bypass"] : [])]);
  assertEquals(add.code, 0, add.stderr);
  const r = await ns.exec([DENO, "run", "-A", "--no-check", "--unstable-net", SCENARIO, name, String(queue)]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

const all = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

Deno.test("nfqueue: queued packets reach ctkit; ACCEPT delivers and DROP discards", async () => {
  await withNetns(1, async (ns) => {
    const r = await scenario(ns, "verdicts", 3);
    assertEquals(r.queued, ["accept-0", "drop-1", "accept-2", "drop-3", "accept-4", "accept-5"]);
    assertEquals(r.delivered, ["accept-0", "accept-2", "accept-4", "accept-5"]);
    // This kernel has no NFQUEUE conntrack glue: the conntrack flag is refused (EOPNOTSUPP).
    assertEquals(r.conntrackFlag, 95);
  });
});

Deno.test("nfqueue: a full queue (QueueLen 4) drops the excess; queued ones wait for their verdict", async () => {
  await withNetns(1, async (ns) => {
    const r = await scenario(ns, "full", 5);
    assertEquals(r.beforeVerdicts, []);
    assertEquals(r.queued, all("accept", 4));
    assertEquals(r.delivered, all("accept", 4).sort());
  });
});

Deno.test("nfqueue: fail-open (NFQA_CFG_F_FAIL_OPEN) lets the excess through while the queue is full", async () => {
  await withNetns(1, async (ns) => {
    const r = await scenario(ns, "failopen", 6);
    assertEquals(r.beforeVerdicts.sort(), all("accept", 10).slice(4).sort());
    assertEquals(r.queued, all("accept", 4));
    assertEquals(r.delivered, all("accept", 10).sort());
  });
});

Deno.test("nfqueue: no listener drops, --queue-bypass passes", async () => {
  await withNetns(1, async (ns) => {
    assertEquals((await scenario(ns, "unbound", 8)).delivered, []);
  });
  await withNetns(1, async (ns) => {
    assertEquals((await scenario(ns, "unbound", 8, true)).delivered, all("accept", 3));
  });
});

const HELPER_CONF = (dir: string, setup: boolean) =>
  `General {
  LockFile ${dir}/lock
  UNIX { Path ${dir}/ctl }
  LogFile ${dir}/log
}
Helper {
  Setup ${setup ? "on" : "off"}
  Type ftp inet tcp {
    QueueNum 0
    QueueLen 10240
    Policy ftp { ExpectMax 1 ExpectTimeout 300 }
  }
  Type tftp inet udp { QueueNum 1 }
}
`;

async function runDaemon(ns: Netns, argv: string[], dir: string) {
  const r = await ns.exec(["timeout", "30", ...argv], { env: { CTKIT_FROM_SOURCE: "1" } });
  const log = await Deno.readTextFile(`${dir}/log`).catch(() => "");
  const lockLeft = await Deno.stat(`${dir}/lock`).then(() => true, () => false);
  const queues = (await ns.exec(["cat", "/proc/net/netfilter/nfnetlink_queue"])).stdout;
  return { ...r, log, lockLeft, queues };
}

Deno.test("daemon: a Helper section on this kernel is refused with one clear message (reference: EINVAL)", async () => {
  await withNetns(2, async (a, b) => {
    for (const setup of [true, false]) {
      const dir = await Deno.makeTempDir({ prefix: "ctk-helper-" });
      const refDir = await Deno.makeTempDir({ prefix: "ctk-helper-ref-" });
      try {
        await Deno.writeTextFile(`${dir}/conf`, HELPER_CONF(dir, setup));
        await Deno.writeTextFile(`${refDir}/conf`, HELPER_CONF(refDir, setup));
        const ours = await runDaemon(a, [CTKIT, "conntrackd", "-C", `${dir}/conf`], dir);
        const ref = await runDaemon(b, ["/usr/sbin/conntrackd", "-C", `${refDir}/conf`], refDir);
        const missing = "cannot run the user-space helpers of the Helper section: this kernel lacks " +
          "nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER) and the NFQUEUE conntrack glue " +
          "(CONFIG_NETFILTER_NETLINK_GLUE_CT)";
        // Same exit status and final line as the reference; ours names what is missing.
        assertEquals([ours.code, ref.code], [1, 1]);
        const lines = ours.stderr.trim().split("\n").map((l) => l.replace(/^\[.*?\] \(pid=\d+\) /, ""));
        assertEquals(lines, [
          `[ERROR] ${missing}`,
          "[ERROR] conntrackd cannot start, please review your configuration",
        ]);
        assert(/trying to configure cthelper `(ftp|tftp)': Invalid argument/.test(ref.stderr), ref.stderr);
        assert(ref.stderr.includes("conntrackd cannot start, please review your configuration"));
        assert(ours.log.includes(missing));
        // Nothing half-started: no lock file, no queue left bound, no process left (the command returned).
        assertEquals([ours.lockLeft, ref.lockLeft], [false, false]);
        assertEquals(ours.queues.trim(), "");
      } finally {
        await Deno.remove(dir, { recursive: true });
        await Deno.remove(refDir, { recursive: true });
      }
    }
  });
});

Deno.test("daemon: helper configuration errors are reported before touching the kernel", async () => {
  await withNetns(1, async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "ctk-helper-" });
    try {
      const conf = HELPER_CONF(dir, true).replace("ExpectMax 1", "ExpectMax 300");
      await Deno.writeTextFile(`${dir}/conf`, conf);
      const r = await runDaemon(ns, [CTKIT, "conntrackd", "-C", `${dir}/conf`], dir);
      assertEquals(r.code, 1);
      assert(
        r.stderr.includes("helper `ftp': policy `ftp' has ExpectMax 300, the kernel allows at most 255"),
        r.stderr,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
