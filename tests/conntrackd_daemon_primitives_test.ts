// The conntrackd daemon's process plumbing: log lines, syslog records, lock
// file, real-time scheduling, sd_notify and -d. Where the reference can show
// the same thing without running a daemon outside a namespace, it is the
// oracle: its log line, stderr text, syslog record and notify datagrams are
// captured and compared. Syslog is captured by bind-mounting a datagram
// socket of ours over /dev/log inside a private mount namespace; every
// reference conntrackd runs inside a throw-away network namespace.
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert";
import { sh } from "./lib/netns.ts";
import { ctime, DaemonLog, formatLogLine } from "../src/conntrackd/daemon/log.ts";
import { acquireLock, releaseLock } from "../src/conntrackd/daemon/lock.ts";
import { sdNotify, SystemdNotifier } from "../src/conntrackd/daemon/systemd.ts";
import {
  AF_UNIX,
  libcUnixDgram,
  MSG_DONTWAIT,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  sockaddrUnix,
} from "../ffi/libc_process.ts";

const REFERENCE = "/usr/sbin/conntrackd";
const hasReference = (() => {
  try {
    return Deno.statSync(REFERENCE).isFile;
  } catch {
    return false;
  }
})();
const dec = new TextDecoder();
const mod = (path: string) => new URL(`../${path}`, import.meta.url).href;

/** Runs a throw-away Deno script (source `code`) with `args`; `prefix` wraps the command (unshare, script). */
async function runScript(
  dir: string,
  code: string,
  args: string[] = [],
  opts: { env?: Record<string, string>; prefix?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string; pid: number }> {
  const file = `${dir}/script-${crypto.randomUUID().slice(0, 8)}.ts`;
  Deno.writeTextFileSync(file, code);
  const argv = [...(opts.prefix ?? []), Deno.execPath(), "run", "-A", "--no-check", file, ...args];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), pid: child.pid };
}

/** A bound AF_UNIX datagram socket that collects what arrives (syslog records, sd_notify states). */
class DgramReceiver {
  readonly messages: string[] = [];
  private fd: number;
  private buf = new Uint8Array(4096);

  constructor(readonly address: string) {
    const lib = libcUnixDgram();
    this.fd = lib.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const a = sockaddrUnix(address);
    if (this.fd < 0 || lib.bind(this.fd, a.addr, a.len) !== 0) throw new Error(`cannot bind ${address}`);
  }

  drain(): string[] {
    for (;;) {
      const n = Number(libcUnixDgram().recv(this.fd, this.buf, BigInt(this.buf.length), MSG_DONTWAIT));
      if (n < 0) return this.messages;
      this.messages.push(dec.decode(this.buf.subarray(0, n)));
    }
  }

