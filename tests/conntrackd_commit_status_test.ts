// `conntrackd -c` exits non-zero when the commit did not complete
// (src/conntrackd/client/commit_status.ts); 1.4.7's client exits 0 once it
// has sent the request, whatever became of it, and still does here.
//
// What a completed commit's reply looks like: 1.4.7's daemon reads the request,
// commits and closes the connection without writing a byte (strace); ctkit's
// daemon sends a NUL byte when it starts and another when it is done (printed
// by neither client). Checked against fake daemons on a UNIX socket (one that
// answers like a 1.4.7 daemon after a commit, one that dies half-way, one that
// breaks the connection, a ctkit daemon that gives up), against `ha primary`,
// and against real daemons: a normal commit through either client against
// either daemon, and a ctkit daemon SIGKILLed in the middle of a large commit.
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert";
import * as R from "../src/conntrackd/client/codes.ts";
import { CTKIT, Netns, type RunResult, sh } from "./lib/netns.ts";
import { pollUntil, sleep, withBed } from "./lib/sync_bed.ts";

const REF_CONNTRACKD = "/usr/sbin/conntrackd";
const HAVE_REF = (() => {
  try {
    Deno.statSync(REF_CONNTRACKD);
    return true;
  } catch {
    return false;
  }
})();

/** What a fake daemon does with one connection, given the request it read (null: it did not read). */
type Behaviour = (code: number | null, conn: Deno.Conn, fake: FakeDaemon) => Promise<void>;

/** A UNIX-socket server standing in for a daemon; `plan` says what to do with the n-th connection. */
class FakeDaemon {
  readonly requests: (number | null)[] = [];
  private readonly listener: Deno.Listener;
  private readonly loop: Promise<void>;
  private closed = false;

  constructor(readonly path: string, private readonly plan: (n: number) => Behaviour) {
    this.listener = Deno.listen({ transport: "unix", path });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for (let n = 0;; n++) {
      let conn: Deno.Conn;
      try {
        conn = await this.listener.accept();
      } catch {
        return;
      }
      const behaviour = this.plan(n);
      try {
        const code = behaviour === closeUnread ? null : await readCode(conn);
        this.requests.push(code);
        await behaviour(code, conn, this);
      } finally {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    }
  }

  /** The daemon is gone: nobody listens any more (the socket file stays, as after a SIGKILL). */
  vanish(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener.close();
  }

  async stop(): Promise<void> {
    this.vanish();
    await this.loop;
  }
}

async function readCode(conn: Deno.Conn): Promise<number | null> {
  const buf = new Uint8Array(4);
  for (let got = 0; got < 4;) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) return null;
    got += n;
  }
  return new DataView(buf.buffer).getInt32(0, true);
}

const write = (conn: Deno.Conn, text: string) => conn.write(new TextEncoder().encode(text));

/** 1.4.7 after a commit (and for any request it has nothing to say to): close, say nothing. */
const closeSilently: Behaviour = async () => {};
/** A daemon that answers `-s runtime` as 1.4.7 does and closes. */
const answerRuntime: Behaviour = async (code, conn) => {
  if (code === R.STATS_RUNTIME) await write(conn, "daemon uptime: 0 min\n\nnetlink stats:\n");
};
/** Dies during the request: reads it, and both the connection and the listener close. */
const dieDuring: Behaviour = (_code, _conn, fake) => {
  fake.vanish();
  return Promise.resolve();
};
/** Closes without reading the request (the client's bytes are left unread: ECONNRESET). */
const closeUnread: Behaviour = async () => {
  await sleep(200);
};
/** ctkit's daemon giving up after starting: one mark (e.g. another commit was running). */
const oneMark: Behaviour = async (_code, conn) => {
  await write(conn, R.COMMIT_MARK);
};
/** ctkit's daemon: a mark at the start, one at the end. */
const twoMarks: Behaviour = async (_code, conn) => {
  await write(conn, R.COMMIT_MARK);
  await sleep(100);
  await write(conn, R.COMMIT_MARK);
};

