// `ctkit conntrackd … -o json` (issue 15) against both daemons: the reference
// conntrackd 1.4.7 and ctkit's, in Stats mode and in each sync mode (FTFW with
// two links and expectations, ALARM over multicast, NOTRACK over TCP, FTFW
// injecting into the kernel, NOTRACK without an internal cache), on both ends
// of a synced pair. For every `-s` word, and `-i`, `-e`, `-i expect`, `-e
// expect`, on each side:
//   - the text the reference client prints converts with nothing left unparsed,
//     and every number of it is in the JSON, in order;
//   - ctkit's client with `-o json` prints valid JSON lines of the same shape
//     (blocks and member names) as that conversion, nothing unparsed, and for
//     the dumps the same flows;
// and the shapes are the same whichever daemon answered.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import {
  type BedSpec,
  type Impl,
  limiter,
  pollUntil,
  type Side,
  warmCtkit,
  withBed,
} from "./lib/sync_bed.ts";
import { CTKIT } from "./lib/netns.ts";
import { statsToJson } from "../src/conntrackd/client/json_stats.ts";
import { conntrackLineToJson, expectLineToJson } from "../src/conntrackd/client/json_dump.ts";

const SECTIONS = [
  "",
  "network",
  "cache",
  "runtime",
  "link",
  "multicast",
  "rsqueue",
  "process",
  "queue",
  "ct",
  "expect",
];
/** The `section` member of each word (`multicast` is the old name of `link`, with a warning). */
const SECTION_NAME: Record<string, string> = { "": "ct", multicast: "link" };
const DUMPS = [["-i"], ["-e"], ["-i", "expect"], ["-e", "expect"]];

interface Setup {
  name: string;
  spec: Omit<BedSpec, "tag" | "port">;
  /** Stats mode: side a runs a Stats-mode daemon alone. */
  stats?: boolean;
  /** An FTP control connection on side a, whose expectation is synced. */
  ftp?: boolean;
}

const SETUPS: Setup[] = [
  { name: "Stats", spec: { mode: "FTFW", kind: "udp" }, stats: true },
  {
    name: "FTFW/udp, 2 links, expectations",
    spec: { mode: "FTFW", kind: "udp", links: 2, options: "ExpectationSync on" },
    ftp: true,
  },
  {
    name: "ALARM/multicast",
    spec: { mode: "ALARM", kind: "multicast", options: "ExpectationSync on" },
    ftp: true,
  },
  { name: "NOTRACK/tcp", spec: { mode: "NOTRACK", kind: "tcp" } },
  { name: "FTFW inject", spec: { mode: "FTFW", kind: "udp", modeClauses: "DisableExternalCache on" } },
  { name: "NOTRACK bypass", spec: { mode: "NOTRACK", kind: "udp", modeClauses: "DisableInternalCache on" } },
];

const FLOWS = [
  "-I -p tcp -s 10.10.0.1 -d 10.20.0.1 --sport 1001 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 300 -m 1",
  "-I -p udp -s 10.10.1.1 -d 10.20.0.2 --sport 53 --dport 5353 -t 120 -m 3",
  "-I -p icmp -s 10.10.2.1 -d 10.20.0.1 --icmp-type 8 --icmp-code 0 --icmp-id 1226 -t 120",
  "-I -p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 2001 --dport 80 --state SYN_SENT -t 200 -m 4",
  "-I -p tcp -s 10.10.3.1 -d 10.20.0.3 --sport 1111 --dport 80 --state ESTABLISHED -u SEEN_REPLY -t 300 --src-nat 192.168.200.1:4000",
  "-I -p tcp -s 10.10.4.1 -d 10.20.0.5 --sport 1200 --dport 22 --state ESTABLISHED -u SEEN_REPLY -t 300 -w 7",
];

const RSQUEUE_SHAPES = [
  "rsqueue:section,block,length",
  "rsqueue_entry:section,block,kind,seq,flags",
  "rsqueue_entry:section,block,kind,seq",
];

const lines = (t: string) => t.split("\n").filter((l) => l !== "");

