// conntrackd's command line and client mode against the reference (Debian's
// conntrackd 1.4.7): same argv, same config, compare stdout, stderr and exit
// status. Everything runs inside throw-away network namespaces; the only daemon
// ever started is the reference in Stats mode inside such a namespace, and
// argv that would start a daemon is never handed to the reference.
//
// Until src/conntrackd/main.ts calls clientMain, ctkit's side runs
// src/conntrackd/client/driver.ts; afterwards `$CTKIT_BIN conntrackd` (tests/lib/netns.ts).
import { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert";
import { CTKIT, type Netns, sh, withNetns } from "./lib/netns.ts";
import * as codes from "../src/conntrackd/client/codes.ts";
import {
  DaemonArgsExit,
  DEFAULT_CONFIG_FILE,
  encodeRequest,
  parseDaemonArgs,
  readUnixPath,
  USAGE_TEXT,
  versionText,
} from "../src/conntrackd/client/mod.ts";

const REF = "/usr/sbin/conntrackd";
/** Found through PATH, so its argv[0] (printed in the usage text) is `conntrackd` as for ctkit. */
const REF_CMD = ["conntrackd"];
const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DRIVER = `${ROOT}/src/conntrackd/client/driver.ts`;
const MAIN_WIRED = Deno.readTextFileSync(`${ROOT}/src/conntrackd/main.ts`).includes("clientMain");
const CTKIT_CMD = MAIN_WIRED
  ? [CTKIT, "conntrackd"]
  : [Deno.execPath(), "run", "-A", "--no-check", "--quiet", DRIVER];

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** dlog's `[ctime] (pid=N) ` prefix: checked for shape, then made comparable. */
const LOG_PREFIX =
  /^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}\] \(pid=[0-9]+\) /gm;

function normLog(s: string): string {
  return s.replace(LOG_PREFIX, "[TIME] (pid=N) ");
}

