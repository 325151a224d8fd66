// conntrackd's life cycle against the reference daemon (Debian's conntrackd 1.4.7): start-up lines,
// lock file, shutdown by signal, bad configurations, -d, log line format. Compared by
// tests/lib/ctd_diff.ts (its header lists the modes: CTKIT_CTD_SELF=1 is reference vs reference).
import { type CtdCase, ctdSuite, type Side, statsConfig, tcp, type Twin } from "./lib/ctd_diff.ts";

const CTIME = String.raw`[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d [0-2]\d:[0-5]\d:[0-6]\d \d{4}`;
const LOG_LINE = new RegExp(String.raw`^\[(${CTIME})\] \(pid=(\d+)\) \[(notice|info|warning|ERROR)\] \S`);

/** Every line of a log text is a well-formed log line with the current time (and this pid). */
function checkLogLines(t: Twin, side: Side, what: string, text: string, pid?: number) {
  for (const line of text.split("\n").filter((l) => l !== "")) {
    const m = LOG_LINE.exec(line);
    if (!m) {
      t.fail(`${side.name}: ${what}: not a log line: ${JSON.stringify(line)}`);
      continue;
    }
    if (Math.abs(Date.parse(m[1]) - Date.now()) > 300_000) {
      t.fail(`${side.name}: ${what}: stale time: ${line}`);
    }
    if (pid !== undefined && Number(m[2]) !== pid) {
      t.fail(`${side.name}: ${what}: pid ${m[2]}, daemon is ${pid}`);
    }
  }
}

/** The message must be in the side's log file (absolute check, on both sides). */
async function logHas(t: Twin, text: string, file = "log") {
  for (const side of t.sides) {
    if (!(await t.read(side, file)).includes(text)) t.fail(`${side.name}: {DIR}/${file} lacks "${text}"`);
  }
}

async function gone(t: Twin, names: string[]) {
  for (const side of t.sides) {
    for (const n of names) if (await t.exists(side, n)) t.fail(`${side.name}: {DIR}/${n} is still there`);
  }
}

async function signalShutdown(t: Twin, sig: "SIGTERM" | "SIGINT") {
  await t.start();
  await t.kernel(tcp("10.0.0.1", "10.0.0.2", 1, 2));
  await t.waitActive(1);
  await t.compareState();
  await t.signal(sig);
  await gone(t, ["ctl", "lock"]);
  await logHas(t, "---- shutdown received ----");
}

const CONF_NO_UNIX = "General {\n\tLockFile {DIR}/lock\n\tLogFile {DIR}/log\n\tSyslog off\n}\n" +
  "Stats {\n\tLogFile {DIR}/flows\n\tSyslog off\n}\n";

/** A config whose General block uses these lines instead of the standard ones. */
function general(lines: string, stats = "\tLogFile {DIR}/flows\n\tSyslog off\n"): string {
  return `General {\n${lines}}\nStats {\n${stats}}\n`;
}