  async waitFor(done: (messages: string[]) => boolean, timeoutMs = 5000): Promise<string[]> {
    const end = Date.now() + timeoutMs;
    while (!done(this.drain()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.messages;
  }

  close(): void {
    libcUnixDgram().close(this.fd);
    if (!this.address.startsWith("@")) Deno.removeSync(this.address);
  }
}

/** Wraps a command so it runs in a private mount namespace whose /dev/log is `socket`. */
function withDevLog(socket: string): string[] {
  const setup = [
    "mount -t tmpfs tmpfs /dev",
    "mknod -m 666 /dev/null c 1 3",
    "mknod -m 666 /dev/zero c 1 5",
    "mknod -m 666 /dev/random c 1 8",
    "mknod -m 666 /dev/urandom c 1 9",
    "touch /dev/log",
    `mount --bind '${socket}' /dev/log`,
    'exec "$@"',
  ].join(" && ");
  return ["unshare", "-m", "--propagation", "private", "sh", "-c", setup, "sh"];
}

/** A throw-away network namespace for the reference; removed afterwards. */
async function inNetns<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `ctkd-prim-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
  await sh(["ip", "netns", "add", ns]);
  try {
    return await fn(ns);
  } finally {
    await sh(["ip", "netns", "del", ns]).catch(() => {});
  }
}

async function withTempDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = Deno.makeTempDirSync({ prefix: "ctkd-prim-" });
  try {
    return await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** A reference config whose files all live in `dir` (Stats mode: needs no peer). */
function referenceConfig(dir: string, general: string, stats = ""): string {
  return `General {\n${general}\n  LockFile ${dir}/lock\n  UNIX { Path ${dir}/ctl.sock }\n}\nStats {\n${stats}\n}\n`;
}

/** True when `line` is formatLogLine(prio, msg) for pid at some second in [from, to]. */
function isLogLine(
  line: string,
  prio: "info" | "notice" | "warning" | "error",
  msg: string,
  pid: number,
  from: number,
  to: number,
) {
  for (let t = Math.floor(from / 1000); t <= Math.floor(to / 1000); t++) {
    if (line === formatLogLine(prio, msg, new Date(t * 1000), pid)) return true;
  }
  return false;
}

Deno.test("ctime() equals C ctime_r and date(1) in several time zones, POSIX TZ rules included", async () => {
  await withTempDir(async (dir) => {
    const code = `
      import { ctime } from "${mod("src/conntrackd/daemon/log.ts")}";
      const lib = Deno.dlopen("libc.so.6", { ctime_r: { parameters: ["buffer", "buffer"], result: "pointer" } });
      const t = new BigInt64Array(1), out = new Uint8Array(64);
      const c = (s) => { t[0] = BigInt(s); lib.symbols.ctime_r(new Uint8Array(t.buffer), out);
        return new TextDecoder().decode(out.subarray(0, out.indexOf(0))).replace(/\\n$/, ""); };
      const bad = []; let n = 0;
      const check = (s) => { n++; const a = ctime(new Date(s * 1000)), b = c(s); if (a !== b) bad.push([s, a, b]); };
      for (let s = 1577836800; s < 1830297600; s += 11227) check(s);          // 2020-2027, odd step
      for (let s = 1772928000; s < 1773100800; s += 60) check(s);            // around 2026-03-08 (US DST)
      for (let s = 1792800000; s < 1793000000; s += 60) check(s);            // around 2026-10-25 (EU DST)
      for (const s of [0, 1, 86399, 1e9, 2147483647, 4102444800]) check(s);
      console.log(JSON.stringify({ n, bad: bad.slice(0, 3), sample: ctime(new Date(1793000000 * 1000)) }));
    `;
    for (const tz of [null, "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "ABC-3:30"]) {
      const env: Record<string, string> = tz === null ? {} : { TZ: tz };
      const r = await runScript(dir, code, [], { env });
      assertEquals(r.code, 0, r.stderr);
      const { n, bad, sample } = JSON.parse(r.stdout);
      assert(n > 20000);
      assertEquals(bad, [], `TZ=${tz}`);
      const date = new Deno.Command("date", {
        args: ["-d", "@1793000000", "+%a %b %e %H:%M:%S %Y"],
        env: tz === null ? {} : { TZ: tz },
      }).outputSync();
      assertEquals(sample, dec.decode(date.stdout).trim(), `TZ=${tz}`);
    }
    // Day of month padded with a space, like ctime.
    assertMatch(ctime(new Date(2026, 10, 1, 9, 5, 7)), /^Sun Nov {2}1 09:05:07 2026$/);
  });
});

Deno.test("log lines: file and console get the same dlog line; console routing, console off, after close", async () => {
  await withTempDir(async (dir) => {
    const code = `
      import { DaemonLog } from "${mod("src/conntrackd/daemon/log.ts")}";
      import { setDaemonUmask } from "${mod("src/conntrackd/daemon/daemonize.ts")}";
      setDaemonUmask();
      const r = DaemonLog.open({ logFile: Deno.args[0], syslog: null, console: true });
      if (!r.ok) throw new Error(r.message);
      r.log.log("info", "an info");
      r.log.log("notice", "a notice");
      r.log.log("warning", "a warning");
      r.log.log("error", "an error");
      r.log.setConsole(false);
      r.log.log("notice", "file only");
      await r.log.close();
      r.log.log("error", "after close");
    `;
    const path = `${dir}/conntrackd.log`;
    const from = Date.now();
    const r = await runScript(dir, code, [path]);
    const to = Date.now();
    assertEquals(r.code, 0, r.stderr);
    const out = r.stdout.split("\n").slice(0, -1);
    const err = r.stderr.split("\n").slice(0, -1);
    const file = Deno.readTextFileSync(path).split("\n").slice(0, -1);
    const line = (l: string, p: "info" | "notice" | "warning" | "error", m: string) =>
      assert(isLogLine(l + "\n", p, m, r.pid, from, to), `${JSON.stringify(l)} is not [${p}] ${m}`);
    assertEquals(out.length, 2);
    line(out[0], "info", "an info");
    line(out[1], "notice", "a notice");
    assertEquals(err.length, 3);
    line(err[0], "warning", "a warning");
    line(err[1], "error", "an error");
    line(err[2], "error", "after close");
    assertEquals(file.length, 5);
    assertEquals(file.slice(0, 2), out);
    assertEquals(file.slice(2, 4), err.slice(0, 2));
    line(file[4], "notice", "file only");
    assertMatch(file[3], /^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] \(pid=\d+\) \[ERROR\] an error$/);
    // fopen("a+") under umask 0177.
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    // Append: a second run adds to the file.
    await runScript(dir, code, [path]);
    assertEquals(Deno.readTextFileSync(path).split("\n").length - 1, 10);
  });
});

Deno.test("log line and lock message match the reference's log file line (lock already taken)", {
  ignore: !hasReference,
}, async () => {
  await withTempDir(async (dir) => {
    Deno.writeTextFileSync(`${dir}/lock`, "");
    Deno.writeTextFileSync(`${dir}/c.conf`, referenceConfig(dir, `  LogFile ${dir}/ref.log`));
    // Console mode prints the line on stderr as well; with -d an open log never writes to the console.
    const [consoleMode, daemonMode] = await inNetns(async (ns) => {
      const run = async (extra: string[]) => {
        const out = await new Deno.Command("ip", {
          args: ["netns", "exec", ns, REFERENCE, ...extra, "-C", `${dir}/c.conf`],
          stdout: "piped",
          stderr: "piped",
        }).output();
        return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
      };
      return [await run([]), await run(["-d"])];
    });
    const refLines = Deno.readTextFileSync(`${dir}/ref.log`).split(/(?<=\n)/);
    assertEquals(refLines.length, 2);
    const refLine = refLines[0];
    assertEquals(consoleMode, { code: 1, stdout: "", stderr: refLine });
    assertEquals(daemonMode, { code: 1, stdout: "", stderr: "" });

    const lock = acquireLock(`${dir}/lock`);
    assert(!lock.ok);
    const opened = DaemonLog.open({ logFile: `${dir}/ours.log`, syslog: null, console: false });
    assert(opened.ok);
    opened.log.log("error", lock.message);
    await opened.log.close();
    const ours = Deno.readTextFileSync(`${dir}/ours.log`);
    const shape = (s: string) => s.replace(/^\[[^\]]+\] \(pid=\d+\)/, "[TIME] (pid=N)");
    assertEquals(shape(ours), shape(refLine));
    assertMatch(
      refLine,
      /^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] \(pid=\d+\) \[ERROR\] lockfile `.*' exists/,
    );
  });
});