/** Block names and member names of each JSON line (values aside), in order. */
function shape(jsonLines: string[]): string[] {
  const keys = (o: Record<string, unknown>): string =>
    Object.entries(o).map(([k, v]) =>
      v !== null && typeof v === "object" && !Array.isArray(v)
        ? `${k}{${keys(v as Record<string, unknown>)}}`
        : k
    )
      .join(",");
  return jsonLines.map((l) => {
    const o = JSON.parse(l);
    return `${o.block}:${keys(o)}`;
  });
}

/** Numbers of a `-s` text (the uptime aside) and of its JSON (uptime_minutes aside). */
function textNumbers(text: string): string[] {
  return lines(text).filter((l) => !l.startsWith("daemon uptime:"))
    .flatMap((l) => l.match(/(?<![A-Za-z0-9_.])\d+(?![A-Za-z0-9_])/g) ?? []);
}
function jsonNumbers(jsonLines: string[]): string[] {
  return jsonLines.filter((l) => !l.includes('"block":"daemon"'))
    .flatMap((l) => l.match(/(?<=[:\[,])\d+(?=[,}\]])/g) ?? []);
}

/**
 * A dump's JSON without what ticks between two requests (the ages; NOTRACK bypass's `-i` is the
 * kernel table, with its timeouts), sorted (the reference prints in hash order).
 */
function flows(jsonLines: string[]): string[] {
  return jsonLines.map((l) => l.replace(/,"(active_since|expires_in|timeout)":-?\d+/g, "")).sort();
}

async function client(side: Side, args: string[], impl: Impl): Promise<{ stdout: string; stderr: string }> {
  const bin = impl === "ref" ? ["/usr/sbin/conntrackd"] : [CTKIT, "conntrackd"];
  const r = await side.run([...bin, "-C", side.conf, ...args], { allowFail: true });
  if (r.code !== 0) throw new Error(`${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return r;
}

/** Checks one side; returns the shapes seen, by request. */
async function checkSide(side: Side, failures: string[]): Promise<Map<string, string[]>> {
  const shapes = new Map<string, string[]>();
  const where = `${side.impl} daemon, side ${side.name}`;
  for (const word of SECTIONS) {
    const args = word ? ["-s", word] : ["-s"];
    const text = (await client(side, args, "ref")).stdout;
    const local = statsToJson(SECTION_NAME[word] ?? word, text);
    if (local.unparsed) failures.push(`${where}: -s ${word}: unparsed:\n${local.lines.join("\n")}`);
    const [tn, jn] = [textNumbers(text), jsonNumbers(local.lines)];
    if (JSON.stringify(tn) !== JSON.stringify(jn)) {
      failures.push(`${where}: -s ${word}: numbers differ:\n${text}\n${local.lines.join("\n")}`);
    }
    const out = await client(side, [...args, "-o", "json"], "ctkit");
    const got = lines(out.stdout);
    const warning = word === "multicast"
      ? /^\[[^\]]+\] \(pid=\d+\) \[warning\] use `link' instead of `multicast' as parameter\.\n$/
      : /^$/;
    if (!warning.test(out.stderr)) failures.push(`${where}: -s ${word} -o json: stderr: ${out.stderr}`);
    if (got.some((l) => l.includes('"unparsed"'))) {
      failures.push(`${where}: -s ${word} -o json: ${out.stdout}`);
    }
    // rsqueue entries come and go between two requests: each line has one of the two shapes
    const ok = word === "rsqueue"
      ? shape(got).every((s) => RSQUEUE_SHAPES.includes(s)) &&
        shape(local.lines).every((s) => RSQUEUE_SHAPES.includes(s))
      : JSON.stringify(shape(got)) === JSON.stringify(shape(local.lines));
    if (!ok) {
      failures.push(
        `${where}: -s ${word} -o json:\n${out.stdout}\nvs the text's conversion:\n${local.lines.join("\n")}`,
      );
    }
    if (word !== "rsqueue") shapes.set(`-s ${word}`, shape(local.lines));
  }
  for (const args of DUMPS) {
    const what = args.join(" ");
    const text = (await client(side, args, "ref")).stdout;
    const convert = args.length === 1 ? conntrackLineToJson : expectLineToJson;
    const local = lines(text).map(convert);
    if (local.some((r) => r.unparsed)) failures.push(`${where}: ${what}: unparsed:\n${text}`);
    const out = await client(side, [...args, "-o", "json"], "ctkit");
    const got = lines(out.stdout);
    if (out.stderr) failures.push(`${where}: ${what} -o json: stderr: ${out.stderr}`);
    if (JSON.stringify(flows(got)) !== JSON.stringify(flows(local.map((r) => r.json)))) {
      failures.push(`${where}: ${what} -o json:\n${out.stdout}\nvs the text:\n${text}`);
    }
    for (const l of got) JSON.parse(l);
    shapes.set(what, [String(got.length)]);
  }
  return shapes;
}

