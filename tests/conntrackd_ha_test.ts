// `ctkit conntrackd ha`: argument conventions (primary-backup.sh words,
// keepalived's notify arguments, the notify FIFO), and the transitions against
// ctkit's daemon (one request, guard lifted by the daemon) and against the
// reference conntrackd (the standard requests), in the failover testbed's
// firewall namespaces.
import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
  throws as assertThrows,
} from "node:assert";
import { FifoFilter, parseFifoLine, parseHaArgs, splitHaCommand } from "../src/conntrackd/ha/mod.ts";
import { HaUsageError } from "../src/conntrackd/ha/args.ts";
import { CTKIT, type Fw, Testbed } from "../scripts/failover/testbed.ts";

Deno.test("ha arguments: primary-backup.sh words and keepalived's notify arguments", () => {
  assertEquals(parseHaArgs(["primary"]).role, "primary");
  assertEquals(parseHaArgs(["backup"]).role, "backup");
  assertEquals(parseHaArgs(["fault"]).role, "fault");
  const g = parseHaArgs(["--log", "/tmp/x", "GROUP", "G", "MASTER", "0"]);
  assertEquals([g.role, g.cause, g.logFile, g.guard], ["primary", "GROUP G MASTER", "/tmp/x", true]);
  assertEquals(parseHaArgs(["INSTANCE", "VI_1", "BACKUP", "100"]).role, "backup");
  assertEquals(parseHaArgs(["INSTANCE", "VI_1", "FAULT"]).role, "fault");
  assertEquals(parseHaArgs(["INSTANCE", "VI_1", "STOP", "100"]).role, "fault");
  assertEquals(parseHaArgs(["--no-guard", "primary"]).guard, false);
  assertEquals(parseHaArgs(["--daemon", "/usr/sbin/conntrackd", "backup"]).daemonCommand, [
    "/usr/sbin/conntrackd",
  ]);
  // keepalived appends the FIFO's path to vrrp_notify_fifo_script's command.
  assertEquals(parseHaArgs(["--no-guard", "--fifo", "/run/k.fifo"]).fifo, "/run/k.fifo");
  assertThrows(() => parseHaArgs(["GROUP", "G", "UNKNOWN", "0"]), HaUsageError);
  assertThrows(() => parseHaArgs([]), HaUsageError);
  assertThrows(() => parseHaArgs(["--fifo", "/f", "primary"]), HaUsageError);
  assertThrows(() => parseHaArgs(["--frobnicate", "primary"]), HaUsageError);
});

Deno.test("ha arguments: `ha` is found after -C FILE only", () => {
  assertEquals(splitHaCommand(["-C", "/etc/c.conf", "ha", "primary"]), {
    configPath: "/etc/c.conf",
    rest: ["primary"],
  });
  assertEquals(splitHaCommand(["ha", "backup"]), { configPath: null, rest: ["backup"] });
  assertEquals(splitHaCommand(["-C", "/etc/c.conf", "-c"]), null);
  assertEquals(splitHaCommand(["-s", "ha"]), null);
  assertEquals(splitHaCommand(["-C", "ha"]), null);
});

Deno.test("ha FIFO lines: a sync group's own lines drive it, repeats are skipped", () => {
  assertEquals(parseFifoLine('INSTANCE "VI_1" MASTER 100'), {
    kind: "INSTANCE",
    name: "VI_1",
    state: "MASTER",
    role: "primary",
  });
  assertEquals(parseFifoLine('GROUP "G" BACKUP 0')?.role, "backup");
  assertEquals(parseFifoLine("garbage"), null);
  // The order keepalived 2.2 writes for a sync group G of LAN and WAN.
  const lines = [
    'GROUP "G" BACKUP 0',
    'INSTANCE "LAN" BACKUP 150',
    'INSTANCE "WAN" BACKUP 150',
    'INSTANCE "LAN" MASTER 150',
    'INSTANCE "WAN" MASTER 150',
    'GROUP "G" MASTER 0',
    'GROUP "G" MASTER 0',
    'GROUP "G" FAULT 0',
  ];
  const f = new FifoFilter();
  const taken = lines.map(parseFifoLine).filter((e) => e && f.accept(e)).map((e) => `${e!.kind} ${e!.state}`);
  assertEquals(taken, ["GROUP BACKUP", "GROUP MASTER", "GROUP FAULT"]);
  // Without a group, instances drive it; with --name, only that one.
  const g = new FifoFilter();
  assertEquals(g.accept(parseFifoLine('INSTANCE "VI_1" MASTER 100')!), true);
  const n = new FifoFilter("WAN");
  assertEquals(n.accept(parseFifoLine('INSTANCE "LAN" MASTER 100')!), false);
  assertEquals(n.accept(parseFifoLine('INSTANCE "WAN" MASTER 100')!), true);
});