Deno.test("log file that cannot be opened: the reference's stderr text, for the general and the stats log", {
  ignore: !hasReference,
}, async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/no-such-dir/x.log`;
    for (
      const [general, stats, opts] of [
        [`  LogFile ${missing}`, "", { logFile: missing, syslog: null, console: false }],
        ["", `  LogFile ${missing}`, { logFile: null, statsLogFile: missing, syslog: null, console: false }],
      ] as const
    ) {
      Deno.writeTextFileSync(`${dir}/c.conf`, referenceConfig(dir, general, stats));
      const ref = await inNetns(async (ns) => {
        const out = await new Deno.Command("ip", {
          args: ["netns", "exec", ns, REFERENCE, "-C", `${dir}/c.conf`],
          stdout: "piped",
          stderr: "piped",
        }).output();
        return { code: out.code, stderr: dec.decode(out.stderr) };
      });
      assertEquals(ref.code, 1);
      const ours = DaemonLog.open(opts);
      assert(!ours.ok);
      assertEquals(ours.message, ref.stderr);
      assertEquals(
        ours.message,
        `ERROR: can't open logfile \`${missing}'.Reason: No such file or directory\n`,
      );
    }
  });
});

Deno.test("lock file: exclusive 0600 create, refused while present (stale too), released by unlink", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/conntrackd.lock`;
    assertEquals(acquireLock(path), { ok: true });
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    const taken = { ok: false, message: `lockfile \`${path}' exists, perhaps conntrackd already running?` };
    assertEquals(acquireLock(path), taken);
    releaseLock(path);
    assert(!Deno.statSync(dir).isFile && [...Deno.readDirSync(dir)].length === 0);
    releaseLock(path); // already gone: no error
    // A lock left by a daemon that was killed: refused just the same, as the reference does.
    Deno.writeTextFileSync(path, "12345\n");
    assertEquals(acquireLock(path), taken);
    assertEquals(Deno.readTextFileSync(path), "12345\n");
    // Other failures give the same text.
    const elsewhere = `${dir}/missing/conntrackd.lock`;
    assertEquals(acquireLock(elsewhere), {
      ok: false,
      message: `lockfile \`${elsewhere}' exists, perhaps conntrackd already running?`,
    });
  });
});