async function run(setup: Setup, impl: Impl, index: number): Promise<{ failures: string[]; shapes: string }> {
  const failures: string[] = [];
  let shapes = "";
  const spec: BedSpec = { ...setup.spec, tag: `j${index}`, port: 3700 + index };
  await withBed(spec, async (bed) => {
    const { a, b } = bed;
    try {
      if (setup.stats) {
        await Deno.writeTextFile(
          a.conf,
          `General {\n\tLockFile ${bed.dir}/a.lock\n\tUNIX { Path ${a.socket} }\n\tLogFile ${a.logFile}\n` +
            `\tSyslog off\n}\nStats {\n\tLogFile off\n\tSyslog off\n}\n`,
        );
        await a.start(impl);
      } else {
        await bed.start(impl, impl);
      }
      await a.conntrackEach(FLOWS);
      if (setup.ftp) {
        await a.iptables([
          "-t",
          "raw",
          "-A",
          "OUTPUT",
          "-p",
          "tcp",
          "--dport",
          "21",
          "-j",
          "CT",
          "--helper",
          "ftp",
        ]);
        await a.traffic("ftp 127.0.0.1 40021 127.0.0.1 50000");
      }
      const want = FLOWS.length + (setup.ftp ? 1 : 0);
      const settled = setup.stats || setup.spec.modeClauses?.includes("DisableExternalCache")
        ? async () => lines((await client(a, ["-i"], "ref")).stdout).length >= want
        : async () => lines((await client(b, ["-e"], "ref")).stdout).length >= want;
      if ((await pollUntil(settled, 10_000, 150)) < 0) failures.push("the flows did not reach the caches");
      if (setup.ftp) {
        // the expectation must be there to be converted: a's internal and b's external expect caches
        const ok = async () =>
          lines((await client(a, ["-i", "expect"], "ref")).stdout).length === 1 &&
          lines((await client(b, ["-e", "expect"], "ref")).stdout).length === 1;
        if ((await pollUntil(ok, 10_000, 150)) < 0) failures.push("the expectation did not reach the caches");
      }
      const sides = setup.stats ? [a] : [a, b];
      const all: string[] = [];
      for (const s of sides) {
        const m = await checkSide(s, failures);
        all.push(`side ${s.name}:\n` + [...m].map(([k, v]) => `  ${k}: ${v.join(" | ")}`).join("\n"));
      }
      shapes = all.join("\n");
    } catch (e) {
      failures.push(`error: ${e instanceof Error ? e.stack : String(e)}`);
    }
    if (failures.length) failures.push(await bed.logs());
  });
  return { failures, shapes };
}

/**
 * ctkit's daemons with sync Authentication (issue 14: the reference has none): `-s network` gains
 * lines under `recv:` that the converter knows only by their labels.
 */