function clientConfig(dir: string, socket: string): string {
  return `General {\n\tLockFile ${dir}/lock\n\tUNIX {\n\t\tPath ${socket}\n\t}\n\tSyslog off\n}\n` +
    "Stats {\n\tLogFile off\n}\n";
}

const CTKIT_CLIENT = [CTKIT, "conntrackd"];
const REF_CLIENT = [REF_CONNTRACKD];

interface FakeCase {
  name: string;
  args: string[];
  plan: (n: number) => Behaviour;
  /** ctkit's client: exit status and the end of its error line (none when it exits 0). */
  ctkit: { code: number; error?: RegExp };
  /** The requests the fake saw from ctkit's client (the commit, then the `-s runtime` probe if any). */
  requests: (number | null)[];
}

const DIED = /\[ERROR\] the commit did not complete: conntrackd went away during the commit\n$/;

const FAKE_CASES: FakeCase[] = [
  {
    name: "1.4.7 after a commit: reads, closes without a byte, still answers",
    args: ["-c"],
    plan: (n) => n === 0 ? closeSilently : answerRuntime,
    ctkit: { code: 0 },
    requests: [R.ALL_COMMIT, R.STATS_RUNTIME],
  },
  {
    name: "a daemon that dies during the commit",
    args: ["-c"],
    plan: () => dieDuring,
    ctkit: { code: 1, error: DIED },
    requests: [R.ALL_COMMIT],
  },
  {
    name: "a daemon that dies during -c ct",
    args: ["-c", "ct"],
    plan: () => dieDuring,
    ctkit: { code: 1, error: DIED },
    requests: [R.CT_COMMIT],
  },
  {
    name: "a daemon that dies during -c expect",
    args: ["-c", "expect"],
    plan: () => dieDuring,
    ctkit: { code: 1, error: DIED },
    requests: [R.EXP_COMMIT],
  },
  {
    name: "a daemon that accepts and closes without reading the request",
    args: ["-c"],
    plan: (n) => n === 0 ? closeUnread : answerRuntime,
    ctkit: {
      code: 1,
      error:
        /\[ERROR\] the commit did not complete: the connection to conntrackd broke: Connection reset by peer\n$/,
    },
    requests: [null],
  },
  {
    name: "ctkit's daemon, commit started and given up (one mark)",
    args: ["-c"],
    plan: (n) => n === 0 ? oneMark : answerRuntime,
    ctkit: {
      code: 1,
      error:
        /\[ERROR\] the commit did not complete: conntrackd ended the request before the end of the commit/,
    },
    requests: [R.ALL_COMMIT, R.STATS_RUNTIME],
  },
  {
    name: "ctkit's daemon, commit started and completed (two marks): no probe",
    args: ["-c", "ct"],
    plan: () => twoMarks,
    ctkit: { code: 0 },
    requests: [R.CT_COMMIT],
  },
  {
    name: "not a commit: -s against a daemon that dies is not checked (as before)",
    args: ["-s"],
    plan: () => dieDuring,
    ctkit: { code: 0 },
    requests: [R.STATS],
  },
];

async function runIn(ns: Netns, argv: string[]): Promise<RunResult> {
  return await ns.exec(argv);
}