Deno.test("syslog: records match the reference's (ident, pid, facility|priority); Stats routing quirks", {
  ignore: !hasReference,
}, async () => {
  await withTempDir(async (dir) => {
    const socket = `${dir}/log.sock`;
    const rx = new DgramReceiver(socket);
    try {
      // The reference: lock taken, so it logs one error and exits.
      Deno.writeTextFileSync(`${dir}/lock`, "");
      Deno.writeTextFileSync(`${dir}/c.conf`, referenceConfig(dir, "  Syslog local3"));
      await inNetns((ns) =>
        new Deno.Command(withDevLog(socket)[0], {
          args: [...withDevLog(socket).slice(1), "ip", "netns", "exec", ns, REFERENCE, "-C", `${dir}/c.conf`],
          stdout: "null",
          stderr: "null",
        }).output()
      );
      const refRecords = await rx.waitFor((m) => m.length >= 1);
      assertEquals(refRecords.length, 1);
      rx.messages.length = 0;

      const code = `
        import { DaemonLog } from "${mod("src/conntrackd/daemon/log.ts")}";
        const [dir, msg, which] = Deno.args;
        const open = (o) => { const r = DaemonLog.open({ console: false, ...o }); if (!r.ok) throw new Error(r.message); return r.log; };
        if (which === "both") {
          const log = open({ logFile: null, syslog: "local3", statsLogFile: dir + "/stats.log", statsSyslog: "local3" });
          log.log("error", msg);
          log.log("info", "hello");
          log.logFlow("tcp      6 ESTABLISHED src=1.1.1.1");
          log.logEntry("udp      17 src=2.2.2.2");
          await log.close();
        } else if (which === "stats-only") {
          // openlog() gets -1 for the facility, which glibc ignores: a fresh process stays at LOG_USER.
          const log = open({ logFile: dir + "/general.log", syslog: null, statsLogFile: null, statsSyslog: "local5" });
          log.log("error", "not to syslog");
          log.logFlow("flow without a stats file");
          await log.close();
        } else {
          // No log file at all: the flow compares equal to the (missing) general log, and General has no syslog.
          const log = open({ logFile: null, syslog: null, statsLogFile: null, statsSyslog: "local5" });
          log.logFlow("dropped");
          await log.close();
        }
      `;
      const lockMsg = `lockfile \`${dir}/lock' exists, perhaps conntrackd already running?`;
      for (const which of ["both", "stats-only", "none"]) {
        const r = await runScript(dir, code, [dir, lockMsg, which], { prefix: withDevLog(socket) });
        assertEquals(r.code, 0, r.stderr);
      }
      const ours = await rx.waitFor((m) => m.length >= 5, 3000);
      const rec = /^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d conntrack-tools\[(\d+)\]: ([^]*)$/;
      const parse = (s: string) => {
        const m = rec.exec(s);
        assert(m, `not a syslog record: ${JSON.stringify(s)}`);
        return { pri: Number(m[1]), text: m[3] };
      };
      assertEquals(parse(ours[0]), parse(refRecords[0]));
      assertEquals(ours.map(parse), [
        { pri: 19 * 8 + 3, text: lockMsg },
        { pri: 19 * 8 + 6, text: "hello" },
        { pri: 19 * 8 + 6, text: "tcp      6 ESTABLISHED src=1.1.1.1\n" },
        { pri: 19 * 8 + 3, text: "udp      17 src=2.2.2.2" },
        { pri: 1 * 8 + 6, text: "flow without a stats file" },
      ]);
      assertMatch(
        Deno.readTextFileSync(`${dir}/stats.log`),
        /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\ttcp {6}6 ESTABLISHED src=1\.1\.1\.1\n$/,
      );
    } finally {
      rx.close();
    }
  });
});