// ---------------------------------------------------------------- in namespaces

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(probe: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(100);
  }
}

function ha(bed: Testbed, fw: Fw, args: string[]) {
  return bed.exec(fw, [CTKIT, "conntrackd", "-C", bed.conf(fw), "ha", "--log", bed.haLog(fw), ...args]);
}

async function haText(bed: Testbed, fw: Fw): Promise<string> {
  return (await bed.haLines(fw)).map((l) => l.msg).join("\n");
}

/** The guard rule is in the firewall's mangle table. */
async function guarded(bed: Testbed, fw: Fw): Promise<boolean> {
  const out = await bed.must(fw, ["iptables", "-w", "-t", "mangle", "-S"]);
  return /-A CTKIT-HA-GUARD .*--ctstate INVALID,NEW -j DROP/.test(out) &&
    /-A PREROUTING -j CTKIT-HA-GUARD/.test(out);
}

/** Three TCP flows in a firewall's kernel table (they sync to the other one). */
async function makeFlows(bed: Testbed, fw: Fw, net: number): Promise<void> {
  for (let i = 1; i <= 3; i++) {
    await bed.must(fw, [
      "conntrack",
      "-I",
      "-s",
      `10.${net}.0.${i}`,
      "-d",
      "198.51.100.9",
      "-p",
      "tcp",
      "--sport",
      `${2000 + i}`,
      "--dport",
      "443",
      "--state",
      "ESTABLISHED",
      "-t",
      "600",
      "-u",
      "ASSURED",
    ]);
  }
}

async function kernelHas(bed: Testbed, fw: Fw, net: number): Promise<number> {
  const out = (await bed.exec(fw, ["conntrack", "-L", "-s", `10.${net}.0.0/24`])).stdout;
  return out.split("\n").filter((l) => l.includes("dport=443")).length;
}