Deno.test({
  name: "conntrackd -s network -o json with ctkit's sync Authentication: the extra counters by their labels",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await warmCtkit();
    await withBed({ tag: "jauth", mode: "FTFW", kind: "udp", port: 3798 }, async (bed) => {
      const key = `${bed.dir}/sync.key`;
      await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
      const children: Deno.ChildProcess[] = [];
      try {
        for (const s of [bed.a, bed.b]) {
          const text = await Deno.readTextFile(s.conf);
          await Deno.writeTextFile(
            s.conf,
            text.replace(/\}\n$/, `\tAuthentication {\n\t\tKeyFile ${key}\n\t}\n}\n`),
          );
          await Deno.mkdir(`${bed.dir}/state-${s.name}`);
          // the daemon keeps its replay state in CTKIT_STATE_DIR: the bed's dir, not /var/lib/ctkit
          children.push(
            new Deno.Command("ip", {
              args: [
                "netns",
                "exec",
                s.ns.name,
                "env",
                `CTKIT_STATE_DIR=${bed.dir}/state-${s.name}`,
                "sh",
                "-c",
                `exec ${CTKIT} conntrackd -C "$0" >>"$1" 2>&1`,
                s.conf,
                s.consoleFile,
              ],
              stdin: "null",
              stdout: "null",
              stderr: "null",
            }).spawn(),
          );
        }
        for (const s of [bed.a, bed.b]) {
          const up = async () => (await Deno.lstat(s.socket).catch(() => null))?.isSocket === true;
          if ((await pollUntil(up, 30_000, 50)) < 0) throw new Error(`side ${s.name} did not start`);
        }
        await bed.a.conntrackEach(FLOWS);
        const synced = async () =>
          lines((await client(bed.b, ["-e"], "ctkit")).stdout).length >= FLOWS.length;
        if ((await pollUntil(synced, 10_000, 150)) < 0) throw new Error("the flows were not synced");
        for (const s of [bed.a, bed.b]) {
          const text = (await client(s, ["-s", "network"], "ctkit")).stdout;
          const local = statsToJson("network", text);
          assertEquals(local.unparsed, 0, text);
          assertEquals(jsonNumbers(local.lines), textNumbers(text), text);
          const out = await client(s, ["-s", "network", "-o", "json"], "ctkit");
          assertEquals(out.stderr, "");
          const network = JSON.parse(lines(out.stdout)[0]);
          assertEquals(Object.keys(network.recv), [
            "malformed",
            "wrong_version",
            "malformed_header",
            "malformed_payload",
            "bad_type",
            "truncated",
            "bad_size",
            ...Object.keys(network.recv).slice(7),
          ]);
          // whatever the lines are called, each is a counter of the recv group, none is dropped
          const extra = text.split("\tsend:")[0].split("Bad message size:")[1].split("\n").slice(1)
            .filter((l) => l.trim());
          assert(extra.length > 0, `no Authentication lines in:\n${text}`);
          assertEquals(Object.keys(network.recv).length, 7 + extra.length, `${text}\n${out.stdout}`);
        }
      } finally {
        for (const c of children) {
          try {
            c.kill("SIGTERM");
          } catch { /* gone */ }
        }
        for (const c of children) await Promise.race([c.status, new Promise((r) => setTimeout(r, 5000))]);
        for (const c of children) {
          try {
            c.kill("SIGKILL");
          } catch { /* gone */ }
          await c.status;
        }
      }
    });
  },
});

Deno.test({
  name: "conntrackd -o json against the reference daemon and ctkit's, every mode and section",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await warmCtkit();
    const limit = limiter(4);
    let index = 0;
    const results = new Map<string, Promise<{ failures: string[]; shapes: string }>>();
    for (const setup of SETUPS) {
      for (const impl of ["ref", "ctkit"] as Impl[]) {
        const i = index++;
        results.set(`${setup.name} ${impl}`, limit(() => run(setup, impl, i)));
      }
    }
    for (const setup of SETUPS) {
      await t.step(setup.name, async () => {
        const ref = await results.get(`${setup.name} ref`)!;
        const ours = await results.get(`${setup.name} ctkit`)!;
        const failures = [...ref.failures.map((f) => `[reference daemon] ${f}`), ...ours.failures];
        if (!failures.length) {
          // What either daemon answers reads the same way.
          assertEquals(ours.shapes, ref.shapes);
        }
        if (Deno.env.get("CTKIT_JSON_SHOW")) console.log(`${setup.name}:\n${ours.shapes}`);
        if (failures.length) throw new Error(failures.join("\n\n"));
      });
    }
  },
});