Deno.test("connection log: ctime, a tab, the entry; cut at the reference's 1024-byte buffer", async () => {
  await withTempDir(async (dir) => {
    const opened = DaemonLog.open({
      logFile: null,
      syslog: null,
      statsLogFile: `${dir}/s.log`,
      console: false,
    });
    assert(opened.ok);
    const from = Date.now();
    opened.log.logFlow("short");
    opened.log.logFlow("x".repeat(997));
    opened.log.logFlow("y".repeat(2000));
    await opened.log.close();
    const text = Deno.readTextFileSync(`${dir}/s.log`);
    const stamp = ctime(new Date(from));
    // 24 + 1 + 997 + newline = 1023 bytes; 998 chars would leave no room for the newline.
    assert(text.startsWith(`${stamp}\tshort\n`) || text.startsWith(`${ctime()}\tshort\n`));
    const lines = text.split("\n");
    assertEquals(lines[1].length, 25 + 997);
    assertEquals(lines[2].length, 25 + 998); // cut, and no newline: the file ends here
    assertEquals(lines.length, 3);
  });
});

Deno.test("scheduler: every thread gets the policy, later threads inherit it, failure gives the reference's warning", async () => {
  await withTempDir(async (dir) => {
    const code = `
      import { applyScheduler } from "${mod("src/conntrackd/daemon/scheduler.ts")}";
      const tids = () => [...Deno.readDirSync("/proc/self/task")].map((e) => Number(e.name));
      const sched = (tid) => { const s = Deno.readTextFileSync("/proc/self/task/" + tid + "/stat");
        const f = s.slice(s.lastIndexOf(")") + 2).split(" "); return [Number(f[38]), Number(f[37])]; };
      const warning = applyScheduler(JSON.parse(Deno.args[0]));
      const before = tids();
      // Busy the blocking pool so that it starts threads after the change.
      const lib = Deno.dlopen("libc.so.6", { usleep: { parameters: ["u32"], result: "i32", nonblocking: true } });
      const sleeps = [1, 2, 3, 4].map(() => lib.symbols.usleep(150000));
      await new Promise((r) => setTimeout(r, 50));
      const after = tids();
      const threads = after.map((t) => [t, ...sched(t)]);
      const fresh = after.filter((t) => !before.includes(t));
      await Promise.all(sleeps);
      const chrt = new TextDecoder().decode(new Deno.Command("chrt", { args: ["-p", String(Deno.pid)] }).outputSync().stdout);
      console.log(JSON.stringify({ warning, threads, fresh, chrt }));
    `;
    const cases: [unknown, number, number][] = [
      [null, 2, 99], // SCHED_RR at sched_get_priority_max(SCHED_RR)
      [{ type: null, priority: 5 }, 2, 99], // a Scheduler block without Type: still the default
      [{ type: "FIFO", priority: 10 }, 1, 10],
      [{ type: "RR", priority: 42 }, 2, 42],
    ];
    for (const [config, policy, prio] of cases) {
      const r = await runScript(dir, code, [JSON.stringify(config)]);
      assertEquals(r.code, 0, r.stderr);
      const res = JSON.parse(r.stdout);
      assertEquals(res.warning, null);
      assert(res.threads.length >= 4, "Deno runs several threads");
      for (const [tid, p, rt] of res.threads) assertEquals([tid, p, rt], [tid, policy, prio]);
      assert(res.fresh.length > 0, "a thread started after applyScheduler");
      const name = policy === 1 ? "SCHED_FIFO" : "SCHED_RR";
      assertMatch(
        res.chrt,
        new RegExp(`current scheduling policy: ${name}\\n.*current scheduling priority: ${prio}\\n`),
      );
    }
    // RR at priority 0 is invalid for the kernel: warning, and the default scheduler stays everywhere.
    const r = await runScript(dir, code, [JSON.stringify({ type: "RR", priority: 0 })]);
    const res = JSON.parse(r.stdout);
    assertEquals(
      res.warning,
      "scheduler configuration failed: Invalid argument. Likely a bug in conntrackd, please report it. " +
        "Continuing with system default scheduler.",
    );
    for (const [, p, rt] of res.threads) assertEquals([p, rt], [0, 0]);
  });
});