/** Lines that look like log lines but lack a well-formed prefix would survive normLog: catch them. */
function assertLogShape(s: string, label: string) {
  for (const line of s.split("\n")) {
    if (/\(pid=/.test(line)) assertMatch(line, new RegExp(LOG_PREFIX.source), label);
  }
}

async function run(ns: Netns, cmd: string[], argv: string[]): Promise<Out> {
  const r = await ns.exec(["timeout", "20", ...cmd, ...argv]);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

function compare(ref: Out, ours: Out, label: string, norm: (s: string) => string = (s) => s) {
  assertLogShape(ours.stderr + ours.stdout, `${label}: ctkit log line shape`);
  assertEquals(
    { code: ours.code, stdout: norm(normLog(ours.stdout)), stderr: norm(normLog(ours.stderr)) },
    { code: ref.code, stdout: norm(normLog(ref.stdout)), stderr: norm(normLog(ref.stderr)) },
    label,
  );
}

async function tempDir(prefix: string): Promise<string> {
  return await Deno.makeTempDir({ prefix });
}

// ---------------------------------------------------------------------------
// Pure parsing: request codes and modes (including the ones the reference
// cannot safely be asked about, because it would start a daemon).

Deno.test("parse: request codes", () => {
  const code = (s: string) => parseDaemonArgs(s.split(" "), "conntrackd").requestCode;
  assertEquals(code("-i"), codes.CT_DUMP_INTERNAL);
  assertEquals(code("-i expect -x"), codes.EXP_DUMP_INT_XML);
  assertEquals(code("-e e -x"), codes.EXP_DUMP_EXT_XML);
  assertEquals(code("-c"), codes.ALL_COMMIT);
  assertEquals(code("-c c"), codes.CT_COMMIT);
  assertEquals(code("-F"), codes.ALL_FLUSH_MASTER);
  assertEquals(code("-R expect"), codes.EXP_RESYNC_MASTER);
  assertEquals(code("-f"), codes.ALL_FLUSH_CACHE);
  assertEquals(code("-f e"), codes.CT_FLUSH_EXT_CACHE);
  assertEquals(code("-s c"), codes.STATS_CACHE);
  assertEquals(code("-s r"), codes.STATS_RUNTIME);
  assertEquals(code("-s e"), codes.EXP_STATS);
  assertEquals(code("-s m"), codes.STATS_LINK);
  assertEquals(code("-s -k"), codes.KILL);
  // "ax" is no table word: -i leaves the earlier request alone, then "ax" acts as -x
  assertEquals(code("-i -i ax"), codes.CT_DUMP_INT_XML);
  assertEquals(code("-c aC /x.conf"), codes.NO_ACTION);
  assertEquals(encodeRequest(codes.STATS), new Uint8Array([21, 0, 0, 0]));
  assertEquals(encodeRequest(codes.NO_ACTION), new Uint8Array([255, 255, 255, 255]));
});

Deno.test("parse: daemon, console, --check and config paths", () => {
  const p = (argv: string[]) => {
    const r = parseDaemonArgs(argv, "conntrackd");
    return { mode: r.mode, configPath: r.configPath, daemonize: r.daemonize, check: r.check };
  };
  assertEquals(p([]), { mode: "daemon", configPath: DEFAULT_CONFIG_FILE, daemonize: false, check: false });
  assertEquals(p(["-d", "-C", "/a"]), { mode: "daemon", configPath: "/a", daemonize: true, check: false });
  assertEquals(p(["-C", "/a", "-C", ""]), {
    mode: "daemon",
    configPath: DEFAULT_CONFIG_FILE,
    daemonize: false,
    check: false,
  });
  assertEquals(p(["--check", "-C", "/b"]), {
    mode: "daemon",
    configPath: "/b",
    daemonize: false,
    check: true,
  });
  assertEquals(p(["-d", "--check"]), {
    mode: "daemon",
    configPath: DEFAULT_CONFIG_FILE,
    daemonize: true,
    check: true,
  });
  assertEquals(p(["-C", "/a", "-v"]).mode, "version");
  assertEquals(p(["-h", "-x"]).mode, "help");
  // `-C` at the end: usage + error, then the earlier path is kept
  const r = parseDaemonArgs(["-C", "/a", "-i", "-C"], "conntrackd");
  assertEquals([r.mode, r.configPath], ["request", "/a"]);
  assertEquals(r.output[0], { stream: "stdout", text: USAGE_TEXT });
  assertMatch(r.output[1].text, /\[ERROR\] Missing config filename\n$/);
  for (const bad of [["--check", "-i"], ["-s", "--check"]]) {
    try {
      parseDaemonArgs(bad, "conntrackd");
      throw new Error(`${bad} parsed`);
    } catch (e) {
      if (!(e instanceof DaemonArgsExit)) throw e;
      assertEquals(e.status, 1);
      assertEquals(e.stdout, USAGE_TEXT);
      assertMatch(e.stderr, /\[ERROR\] Invalid parameters\n$/);
    }
  }
});

Deno.test("UNIX Path reader", async () => {
  const dir = await tempDir("ctkit-ctd-path-");
  try {
    await Deno.writeTextFile(
      `${dir}/a.conf`,
      "# UNIX { Path /wrong }\nGeneral {\n\tUNIX {\n\t\tPath /run/a.ctl # comment\n\t\tBacklog 20\n\t}\n}\n",
    );
    const r = readUnixPath(`${dir}/a.conf`)!;
    assertEquals(r.path, "/run/a.ctl");
    assertMatch(r.output[0].text, /\[warning\] deprecated unix backlog configuration, ignoring\.\n$/);
    assertEquals(readUnixPath(`${dir}/missing.conf`), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// (1) Argument handling against the reference, nobody listening on the socket.

const LONG = "/" + "a".repeat(4200);

/** Each case: argv; `{DIR}` becomes the case directory. Unless it has its own -C, `-C {DIR}/c.conf` is prepended. */
const ARG_CASES: string[][] = [
  ...[
    "-i",
    "-i ct",
    "-i c",
    "-i expect",
    "-i exp",
    "-i e",
    "-i foo",
    "-i x",
    "-i ax",
    "-i ad",
    "-i zi",
    "-i -x",
    "-i ct -x",
    "-i expect -x",
    "-i -x -x",
    "-i -x -i",
    "-e",
    "-e ct",
    "-e expect -x",
    "-e -x",
    "-x",
    "-x -i",
    "-c",
    "-c ct",
    "-c expect",
    "-c zz",
    "-c aC {DIR}/c.conf",
    "-f",
    "-f internal",
    "-f int",
    "-f i",
    "-f external",
    "-f e",
    "-f bogus",
    "-f -x",
    "-F",
    "-F ct",
    "-F expect",
    "-F x",
    "-R",
    "-R ct",
    "-R expect",
    "-R ex -x",
    "-B",
    "-t",
    "-k",
    "-n",
    "-s",
    "-s network",
    "-s n",
    "-s c",
    "-s cache",
    "-s r",
    "-s runtime",
    "-s m",
    "-s multicast",
    "-s l",
    "-s link",
    "-s rs",
    "-s rsqueue",
    "-s p",
    "-s process",
    "-s q",
    "-s queue",
    "-s ct",
    "-s e",
    "-s expect",
    "-s expectation",
    "-s bogus",
    "-s -i",
    "-i -s",
    "-s -x",
    "-s multi -x",
    "-s cache -i expect",
    "-d -i",
    "-i -d",
    "-d -s",
    "-c -d",
    "-d -x",
    "-d -v",
    "-d -h",
    "-i -v",
    "-v -i",
    "-v",
    "-h",
    "-h -d",
    "-i -h",
    "-x -h",
    "-z",
    "-i -z",
    "--i",
    "--check",
    "-",
    "i",
    "-ifoo",
    "-dfoo -i",
    "-kill",
    "-sx",
    "-s -s -s",
    "-i -C",
    "-s -C",
  ].map((s) => s.split(" ")),
  ["", "-i"],
  ["-i", "", "-x"],
  ["-s", ""],
  ["-f", ""],
  ["-i", "-s", "", "-x"],
  ["-C", "{DIR}/none.conf", "-i"],
  ["-C", "{DIR}/c.conf", "-C", "{DIR}/none.conf", "-i"],
  ["-C", "{DIR}/none.conf", "-C", "{DIR}/c.conf", "-i"],
  ["-C", "{DIR}/none.conf", "-v"],
  ["-C", "{DIR}/backlog.conf", "-s"],
  ["-C", "{DIR}/nopath.conf", "-i"],
  ["-C", "{DIR}/longpath.conf", "-i"],
  ["-C", "", "-i"],
  ["-C", LONG, "-i"],
  ["-i", "-C", "{DIR}/c.conf", "-C"],
  ["-C", "-i", "-s"],
];

async function writeArgConfigs(dir: string) {
  const general = (unix: string) =>
    `General {\n\tLockFile ${dir}/lock\n\t${unix}\n\tSyslog off\n\tLogFile off\n}\nStats {\n\tLogFile off\n}\n`;
  await Deno.writeTextFile(`${dir}/c.conf`, general(`UNIX { Path ${dir}/nobody.ctl }`));
  await Deno.writeTextFile(
    `${dir}/backlog.conf`,
    general(`UNIX {\n\t\tPath ${dir}/nobody.ctl\n\t\tBacklog 5\n\t}`),
  );
  await Deno.writeTextFile(`${dir}/nopath.conf`, general(""));
  await Deno.writeTextFile(`${dir}/longpath.conf`, general(`UNIX { Path ${dir}/${"p".repeat(120)} }`));
}

function expand(argv: string[], dir: string): string[] {
  const withConfig = argv.includes("-C") || argv.some((a) => a.endsWith("C"))
    ? argv
    : ["-C", "{DIR}/c.conf", ...argv];
  return withConfig.map((a) => a.replaceAll("{DIR}", dir));
}

/** Would the reference start a daemon (console or -d) for this argv? Then it is not run. */
function startsDaemon(argv: string[]): boolean {
  try {
    // the reference knows no --check: to it that is just an unknown option
    const asReference = argv.map((a) => a === "--check" ? "--unknown" : a);
    return parseDaemonArgs(asReference, "conntrackd").mode === "daemon";
  } catch {
    return false;
  }
}

Deno.test({
  name: "conntrackd argument handling vs reference",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDir("ctkit-ctd-args-");
    // the `-C` fall-backs read the default config; its socket must not be a live daemon
    const defaultSocket = readUnixPath(DEFAULT_CONFIG_FILE)?.path ?? "";
    const defaultLive = defaultSocket !== "" && (await Deno.lstat(defaultSocket).catch(() => null)) !== null;
    try {
      await writeArgConfigs(dir);
      await withNetns(1, async (ns) => {
        let compared = 0;
        const failures: string[] = [];
        const cases = ARG_CASES.map((c) => expand(c, dir)).filter((argv) => {
          if (startsDaemon(argv)) throw new Error(`case would start a daemon: ${JSON.stringify(argv)}`);
          const usesDefault = argv.indexOf("-C") === argv.length - 1 || argv.includes("");
          return !(usesDefault && defaultLive);
        });
        // a few at a time: each side is a process start
        for (let i = 0; i < cases.length; i += 8) {
          await Promise.all(
            cases.slice(i, i + 8).map(async (argv) => {
              const label = JSON.stringify(argv).replace(LONG, "/aaa…");
              const [ref, ours] = await Promise.all([run(ns, REF_CMD, argv), run(ns, CTKIT_CMD, argv)]);
              // `--check` is ctkit's own flag: the reference calls it an unknown option
              if (argv.includes("--check")) {
                assertEquals(ref.code, 0, label);
                assertMatch(ref.stderr, /Unknown option: --check/);
                return;
              }
              // Config errors: ctkit names file and line (docs/COMPAT.md), in the same log-line form.
              if (argv.some((a) => a.endsWith("longpath.conf"))) {
                assertEquals([ours.code, ours.stdout], [ref.code, ref.stdout], label);
                assertMatch(ref.stderr, /\[ERROR\] Path is longer than 107 characters\n$/);
                assertMatch(
                  ours.stderr,
                  /\[ERROR\] \S+longpath\.conf:3: Path is longer than 107 characters\n$/,
                );
                compared++;
                return;
              }
              try {
                compare(ref, ours, label);
                compared++;
              } catch (e) {
                failures.push(String(e));
              }
            }),
          );
        }
        assertEquals(failures, []);
        console.log(`  ${compared} argv compared with the reference`);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------
// (2) A real reference daemon (Stats mode) in a namespace; both clients talk to it.

class RefDaemon {
  private constructor(
    readonly ns: Netns,
    readonly conf: string,
    readonly log: string,
    readonly socket: string,
  ) {}

  private child?: Deno.ChildProcess;
  private logOffset = 0;

  static async start(ns: Netns, dir: string): Promise<RefDaemon> {
    const conf = `${dir}/d.conf`;
    const socket = `${dir}/d.ctl`;
    await Deno.writeTextFile(
      conf,
      `General {\n\tLockFile ${dir}/d.lock\n\tUNIX { Path ${socket} }\n\tSyslog off\n\tLogFile off\n}\n` +
        "Stats {\n\tLogFile off\n}\n",
    );
    const d = new RefDaemon(ns, conf, `${dir}/d.log`, socket);
    await d.restart();
    return d;
  }

  /** Console mode in the background, its console output in a file we read in steps. */
  async restart(): Promise<void> {
    await Deno.writeTextFile(this.log, "");
    this.logOffset = 0;
    this.child = this.ns.spawn(["sh", "-c", `exec ${REF} -C "$0" >>"$1" 2>&1`, this.conf, this.log]);
    for (let i = 0; i < 100; i++) {
      if ((await Deno.lstat(this.socket).catch(() => null))?.isSocket) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `reference conntrackd did not create ${this.socket}: ${await Deno.readTextFile(this.log)}`,
    );
  }

  /** What the daemon logged since the last call. */
  async newLog(): Promise<string> {
    await new Promise((r) => setTimeout(r, 150)); // it logs right after answering
    const all = await Deno.readFile(this.log);
    const text = new TextDecoder().decode(all.subarray(this.logOffset));
    this.logOffset = all.length;
    return normLog(text);
  }

  /** Waits for the daemon to exit on its own (after -k); false on timeout. */
  async exited(ms = 5000): Promise<boolean> {
    const child = this.child;
    if (!child) return true;
    const done = child.status.then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), ms));
    const ok = await Promise.race([done, timeout]);
    if (ok) {
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      this.child = undefined;
    }
    return ok;
  }

  async stop(): Promise<void> {
    if (!this.child) return;
    try {
      this.child.kill("SIGTERM");
    } catch { /* gone */ }
    if (!(await this.exited(5000))) {
      try {
        this.child?.kill("SIGKILL");
      } catch { /* gone */ }
      await this.exited(2000);
    }
  }
}

const ENTRIES = [
  [
    "-I",
    "-s",
    "10.0.0.1",
    "-d",
    "10.0.0.2",
    "-p",
    "tcp",
    "--sport",
    "1000",
    "--dport",
    "22",
    "--state",
    "ESTABLISHED",
    "-t",
    "300",
    "-u",
    "ASSURED",
  ],
  ["-I", "-s", "10.0.0.3", "-d", "10.0.0.4", "-p", "udp", "--sport", "53", "--dport", "5353", "-t", "300"],
  [
    "-I",
    "-s",
    "10.0.0.5",
    "-d",
    "10.0.0.6",
    "-p",
    "icmp",
    "--icmp-type",
    "8",
    "--icmp-code",
    "0",
    "--icmp-id",
    "77",
    "-t",
    "300",
  ],
  [
    "-I",
    "-s",
    "10.0.0.7",
    "-d",
    "10.0.0.8",
    "-p",
    "tcp",
    "--sport",
    "2000",
    "--dport",
    "80",
    "--state",
    "SYN_SENT",
    "-t",
    "300",
    "-m",
    "7",
  ],
];

async function insertEntries(ns: Netns) {
  // entries that already exist make conntrack -I fail: that is fine here
  for (const e of ENTRIES) await ns.exec(["conntrack", ...e]);
}

/** Ages, ids and times differ between two dumps a moment apart; uptime too. */
function normDump(s: string): string {
  return s
    .replace(/\[active since [0-9]+s\]/g, "[active since Ns]")
    .replace(/<id>[0-9]+<\/id>/g, "<id>N</id>")
    .replace(/^daemon uptime: .*$/m, "daemon uptime: T");
}

Deno.test({
  name: "conntrackd client vs reference client against a reference daemon",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDir("ctkit-ctd-daemon-");
    try {
      await withNetns(1, async (ns) => {
        const daemon = await RefDaemon.start(ns, dir);
        try {
          await insertEntries(ns);
          await new Promise((r) => setTimeout(r, 300));
          await daemon.newLog();
          const pair = async (args: string[], restore = false) => {
            const argv = ["-C", daemon.conf, ...args];
            if (restore) await insertEntries(ns);
            const ref = await run(ns, REF_CMD, argv);
            const refLog = await daemon.newLog();
            const refTable = await ns.exec(["conntrack", "-L"]);
            if (restore) await insertEntries(ns);
            await daemon.newLog();
            const ours = await run(ns, CTKIT_CMD, argv);
            const ourLog = await daemon.newLog();
            const ourTable = await ns.exec(["conntrack", "-L"]);
            const label = args.join(" ");
            compare(ref, ours, label, normDump);
            assertEquals(ourLog, refLog, `${label}: what the daemon logged`);
            assertEquals(
              ourTable.stdout.split("\n").length,
              refTable.stdout.split("\n").length,
              `${label}: kernel table`,
            );
          };
          const reads = [
            ["-s"],
            ["-s", "ct"],
            ["-s", "network"],
            ["-s", "cache"],
            ["-s", "c"],
            ["-s", "runtime"],
            ["-s", "link"],
            ["-s", "multicast"],
            ["-s", "rsqueue"],
            ["-s", "process"],
            ["-s", "queue"],
            ["-s", "expect"],
            ["-i"],
            ["-i", "ct"],
            ["-i", "-x"],
            ["-i", "expect"],
            ["-i", "expect", "-x"],
            ["-e"],
            ["-e", "-x"],
          ];
          for (const args of reads) await pair(args);
          // the comparisons above are only worth something if the daemon had entries to show
          const dump = await run(ns, REF_CMD, ["-C", daemon.conf, "-i"]);
          assertEquals(dump.stdout.trim().split("\n").length, ENTRIES.length, dump.stdout);
          const actions = [
            ["-c"],
            ["-c", "ct"],
            ["-n"],
            ["-B"],
            ["-t"],
            ["-R"],
            ["-R", "ct"],
            ["-f"],
            ["-f", "external"],
            ["-f", "internal"],
            ["-F", "expect"],
            ["-F"],
          ];
          for (const args of actions) {
            await pair(args, true);
            await pair(["-i"]);
            await pair(["-s"]);
          }
          // -k last: ctkit stops this daemon, the reference client a fresh one; both print nothing
          const ours = await run(ns, CTKIT_CMD, ["-C", daemon.conf, "-k"]);
          assertEquals(await daemon.exited(), true, "ctkit -k stops the daemon");
          const ourLog = await daemon.newLog();
          await daemon.restart();
          await daemon.newLog();
          const ref = await run(ns, REF_CMD, ["-C", daemon.conf, "-k"]);
          assertEquals(await daemon.exited(), true, "reference -k stops the daemon");
          compare(ref, ours, "-k");
          assertEquals(ourLog, await daemon.newLog(), "-k: what the daemon logged");
          // nobody listening any more
          compare(
            await run(ns, REF_CMD, ["-C", daemon.conf, "-s"]),
            await run(ns, CTKIT_CMD, ["-C", daemon.conf, "-s"]),
            "-s after -k",
          );
        } finally {
          await daemon.stop();
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------
// A symlink named conntrackd runs ctkit as conntrackd (needs main.ts wired).

Deno.test({
  name: "symlink named conntrackd: -v and -h like the reference",
  ignore: !MAIN_WIRED,
  async fn() {
    const dir = await tempDir("ctkit-ctd-link-");
    try {
      const link = `${dir}/conntrackd`;
      await Deno.symlink(CTKIT, link);
      for (const flag of ["-v", "-h"]) {
        // the reference started with the same argv[0] (usage prints it)
        const ref = await sh(["bash", "-c", `exec -a "$0" ${REF} "$1"; `, link, flag]).catch((e) => e);
        const ours = await sh([link, flag]).catch((e) => e);
        assertEquals(ours.stdout, ref.stdout, flag);
        assertEquals(ours.stderr, "", flag);
      }
      assertEquals((await sh([link, "-v"])).stdout, versionText());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
