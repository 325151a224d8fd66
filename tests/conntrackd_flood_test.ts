// ctkit's conntrackd under an event flood: 100 000 new entries and then their
// destruction, as fast as the kernel makes them, with a netlink buffer far too
// small (64 KiB). The daemon must keep answering its control socket, overrun,
// grow the buffer within NetlinkBufferSizeMaxGrowth, resync with the kernel,
// and end up with a cache that equals the kernel table.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { CTKIT, type Netns, withNetns } from "./lib/netns.ts";

const N = 100_000;

function config(dir: string): string {
  return `General {
\tLockFile ${dir}/lock
\tUNIX { Path ${dir}/ctl }
\tLogFile ${dir}/log
\tNetlinkBufferSize 65536
\tNetlinkBufferSizeMaxGrowth 262144
\tNetlinkOverrunResync 1
}
Stats {
\tLogFile off
}
`;
}

/** `-s` figure "current active connections". */
async function active(ns: Netns, conf: string): Promise<number> {
  const r = await ns.exec(["timeout", "10", CTKIT, "conntrackd", "-C", conf, "-s"]);
  const m = /current active connections:\s+(\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : -1;
}

async function runtime(ns: Netns, conf: string): Promise<Record<string, number>> {
  const r = await ns.exec([CTKIT, "conntrackd", "-C", conf, "-s", "runtime"]);
  const out: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/^\t([a-z ()]+):\t+\s*(\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

async function kernelCount(ns: Netns): Promise<number> {
  const r = await ns.exec(["conntrack", "-C"]);
  return Number(r.stdout.trim());
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return performance.now() - start;
}

Deno.test("event flood: overrun, buffer growth, resync, the cache equals the kernel table", async () => {
  await withNetns(1, async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "ctkit-flood-" });
    const conf = `${dir}/c.conf`;
    await Deno.writeTextFile(conf, config(dir));
    let batch = "";
    for (let i = 0; i < N; i++) {
      batch += `-I -p udp -s 10.${i >> 16}.${(i >> 8) & 255}.${
        i & 255
      } -d 10.200.0.1 --sport 1 --dport 2 -t 600\n`;
    }
    await Deno.writeTextFile(`${dir}/batch`, batch);
    const daemon = ns.spawn([CTKIT, "conntrackd", "-C", conf]);
    try {
      await waitFor("the control socket", async () => (await active(ns, conf)) === 0, 15_000);
      // The flood, and the control socket probed while it runs.
      const load = ns.exec(["conntrack", "-R", `${dir}/batch`]);
      let worst = 0, probes = 0, loading = true;
      load.finally(() => loading = false);
      while (loading) {
        const t = performance.now();
        assert((await active(ns, conf)) >= 0, "the daemon answers during the flood");
        worst = Math.max(worst, performance.now() - t);
        probes++;
      }
      assertEquals((await load).code, 0);
      assertEquals(await kernelCount(ns), N);
      const settle = await waitFor(
        "the cache to equal the kernel table",
        async () => (await active(ns, conf)) === N,
        60_000,
      );
      const rt = await runtime(ns, conf);
      console.log(
        `flood of ${N}: ${probes} control requests during it, slowest ${worst.toFixed(0)} ms; ` +
          `overruns ${rt["netlink overrun"]}, buffer ${rt["current buffer size (in bytes)"]}, ` +
          `resyncs ${rt["resync with kernel table"]}; cache complete ${settle.toFixed(0)} ms after the load`,
      );
      assert(worst < 5000, `control socket stalled for ${worst} ms`);
      assert(rt["netlink overrun"] > 0, "a 64 KiB buffer must overrun under this flood");
      const grown = rt["current buffer size (in bytes)"];
      assert(grown >= 131072 && grown <= 262144, `buffer grew within NetlinkBufferSizeMaxGrowth (${grown})`);
      assert(rt["resync with kernel table"] > 0);
      const log = await Deno.readTextFile(`${dir}/log`);
      assert(log.includes("netlink event socket buffer size has been doubled to 131072 bytes"));

      // And back down: every entry destroyed; the resync's purge forgets what the events missed.
      await ns.exec(["conntrack", "-F"]);
      await waitFor("the cache to empty", async () => (await active(ns, conf)) === 0, 60_000);
    } finally {
      await ns.exec([CTKIT, "conntrackd", "-C", conf, "-k"]);
      await daemon.status;
      await Deno.remove(dir, { recursive: true });
    }
  });
});