/** Sets environment variables for the duration of `fn`. */
async function withEnv<T>(vars: Record<string, string | null>, fn: () => Promise<T> | T): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k) ?? null]));
  const apply = (v: Record<string, string | null>) => {
    for (const [k, val] of Object.entries(v)) val === null ? Deno.env.delete(k) : Deno.env.set(k, val);
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

Deno.test("sd_notify: READY, STOPPING, MAINPID to a path and an abstract socket; Systemd off and no socket send nothing", async () => {
  await withTempDir(async (dir) => {
    for (const address of [`${dir}/notify.sock`, `@ctkit-test-notify-${Deno.pid}-${crypto.randomUUID()}`]) {
      const rx = new DgramReceiver(address);
      try {
        await withEnv({ NOTIFY_SOCKET: address, WATCHDOG_USEC: null }, async () => {
          const sd = new SystemdNotifier(true);
          sd.ready();
          sd.mainPid(4242);
          assertEquals(sd.startWatchdog(), null);
          sd.stopping();
          const off = new SystemdNotifier(false);
          off.ready();
          off.stopping();
          assertEquals(await rx.waitFor((m) => m.length >= 3), ["READY=1", "MAINPID=4242", "STOPPING=1"]);
        });
      } finally {
        rx.close();
      }
    }
    await withEnv({ NOTIFY_SOCKET: null }, () => assertEquals(sdNotify("READY=1"), false));
    await withEnv({ NOTIFY_SOCKET: "relative/path" }, () => assertEquals(sdNotify("READY=1"), false));
    // Nobody listening: the send fails at once, it never waits.
    await withEnv({ NOTIFY_SOCKET: `${dir}/nobody.sock` }, () => assertEquals(sdNotify("READY=1"), false));
  });
});

Deno.test("sd_notify watchdog: every half WATCHDOG_USEC; WATCHDOG_PID of another process or a bad value", async () => {
  await withTempDir(async (dir) => {
    const address = `${dir}/notify.sock`;
    const rx = new DgramReceiver(address);
    try {
      await withEnv(
        { NOTIFY_SOCKET: address, WATCHDOG_USEC: "200000", WATCHDOG_PID: String(Deno.pid) },
        async () => {
          const sd = new SystemdNotifier(true);
          assertEquals(sd.startWatchdog(), null);
          await new Promise((r) => setTimeout(r, 560)); // 100 ms period: 5 by now
          sd.stopWatchdog();
          const n = rx.drain().length;
          assert(n >= 3 && n <= 6, `${n} watchdog pings in 560 ms`);
          assert(rx.messages.every((m) => m === "WATCHDOG=1"));
        },
      );
      rx.messages.length = 0;
      await withEnv({ NOTIFY_SOCKET: address, WATCHDOG_USEC: "20000", WATCHDOG_PID: "1" }, async () => {
        const sd = new SystemdNotifier(true);
        assertEquals(sd.startWatchdog(), null);
        await new Promise((r) => setTimeout(r, 100));
        sd.stopWatchdog();
        assertEquals(rx.drain(), []);
      });
      for (const bad of ["abc", "0", "-5"]) {
        await withEnv({ NOTIFY_SOCKET: address, WATCHDOG_USEC: bad, WATCHDOG_PID: null }, () => {
          const sd = new SystemdNotifier(true);
          assertEquals(sd.startWatchdog(), "failed to get watchdog details from systemd: Invalid argument");
        });
      }
      await withEnv({ NOTIFY_SOCKET: address, WATCHDOG_USEC: "20000" }, async () => {
        assertEquals(new SystemdNotifier(false).startWatchdog(), null);
        await new Promise((r) => setTimeout(r, 60));
        assertEquals(rx.drain(), []);
      });
    } finally {
      rx.close();
    }
  });
});

Deno.test("sd_notify against the reference: READY=1, WATCHDOG=1 every half period, STOPPING=1", {
  ignore: !hasReference,
}, async () => {
  await withTempDir(async (dir) => {
    const pattern = /^READY=1(,WATCHDOG=1)+,STOPPING=1$/;
    const refSock = `${dir}/ref-notify.sock`;
    const rx = new DgramReceiver(refSock);
    let ref: string[];
    try {
      Deno.writeTextFileSync(`${dir}/c.conf`, referenceConfig(dir, `  LogFile ${dir}/ref.log\n  Systemd on`));
      ref = await inNetns(async (ns) => {
        const daemon = new Deno.Command("ip", {
          args: ["netns", "exec", ns, REFERENCE, "-C", `${dir}/c.conf`],
          env: { NOTIFY_SOCKET: refSock, WATCHDOG_USEC: "400000" },
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        try {
          await rx.waitFor((m) => m.length >= 4);
        } finally {
          await new Deno.Command("ip", {
            args: ["netns", "exec", ns, REFERENCE, "-C", `${dir}/c.conf`, "-k"],
          })
            .output();
          const end = setTimeout(() => daemon.kill("SIGKILL"), 3000);
          await daemon.status;
          clearTimeout(end);
        }
        return await rx.waitFor((m) => m.includes("STOPPING=1"));
      });
    } finally {
      rx.close();
    }
    assertMatch(ref.join(","), pattern);

    const ourSock = `${dir}/our-notify.sock`;
    const ours = new DgramReceiver(ourSock);
    try {
      await withEnv({ NOTIFY_SOCKET: ourSock, WATCHDOG_USEC: "400000", WATCHDOG_PID: null }, async () => {
        const sd = new SystemdNotifier(true);
        sd.startWatchdog(); // the reference arms it before READY=1
        sd.ready();
        await ours.waitFor((m) => m.length >= 4);
        sd.stopWatchdog();
        sd.stopping();
      });
      assertMatch((await ours.waitFor((m) => m.includes("STOPPING=1"))).join(","), pattern);
    } finally {
      ours.close();
    }
  });
});

Deno.test("-d: the parent waits for the child's report; the child runs in its own session without a terminal", async () => {
  await withTempDir(async (dir) => {
    const fixture = `${dir}/fixture.ts`;
    Deno.writeTextFileSync(
      fixture,
      `
      import * as d from "${mod("src/conntrackd/daemon/daemonize.ts")}";
      const [out, mode] = Deno.args;
      const stat = (pid) => { const s = Deno.readTextFileSync("/proc/" + pid + "/stat");
        const f = s.slice(s.lastIndexOf(")") + 2).split(" "); return { pgrp: +f[2], sid: +f[3], tty: +f[4] }; };
      if (!d.isDaemonChild()) {
        Deno.writeTextFileSync(out + ".parent", JSON.stringify({ pid: Deno.pid, ...stat("self") }));
        Deno.exit(await d.spawnDaemonChild({ onReady: (pid) => Deno.writeTextFileSync(out + ".mainpid", String(pid)) }));
      }
      d.enterDaemonSession();
      if (mode === "fail") { console.error("init failed: reported"); d.reportFailure(3); Deno.exit(3); }
      if (mode === "die") { console.error("init failed: died"); Deno.exit(5); }
      console.log("child before detach");
      let ttyOpen = true;
      try { Deno.openSync("/dev/tty", { read: true }).close(); } catch { ttyOpen = false; }
      const cwdWarning = d.changeToRootDir();
      d.detachStdio();
      const stdio = [0, 1, 2].map((fd) => Deno.readLinkSync("/proc/self/fd/" + fd));
      console.log("child after detach");
      console.error("child after detach");
      Deno.writeTextFileSync(out, JSON.stringify({ pid: Deno.pid, ...stat(Deno.pid), ttyOpen, cwd: Deno.cwd(), cwdWarning,
        marker: Deno.env.get("CTKIT_DAEMON_CHILD") ?? null, fg: d.foregroundPid(), stdio }));
      d.reportReady();
      setInterval(() => {}, 1000);
      `,
    );
    const out = `${dir}/out`;
    // The parent's private FIFO directory goes here, to check that it is removed.
    const tmp = `${dir}/tmp`;
    Deno.mkdirSync(tmp);
    const env = { TMPDIR: tmp };
    const deno = [Deno.execPath(), "run", "-A", "--no-check", fixture, out];
    // Under script(1) the parent has a controlling terminal (a pty) for the child to leave behind.
    const command = `${deno.map((a) => `'${a}'`).join(" ")} ok; echo "parent-status=$?"`;
    const r = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = dec.decode(r.stdout).replaceAll("\r", "");
    let childPid = 0;
    try {
      assertMatch(text, /parent-status=0\n/);
      assertMatch(text, /child before detach\n/);
      assert(!text.includes("child after detach"));
      const parent = JSON.parse(Deno.readTextFileSync(`${out}.parent`));
      const child = JSON.parse(Deno.readTextFileSync(out));
      childPid = child.pid;
      assertEquals(Number(Deno.readTextFileSync(`${out}.mainpid`)), child.pid);
      assert(parent.tty !== 0, "the parent runs on a terminal");
      assertEquals({ sid: child.sid, pgrp: child.pgrp, tty: child.tty }, {
        sid: child.pid,
        pgrp: child.pid,
        tty: 0,
      });
      assert(child.sid !== parent.sid);
      assertEquals(child.ttyOpen, false);
      assertEquals(child.stdio, ["/dev/null", "/dev/null", "/dev/null"]);
      assertEquals([child.cwd, child.cwdWarning, child.marker, child.fg], ["/", null, null, parent.pid]);
      // Still running after the terminal went away with script(1).
      assert(Deno.statSync(`/proc/${child.pid}`).isDirectory);
      // No FIFO or private directory left behind.
      assertEquals([...Deno.readDirSync(tmp)], []);
    } finally {
      if (childPid) Deno.kill(childPid, "SIGKILL");
    }
    // Killed: it goes away (reaped by init once it was re-parented).
    for (let i = 0; i < 100 && childPid; i++) {
      try {
        if (Deno.readTextFileSync(`/proc/${childPid}/stat`).split(") ")[1][0] === "Z") break;
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }

    // Failures: the reported status, or the status the child died with; its stderr reaches the caller.
    for (
      const [mode, status, message] of [["fail", 3, "init failed: reported"], [
        "die",
        5,
        "init failed: died",
      ]] as const
    ) {
      const f = await new Deno.Command(deno[0], {
        args: [...deno.slice(1), mode],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(f.code, status, mode);
      assertEquals([...Deno.readDirSync(tmp)], []);
      assertEquals(dec.decode(f.stderr), `${message}\n`);
      assertEquals(f.stdout.length, 0);
    }
  });
});