Deno.test({
  name: "conntrackd -c against fake daemons: exit 1 and an error line unless the commit completed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sh([...CTKIT_CLIENT, "-v"]);
    const ns = await Netns.create("ctkcm");
    const dir = await Deno.makeTempDir({ prefix: "ctkit-commit-" });
    const failures: string[] = [];
    try {
      for (const [i, c] of FAKE_CASES.entries()) {
        const socket = `${dir}/fake${i}.ctl`;
        const conf = `${dir}/fake${i}.conf`;
        await Deno.writeTextFile(conf, clientConfig(dir, socket));
        for (const client of HAVE_REF ? ["ctkit", "reference"] : ["ctkit"]) {
          await Deno.remove(socket).catch(() => {});
          const fake = new FakeDaemon(socket, c.plan);
          let r: RunResult;
          try {
            r = await runIn(ns, [...(client === "ctkit" ? CTKIT_CLIENT : REF_CLIENT), "-C", conf, ...c.args]);
          } finally {
            await fake.stop();
          }
          const what = `${c.name} (${client} client)`;
          if (r.stdout !== "") failures.push(`${what}: stdout ${JSON.stringify(r.stdout)}`);
          if (client === "reference") {
            // 1.4.7's client: exit 0 once the request is sent, whatever the daemon did.
            if (r.code !== 0 || r.stderr !== "") failures.push(`${what}: exit ${r.code} ${r.stderr}`);
            continue;
          }
          if (r.code !== c.ctkit.code) failures.push(`${what}: exit ${r.code}, expected ${c.ctkit.code}`);
          if (c.ctkit.error ? !c.ctkit.error.test(r.stderr) : r.stderr !== "") {
            failures.push(`${what}: stderr ${JSON.stringify(r.stderr)}`);
          }
          if (JSON.stringify(fake.requests) !== JSON.stringify(c.requests)) {
            failures.push(
              `${what}: requests ${JSON.stringify(fake.requests)}, expected ${JSON.stringify(c.requests)}`,
            );
          }
        }
      }
    } finally {
      await ns.destroy();
      await Deno.remove(dir, { recursive: true });
    }
    assertEquals(failures, []);
  },
});