Deno.test({
  name: "ha: ctkit's daemon does the transitions in one request, the reference gets the standard requests",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const bed = await Testbed.create({
      daemons: { fw1: "ctkit", fw2: "ref" },
      driver: "fifo",
      guard: true,
      snat: "none",
      tcpLoose: 0,
      advertInt: 1,
    });
    try {
      await bed.buildNetwork();
      await bed.startConntrackd("fw1");
      await bed.startConntrackd("fw2");

      // ctkit's daemon on fw1: fault installs the guard, primary commits and lifts it.
      assertEquals((await ha(bed, "fw1", ["fault"])).code, 0);
      assert(await guarded(bed, "fw1"), "fault installs the guard");
      assertMatch(await haText(bed, "fw1"), /fault -> fault\n.*guard installed.*\nfault done/s);
      await makeFlows(bed, "fw2", 71);
      await until(async () => (await bed.cacheCounts("fw1")).external >= 3, 10_000);
      const r = await ha(bed, "fw1", ["INSTANCE", "VI_1", "MASTER", "100"]);
      assertEquals(r.code, 0, r.stderr);
      const log1 = await haText(bed, "fw1");
      assertMatch(log1, /INSTANCE VI_1 MASTER -> primary/);
      assertMatch(log1, /commit complete: 3 conntracks, 0 expectations in [\d.]+ ms/);
      assertMatch(log1, /guard lifted/);
      assertMatch(log1, /one request to ctkit's daemon/);
      assertEquals(await kernelHas(bed, "fw1", 71), 3, "the synced flows are in fw1's kernel");
      assert(!(await guarded(bed, "fw1")), "primary lifts the guard");
      const ctd1 = await Deno.readTextFile(bed.file("fw1.conntrackd.log"));
      assertMatch(
        ctd1,
        /committing all external caches[\s\S]*flushing caches[\s\S]*resync with master conntrack table/,
      );
      assertMatch(ctd1, /sending bulk update[\s\S]*ha: primary transition done/);
      // The daemon hears of new entries again (the commit paused its NEW events).
      const before = (await bed.cacheCounts("fw1")).internal;
      await makeFlows(bed, "fw1", 73);
      await until(async () => (await bed.cacheCounts("fw1")).internal >= before + 3, 10_000);
      // backup: purge scheduled and resync requested, in the same single request.
      assertEquals((await ha(bed, "fw1", ["GROUP", "G", "BACKUP", "0"])).code, 0);
      assert(await guarded(bed, "fw1"));
      assertMatch(
        await Deno.readTextFile(bed.file("fw1.conntrackd.log")),
        /flushing conntrack table in \d+ secs/,
      );

      // The reference on fw2: no HA reply, so -c, -f, -R, -B one after the other.
      await makeFlows(bed, "fw1", 72);
      await until(async () => (await bed.cacheCounts("fw2")).external >= 3, 10_000);
      assertEquals((await ha(bed, "fw2", ["backup"])).code, 0);
      assert(await guarded(bed, "fw2"));
      const r2 = await ha(bed, "fw2", ["GROUP", "G", "MASTER", "0"]);
      assertEquals(r2.code, 0, r2.stderr);
      const log2 = await haText(bed, "fw2");
      assertMatch(log2, /backup done .*\(-t\), resync requested \(-n\)/);
      assertMatch(log2, /the daemon is not ctkit's: running -c, -f, -R, -B/);
      assertMatch(log2, /commit complete in [\d.]+ ms\n.*guard lifted/);
      assertEquals(await kernelHas(bed, "fw2", 72), 3, "the synced flows are in fw2's kernel");
      assert(!(await guarded(bed, "fw2")));
      const ref = await Deno.readTextFile(bed.file("fw2.conntrackd.log"));
      assertMatch(
        ref,
        /committing all external caches[\s\S]*flushing caches[\s\S]*resync with master conntrack table[\s\S]*sending bulk update/,
      );
    } finally {
      await bed.destroy();
    }
  },
});

Deno.test({
  name:
    "ha: backup starts a daemon that is not running (removing a stale lock), --fifo follows keepalived in order",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const bed = await Testbed.create({
      daemons: { fw1: "ctkit", fw2: "ctkit" },
      driver: "fifo",
      guard: true,
      snat: "none",
      tcpLoose: 0,
      advertInt: 1,
    });
    try {
      await bed.buildNetwork();
      await bed.startConntrackd("fw1");
      // A crashed daemon: SIGKILL leaves its lock file and socket behind.
      await bed.crashDaemon("fw1");
      const r = await ha(bed, "fw1", ["backup"]);
      assertEquals(r.code, 0, await haText(bed, "fw1"));
      const log = await haText(bed, "fw1");
      assertMatch(log, /not cleanly stopped: removing its lock file/);
      assertMatch(log, /conntrackd is not running: starting .* -d/);
      assertMatch(log, /backup done/);
      assertMatch(await bed.ctd("fw1", ["-s", "runtime"]), /daemon uptime/);

      // FIFO mode: the guard goes in at start, then one transition per accepted line, in order.
      await Deno.writeTextFile(bed.haLog("fw2"), "");
      await bed.startConntrackd("fw2");
      const fifo = bed.file("fw2.test.fifo");
      bed.spawnLogged(
        "fw2",
        `${CTKIT} conntrackd -C ${bed.conf("fw2")} ha --log ${bed.haLog("fw2")} --fifo ${fifo}`,
        bed.file("fw2.ha.console"),
      );
      await until(async () => /guard installed/.test(await haText(bed, "fw2")), 20_000);
      assert(await guarded(bed, "fw2"));
      const w = await Deno.open(fifo, { write: true });
      const lines = [
        'GROUP "G" BACKUP 0',
        'INSTANCE "LAN" BACKUP 100',
        'INSTANCE "LAN" MASTER 100',
        'GROUP "G" MASTER 0',
        'GROUP "G" FAULT 0',
      ];
      await w.write(new TextEncoder().encode(lines.join("\n") + "\n"));
      w.close();
      await until(async () => /fault done/.test(await haText(bed, "fw2")), 20_000);
      const transitions = (await haText(bed, "fw2")).split("\n").filter((l) => l.includes(" -> "));
      assertEquals(transitions, [
        "GROUP G BACKUP -> backup",
        "GROUP G MASTER -> primary",
        "GROUP G FAULT -> fault",
      ]);
      assert(await guarded(bed, "fw2"), "fault puts the guard back");
    } finally {
      await bed.destroy();
    }
  },
});