const cases: CtdCase[] = [
  {
    name: "console mode start lines, log line format, SIGTERM shutdown",
    async run(t) {
      await signalShutdown(t, "SIGTERM");
      for (const side of t.sides) {
        const pid = t.daemonPid(side);
        checkLogLines(t, side, "{DIR}/log", await t.read(side, "log"), pid);
        checkLogLines(t, side, "console stdout", await t.read(side, ".console-1.out"), pid);
        const out = await t.read(side, ".console-1.out");
        for (const want of ["initialization completed", "-- starting in console mode --"]) {
          if (!out.includes(want)) t.fail(`${side.name}: console stdout lacks "${want}"`);
        }
      }
    },
  },
  {
    name: "SIGINT shutdown",
    async run(t) {
      await signalShutdown(t, "SIGINT");
    },
  },
  {
    name: "second instance with the same lock file is refused",
    async run(t) {
      await t.start();
      const [ref] = await t.once([], { timeoutS: 10 });
      if (ref.code !== 1) t.fail(`reference: second instance exit ${ref.code}, expected 1`);
      // the first one still serves, and still owns its socket and lock
      await t.request(["-s"]);
      await t.compareDirs();
      await t.once(["-d"], { timeoutS: 10 });
      await t.request(["-s"]);
    },
  },
  {
    name: "stale lock file from a SIGKILLed daemon",
    async run(t) {
      await t.start();
      await t.signal("SIGKILL");
      await t.compareDirs("files left by SIGKILL");
      await t.once([], { timeoutS: 10 });
      // with the lock gone, the stale socket is replaced
      await t.kernel({ sh: "rm {DIR}/lock" });
      await t.start();
      await t.request(["-s"]);
      await t.compareState();
    },
  },
  {
    name: "log file is appended to across restarts",
    async run(t) {
      await t.start();
      await t.signal("SIGTERM");
      await t.start();
      await t.request(["-k"], { mutates: true });
      await t.compareEnded("after -k");
      for (const side of t.sides) {
        const n = (await t.read(side, "log")).split("-- starting in console mode --").length - 1;
        if (n !== 2) t.fail(`${side.name}: {DIR}/log has ${n} start lines, expected 2`);
      }
    },
  },
  {
    name: "-d returns 0 and the daemon runs detached",
    async run(t) {
      const [ref] = await t.once(["-d"], { timeoutS: 15 });
      if (ref.code !== 0) t.fail(`reference: -d exit ${ref.code}`);
      await t.waitFor(["-s"], /cache stats:/);
      await t.requests(["-s"], ["-s", "runtime"]);
      for (const side of t.sides) {
        const pids = await t.pids(side);
        if (pids.length !== 1) t.fail(`${side.name}: ${pids.length} processes in the namespace after -d`);
        for (const pid of pids) {
          // setsid(): the daemon leads its own session, away from the shell that started it
          const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
          const session = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
          if (session !== pid) t.fail(`${side.name}: detached daemon ${pid} is not a session leader`);
        }
      }
      await logHas(t, "-- starting in daemon mode --");
      await t.compareState();
      await t.request(["-k"], { mutates: true });
      await t.waitUntil(
        "lock file removed",
        async (side) => (await t.exists(side, "lock")) ? "lock" : undefined,
      );
      await gone(t, ["ctl", "lock"]);
      await logHas(t, "---- shutdown received ----");
    },
  },
  {
    name: "-d while the lock is taken: error only in the log, exit 1",
    async run(t) {
      await t.start();
      await t.once(["-d"], { timeoutS: 10 });
      await t.request(["-s"]);
    },
  },
  {
    name: "missing UNIX Path: the daemon runs without a control socket",
    opts: { config: CONF_NO_UNIX },
    async run(t) {
      await t.start([], "console");
      await t.request(["-s"]);
      await t.compareState();
    },
  },
  {
    name: "missing config file",
    async run(t) {
      await t.once(["-C", "{DIR}/none.conf"], { noConf: true, timeoutS: 10 });
      await t.compareDirs();
    },
  },
  {
    name: "config file is a directory (unreadable as a file)",
    async run(t) {
      await t.once(["-C", "{DIR}"], { noConf: true, timeoutS: 10 });
      await t.compareDirs();
    },
  },
  {
    name: "syntax error in the config",
    opts: { files: { "bad.conf": general("\tLockFile {DIR}/lock\n\tUNIX { Path {DIR}/ctl }\n\tBogus 1\n") } },
    async run(t) {
      await t.once(["-C", "{DIR}/bad.conf"], { noConf: true, timeoutS: 10, configError: true });
      await t.compareDirs();
    },
  },
  {
    name: "Stats and Sync blocks together",
    opts: {
      config: statsConfig() + "Sync {\n\tMode FTFW {\n\t}\n\tUDP {\n\t\tIPv4_address 127.0.0.1\n" +
        "\t\tIPv4_Destination_Address 127.0.0.2\n\t\tPort 3780\n\t\tInterface lo\n\t}\n}\n",
    },
    async run(t) {
      await t.once([], { timeoutS: 10, configError: true });
      await t.compareDirs();
    },
  },
  {
    name: "unknown option in daemon mode: usage, nothing started",
    async run(t) {
      await t.once(["-z"], { timeoutS: 10 });
      await t.compareDirs();
    },
  },
  {
    name: "LogFile in a missing directory",
    opts: {
      config: general(
        "\tLockFile {DIR}/lock\n\tUNIX { Path {DIR}/ctl }\n\tLogFile {DIR}/nodir/log\n\tSyslog off\n",
      ),
    },
    async run(t) {
      await t.once([], { timeoutS: 10 });
      await t.compareDirs();
    },
  },
  {
    name: "Stats LogFile in a missing directory",
    opts: {
      config: general(
        "\tLockFile {DIR}/lock\n\tUNIX { Path {DIR}/ctl }\n\tLogFile {DIR}/log\n\tSyslog off\n",
        "\tLogFile {DIR}/nodir/flows\n",
      ),
    },
    async run(t) {
      await t.once([], { timeoutS: 10 });
      await t.compareDirs();
    },
  },
  {
    name: "LockFile in a missing directory",
    opts: {
      config: general(
        "\tLockFile {DIR}/nodir/lock\n\tUNIX { Path {DIR}/ctl }\n\tLogFile {DIR}/log\n\tSyslog off\n",
      ),
    },
    async run(t) {
      await t.once([], { timeoutS: 10 });
      await t.compareState();
    },
  },
  {
    name: "UNIX Path in a missing directory: cannot start, lock removed",
    opts: {
      config: general(
        "\tLockFile {DIR}/lock\n\tUNIX { Path {DIR}/nodir/ctl }\n\tLogFile {DIR}/log\n\tSyslog off\n",
      ),
    },
    async run(t) {
      await t.once([], { timeoutS: 10 });
      await t.compareState();
      await gone(t, ["lock"]);
    },
  },
  {
    name: "LogFile off and Stats LogFile off: no log files",
    opts: {
      config: general(
        "\tLockFile {DIR}/lock\n\tUNIX { Path {DIR}/ctl }\n\tLogFile off\n\tSyslog off\n",
        "\tLogFile off\n",
      ),
    },
    async run(t) {
      await t.start();
      await t.kernel(tcp("10.0.0.1", "10.0.0.2", 1, 2), { ct: ["-D"] });
      await t.request(["-s"]);
      await t.compareDirs();
    },
  },
  {
    name: "deprecated settings warn at start: Nice, UNIX Backlog",
    opts: {
      config: general(
        "\tLockFile {DIR}/lock\n\tUNIX {\n\t\tPath {DIR}/ctl\n\t\tBacklog 20\n\t}\n\tNice -1\n\tLogFile {DIR}/log\n\tSyslog off\n",
      ),
    },
    async run(t) {
      await t.start();
      await t.request(["-s"]);
    },
  },
  {
    name: "PollSecs: polling mode start lines",
    opts: { config: statsConfig("PollSecs 30") },
    async run(t) {
      await t.start();
      await t.request(["-s"]);
    },
  },
  {
    name: "Scheduler FIFO priority 10 and HashSize",
    opts: { config: statsConfig("HashSize 1024\nScheduler {\n  Type FIFO\n  Priority 10\n}") },
    async run(t) {
      await t.start();
      await t.request(["-s"]);
      for (const side of t.sides) {
        const pid = t.daemonPid(side)!;
        const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
        // fields after the command: policy is field 41, rt_priority field 40 (1-based)
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const [prio, policy] = [Number(f[37]), Number(f[38])];
        if (policy !== 1 || prio !== 10) {
          t.fail(`${side.name}: policy ${policy} priority ${prio}, want FIFO(1) 10`);
        }
      }
    },
  },
];

ctdSuite("conntrackd life cycle vs reference", cases);
