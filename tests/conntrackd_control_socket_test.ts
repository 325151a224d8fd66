// The daemon's control socket (src/conntrackd/daemon/local_server.ts): the
// socket file is 0600 from its creation, a client that connects and sends
// nothing is dropped after a timeout without holding up anyone else, and a
// daemon that ran out of file descriptors (EMFILE in accept()) keeps serving
// once descriptors are free again — a Stats-mode daemon in a throw-away
// namespace under RLIMIT_NOFILE 64, flooded with silent connections. The last
// test pins what the reference conntrackd 1.4.7 does with one silent client:
// it reads the request in its main loop, so it stalls until the client leaves.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { IDLE_TIMEOUT_MS, LocalServer } from "../src/conntrackd/daemon/local_server.ts";
import { libcProcess } from "../ffi/libc_process.ts";
import { CTKIT, Netns, sh } from "./lib/netns.ts";

const REF_CONNTRACKD = "/usr/sbin/conntrackd";
const REF_CONNTRACK = "/usr/sbin/conntrack";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One request on a UNIX socket: the whole reply, or null if none came within `ms`. */
async function ask(path: string, code: number, ms = 2000): Promise<string | null> {
  const conn = await Deno.connect({ transport: "unix", path });
  const timer = setTimeout(() => conn.close(), ms);
  try {
    await conn.write(new Uint8Array(new Int32Array([code]).buffer));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** Resolves with the ms until the peer closes `conn` (read returns EOF), or -1 after `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<number> {
  const start = performance.now();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, ms);
  try {
    while ((await conn.read(new Uint8Array(16))) !== null) { /* nothing is sent */ }
  } catch {
    // closed by the timer
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) return -1;
  try {
    conn.close();
  } catch { /* already closed */ }
  return performance.now() - start;
}

Deno.test("control socket: created 0600 under any umask, without a chmod, the caller's umask kept", () => {
  const dir = Deno.makeTempDirSync({ prefix: "ctkit-ctl-" });
  const chmodSync = Deno.chmodSync;
  const chmods: string[] = [];
  Deno.chmodSync = (path, mode) => {
    chmods.push(`${path} ${mode.toString(8)}`);
    chmodSync(path, mode);
  };
  const previous = libcProcess().umask(0);
  try {
    for (const umask of [0, 0o022, 0o177]) {
      libcProcess().umask(umask);
      const path = `${dir}/ctl-${umask.toString(8)}`;
      const server = LocalServer.create(path);
      try {
        // Checked before anything else runs: there is no later step that could fix the mode.
        const mode = Deno.lstatSync(path).mode! & 0o7777;
        assertEquals(mode.toString(8), "600", `under umask ${umask.toString(8)}`);
        assert(Deno.lstatSync(path).isSocket);
      } finally {
        server.close();
      }
      assertEquals(libcProcess().umask(0).toString(8), umask.toString(8), "the umask is restored");
    }
    assertEquals(chmods, [], "no chmod: the mode is right from the bind()");
  } finally {
    Deno.chmodSync = chmodSync;
    libcProcess().umask(previous);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("control socket: a silent client is dropped after the timeout and counted; others are served meanwhile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctkit-ctl-" });
  const path = `${dir}/ctl`;
  const server = LocalServer.create(path);
  let readFailed = 0;
  const serving = server.serve((code) => Promise.resolve([`request ${code}\n`]), {
    onReadFailed: () => readFailed++,
    idleTimeoutMs: 400,
  });
  try {
    const silent = await Deno.connect({ transport: "unix", path });
    const dropped = closedWithin(silent, 5000);
    const t = performance.now();
    assertEquals(await ask(path, 21), "request 21\n");
    assert(performance.now() - t < 300, "answered while the silent client is connected");
    const ms = await dropped;
    assert(ms >= 300 && ms < 3000, `the silent client was dropped after ${ms.toFixed(0)} ms`);
    assertEquals(readFailed, 1);
    // A client that closes without a request is counted as before (the reference's `local read failed`).
    (await Deno.connect({ transport: "unix", path })).close();
    for (let i = 0; i < 50 && readFailed < 2; i++) await sleep(20);
    assertEquals(readFailed, 2);
    assertEquals(IDLE_TIMEOUT_MS, 5000, "the daemon's default");
  } finally {
    server.close();
  }
  // Closing the listener ends the accept loop (it is not an accept error to wait out).
  assertEquals(
    await Promise.race([serving.then(() => "ended"), sleep(2000).then(() => "still serving")]),
    "ended",
  );
  await Deno.remove(dir, { recursive: true });
});

/** A daemon started in `ns` with its console output in `dir`/console; its pid is the child's. */
function spawnDaemon(ns: Netns, dir: string, command: string, nofile?: number): Deno.ChildProcess {
  const limit = nofile === undefined ? [] : ["prlimit", `--nofile=${nofile}:${nofile}`];
  return new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns.name,
      ...limit,
      "sh",
      "-c",
      `exec ${command} -C "$0" >>"$1" 2>&1`,
      `${dir}/conf`,
      `${dir}/console`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitForSocket(path: string, child: Deno.ChildProcess, console: string): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  for (let i = 0; i < 400 && !exited; i++) {
    if ((await Deno.lstat(path).catch(() => null))?.isSocket && (await ask(path, 30, 5000)) !== null) return;
    await sleep(50);
  }
  throw new Error(`the daemon did not start:\n${await Deno.readTextFile(console).catch(() => "")}`);
}

async function stopDaemon(child: Deno.ChildProcess): Promise<void> {
  const exited = (ms: number) => Promise.race([child.status.then(() => true), sleep(ms).then(() => false)]);
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  if (!(await exited(5000))) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await exited(3000);
  }
}

function statsConfig(dir: string): string {
  return `General {\n\tLockFile ${dir}/lock\n\tUNIX {\n\t\tPath ${dir}/ctl\n\t}\n\tLogFile ${dir}/log\n` +
    `\tSyslog off\n}\nStats {\n\tLogFile off\n\tSyslog off\n}\n`;
}

/** Silent connections to `path` (each waits in the backlog until the daemon accepts it). */
async function silentClients(path: string, n: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i++) conns.push(await Deno.connect({ transport: "unix", path }));
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed by the daemon's side already */ }
  }
}

/** Descriptors below `limit` the process has open (the runtime keeps one of its own far above it). */
const openFds = (pid: number, limit = 64) =>
  [...Deno.readDirSync(`/proc/${pid}/fd`)].filter((e) => Number(e.name) < limit).length;

Deno.test({
  name: "control socket: out of file descriptors (EMFILE), the daemon keeps serving and keeps its other work",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const LIMIT = 64;
    await sh([CTKIT, "conntrackd", "-v"]); // the bundle is built before the daemon's clock starts
    const ns = await Netns.create("ctkfd");
    const dir = await Deno.makeTempDir({ prefix: "ctkit-emfile-" });
    const path = `${dir}/ctl`;
    let daemon: Deno.ChildProcess | null = null;
    const held: Deno.Conn[] = [];
    try {
      await Deno.writeTextFile(`${dir}/conf`, statsConfig(dir));
      daemon = spawnDaemon(ns, dir, `${CTKIT} conntrackd`, LIMIT);
      await waitForSocket(path, daemon, `${dir}/console`);
      const pid = daemon.pid;
      assert(
        (await Deno.readTextFile(`/proc/${pid}/limits`)).match(/Max open files\s+64\s+64/),
        "the daemon runs under the limit",
      );
      const spare = LIMIT - openFds(pid);
      assert(spare > 0 && spare < LIMIT, `${spare} descriptors left`);

      // 1. More silent clients than descriptors; the test then closes them itself.
      held.push(...await silentClients(path, spare + 30));
      for (let i = 0; i < 100 && openFds(pid) < LIMIT; i++) await sleep(20);
      assertEquals(openFds(pid), LIMIT, "every descriptor is in use");
      // Kernel events still reach the daemon while it cannot accept anyone.
      const created = await ns.exec([
        REF_CONNTRACK,
        "-I",
        "-p",
        "udp",
        "-s",
        "10.9.0.1",
        "-d",
        "10.9.0.2",
        "--sport",
        "1000",
        "--dport",
        "53",
        "-t",
        "300",
      ]);
      assertEquals(created.code, 0, created.stderr);
      await sleep(300);
      closeAll(held.splice(0));
      const t1 = performance.now();
      const r1 = await ns.exec(["timeout", "4", CTKIT, "conntrackd", "-C", `${dir}/conf`, "-s"]);
      assertEquals(r1.code, 0, `-s once the clients left: exit ${r1.code} ${r1.stderr}`);
      assert(r1.stdout.includes("current active connections:\t           1\n"), r1.stdout);
      const w1 = performance.now() - t1;
      assert(w1 < 2000, `answered in ${w1.toFixed(0)} ms`);

      // 2. The same flood left open: the daemon drops the silent clients after its timeout.
      held.push(...await silentClients(path, spare + 30));
      for (let i = 0; i < 100 && openFds(pid) < LIMIT; i++) await sleep(20);
      assertEquals(openFds(pid), LIMIT, "every descriptor is in use again");
      const t2 = performance.now();
      const r2 = await ns.exec([
        "timeout",
        "20",
        "/usr/sbin/conntrackd",
        "-C",
        `${dir}/conf`,
        "-s",
        "runtime",
      ]);
      const w2 = performance.now() - t2;
      assertEquals(r2.code, 0, `-s runtime while the clients stay: exit ${r2.code} ${r2.stderr}`);
      assert(w2 < 3 * IDLE_TIMEOUT_MS, `answered in ${w2.toFixed(0)} ms`);
      // Every connection the daemon accepted has been closed by it.
      const dropped = await Promise.all(
        held.slice(0, spare).map((c) => closedWithin(c, 2 * IDLE_TIMEOUT_MS)),
      );
      assert(dropped.every((ms) => ms >= 0), "the daemon closed the silent connections");
      const failed = Number(/local read failed:\s+(\d+)/.exec(r2.stdout)?.[1]);
      assert(failed >= 2 * spare, `local read failed: ${failed}`);
      closeAll(held.splice(0));

      // One warning per run of failures at most every 10 s, and a notice when they end.
      const log = await Deno.readTextFile(`${dir}/log`);
      const warnings = log.split("\n").filter((l) =>
        l.includes("[warning] can't accept a connection on the unix socket: Too many open files, retrying")
      );
      assert(warnings.length >= 1 && warnings.length <= 3, log);
      assert(/\[notice\] unix socket: accepting connections again after \d+ failed attempts/.test(log), log);
      assertEquals(daemon.pid, pid);
      assert(!log.includes("internal error"), log);
    } finally {
      closeAll(held);
      if (daemon) await stopDaemon(daemon);
      await ns.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "control socket: one silent client stalls the reference conntrackd until it leaves, not ctkit's",
  ignore: (() => {
    try {
      Deno.statSync(REF_CONNTRACKD);
      return false;
    } catch {
      return true;
    }
  })(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sh([CTKIT, "conntrackd", "-v"]);
    const ns = await Netns.create("ctkfd");
    const base = await Deno.makeTempDir({ prefix: "ctkit-silent-" });
    const daemons: Deno.ChildProcess[] = [];
    try {
      const stalled: Record<string, number> = {};
      for (const [name, command] of [["reference", REF_CONNTRACKD], ["ctkit", `${CTKIT} conntrackd`]]) {
        const dir = `${base}/${name}`;
        await Deno.mkdir(dir);
        await Deno.writeTextFile(`${dir}/conf`, statsConfig(dir));
        const d = spawnDaemon(ns, dir, command);
        daemons.push(d);
        await waitForSocket(`${dir}/ctl`, d, `${dir}/console`);
        const silent = await Deno.connect({ transport: "unix", path: `${dir}/ctl` });
        await sleep(200);
        const r = await ns.exec(["timeout", "2", REF_CONNTRACKD, "-C", `${dir}/conf`, "-s", "runtime"]);
        stalled[name] = r.code;
        silent.close();
        // Once the silent client is gone both answer.
        const after = await ns.exec(["timeout", "5", REF_CONNTRACKD, "-C", `${dir}/conf`, "-s", "runtime"]);
        assertEquals(after.code, 0, `${name}: ${after.stderr}`);
      }
      // timeout(1) exits 124 when the request was still waiting.
      assertEquals(stalled, { reference: 124, ctkit: 0 });
    } finally {
      for (const d of daemons) await stopDaemon(d);
      await ns.destroy();
      await Deno.remove(base, { recursive: true });
    }
  },
});