Deno.test({
  name:
    "ha primary against a daemon that is not ctkit's: a commit that dies is reported, a completed one is not",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sh([...CTKIT_CLIENT, "-v"]);
    const ns = await Netns.create("ctkcm");
    const dir = await Deno.makeTempDir({ prefix: "ctkit-commit-ha-" });
    try {
      const socket = `${dir}/fake.ctl`;
      const conf = `${dir}/fake.conf`;
      await Deno.writeTextFile(conf, clientConfig(dir, socket));
      const ha = async (plan: (n: number) => Behaviour) => {
        await Deno.remove(socket).catch(() => {});
        await Deno.writeTextFile(`${dir}/ha.log`, "");
        const fake = new FakeDaemon(socket, plan);
        try {
          // --no-guard: nothing but the socket is touched (and this runs in a throw-away namespace anyway).
          const r = await runIn(ns, [
            ...CTKIT_CLIENT,
            "-C",
            conf,
            "ha",
            "--no-guard",
            "--log",
            `${dir}/ha.log`,
            "primary",
          ]);
          return { code: r.code, log: await Deno.readTextFile(`${dir}/ha.log`), requests: fake.requests };
        } finally {
          await fake.stop();
        }
      };
      // Like 1.4.7: the HA request is unknown to it (no answer, and it still answers -s runtime), then -c
      // completes (checked with a -s runtime again), -f, -R, -B.
      const ok = await ha((n) => n === 1 || n === 3 ? answerRuntime : closeSilently);
      assertEquals(ok.code, 0, ok.log);
      assertMatch(
        ok.log,
        /the daemon is not ctkit's: running -c, -f, -R, -B\n.*commit complete in [\d.]+ ms/,
      );
      assertEquals(ok.requests, [
        100,
        R.STATS_RUNTIME,
        R.ALL_COMMIT,
        R.STATS_RUNTIME,
        R.ALL_FLUSH_CACHE,
        R.ALL_RESYNC_MASTER,
        R.SEND_BULK,
      ]);
      // The daemon dies in the middle of -c.
      const died = await ha((n) => n === 0 ? closeSilently : n === 1 ? answerRuntime : dieDuring);
      assertEquals(died.code, 1, died.log);
      assert(!died.log.includes("commit complete"), died.log);
      assertMatch(
        died.log,
        /error: -c failed: the commit did not complete: conntrackd went away during the commit/,
      );
      assertEquals(died.requests, [100, R.STATS_RUNTIME, R.ALL_COMMIT]);
      // ctkit's daemon dies during the HA request itself (its reply comes at the end): not taken for 1.4.7.
      const gone = await ha(() => dieDuring);
      assertEquals(gone.code, 1, gone.log);
      assert(!gone.log.includes("not ctkit's"), gone.log);
      assertMatch(
        gone.log,
        /error: conntrackd went away during the primary transition: its commit is not known to have completed/,
      );
      assertEquals(gone.requests, [100]);
    } finally {
      await ns.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Flow `i` of the big table (all distinct). */
function flowLine(i: number): string {
  const a = `10.${40 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`;
  return `-I -s ${a} -d 192.0.2.${1 + (i % 200)} -p tcp --sport ${1024 + (i % 60000)} --dport 443 ` +
    "--state ESTABLISHED -t 3600 -u ASSURED";
}

const countOf = (stats: string, which: "internal" | "external") =>
  Number(new RegExp(`cache:${which}\\s+active objects:\\s+(\\d+)`).exec(stats)?.[1] ?? -1);

Deno.test({
  name:
    "conntrackd -c against real daemons: completed commits exit 0 alike, a ctkit daemon killed mid-commit exits 1",
  ignore: !HAVE_REF,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sh([...CTKIT_CLIENT, "-v"]);
    const N = 60_000;
    await withBed({ tag: "cmk", mode: "FTFW", kind: "udp", port: 3791 }, async (bed) => {
      const { a, b } = bed;
      try {
        await bed.start("ref", "ctkit");
        // 1. Normal commits: both clients against both daemons, the same (empty) output and exit 0.
        await a.conntrackBatch([0, 1, 2].map(flowLine));
        const three = await pollUntil(async () => countOf(await b.stats("cache"), "external") >= 3, 15_000);
        assert(three >= 0, await bed.logs());
        for (const side of [a, b]) {
          for (const client of [REF_CLIENT, CTKIT_CLIENT]) {
            const r = await side.run([...client, "-C", side.conf, "-c"], { allowFail: true });
            assertEquals(
              { code: r.code, stdout: r.stdout, stderr: r.stderr },
              { code: 0, stdout: "", stderr: "" },
              `${client.join(" ")} -c against the ${side.impl} daemon`,
            );
          }
        }
        assertEquals((await b.kernelKeys()).length, 3, "the commit put the flows in b's kernel");
        await b.conntrack(["-F"]);

        // 2. A large external cache; the daemon is SIGKILLed once the commit has begun.
        for (let from = 3; from < N; from += 20_000) {
          await a.conntrackBatch(
            Array.from({ length: Math.min(20_000, N - from) }, (_, k) => flowLine(from + k)),
          );
        }
        const full = await pollUntil(
          async () => countOf(await b.stats("cache"), "external") >= N,
          60_000,
          500,
        );
        assert(full >= 0, `b's external cache: ${countOf(await b.stats("cache"), "external")}`);
        const pid = Number(/\(pid=(\d+)\)/.exec(await b.logText())?.[1]);
        assert(pid > 0, await b.logText());
        const logged = (await b.logText()).length;
        const client = b.ns.spawn([...CTKIT_CLIENT, "-C", b.conf, "-c"]);
        const begun = await pollUntil(
          async () => (await b.logText()).slice(logged).includes("committing all external caches"),
          10_000,
          2,
        );
        assert(begun >= 0, "the commit began");
        Deno.kill(pid, "SIGKILL");
        const out = await client.output();
        const stderr = new TextDecoder().decode(out.stderr);
        const inKernel = Number((await b.conntrack(["-C"])).stdout.trim());
        assert(inKernel < N, `the commit was interrupted (${inKernel} of ${N} entries in the kernel)`);
        console.log(`SIGKILL with ${inKernel} of ${N} entries in the kernel`);
        assertEquals(new TextDecoder().decode(out.stdout), "");
        assertEquals(out.code, 1, stderr);
        assertMatch(stderr, DIED);
        assert(!(await b.logText()).slice(logged).includes("commit has taken"), "the daemon never finished");
      } catch (e) {
        throw new Error(`${e instanceof Error ? e.message : e}\n${await bed.logs()}`);
      }
    });
  },
});
