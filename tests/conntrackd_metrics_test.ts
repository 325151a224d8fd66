// The daemon's Prometheus endpoint (issue 15): the `Metrics` clause (bad ones
// refused, bind failures at start-up), nothing listening without it and only
// the configured address with it, GET /metrics (404 and 405 otherwise),
// `promtool check metrics` clean in every mode with the figures of `-s`, and a
// real Prometheus in a namespace of its own scraping a ctkit pair during a
// sync run, answering queries — the README's alert expressions among them —
// over its HTTP API. Uses Debian's prometheus package (scripts/bootstrap
// installs it); the tests that need it say so and skip when it is missing.
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert";
import { type BedSpec, limiter, pollUntil, type Side, sleep, warmCtkit, withBed } from "./lib/sync_bed.ts";
import { CTKIT, Netns, sh } from "./lib/netns.ts";

const PROMTOOL = "/usr/bin/promtool";
const PROMETHEUS = "/usr/bin/prometheus";
const havePrometheus = [PROMTOOL, PROMETHEUS].every((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const MISSING = "Debian's prometheus package is not installed (scripts/bootstrap installs it): skipped";

const metricsClause = (address: string, port = 9595) =>
  `\tMetrics {\n\t\tAddress ${address}\n\t\tPort ${port}\n\t}\n`;

// ---------------------------------------------------------------------------------------------
// HTTP and the exposition format

interface HttpResult {
  status: number;
  type: string;
  allow: string;
  body: string;
}

/** An HTTP request made from inside `ns` (python3's urllib; the tests talk to namespaces only). */
async function http(ns: Netns, url: string, method = "GET"): Promise<HttpResult> {
  const script = `
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    r = urllib.request.urlopen(req, timeout=5)
    status, headers, body = r.status, r.headers, r.read()
except urllib.error.HTTPError as e:
    status, headers, body = e.code, e.headers, e.read()
sys.stdout.write("%d\\n%s\\n%s\\n" % (status, headers.get("Content-Type", ""), headers.get("Allow", "")))
sys.stdout.write(body.decode())
`;
  const r = await ns.exec(["python3", "-c", script, url, method]);
  if (r.code !== 0) throw new Error(`${method} ${url} in ${ns.name}: ${r.stderr}`);
  const [status, type, allow, ...body] = r.stdout.split("\n");
  return { status: Number(status), type, allow, body: body.join("\n") };
}

/** `promtool check metrics` of an exposition: its complaints, "" when clean. */
async function promtoolCheck(text: string): Promise<string> {
  const child = new Deno.Command(PROMTOOL, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const d = new TextDecoder();
  const said = d.decode(out.stdout) + d.decode(out.stderr);
  return out.code === 0 && said.trim() === "" ? "" : `exit ${out.code}: ${said}`;
}

/** Samples of an exposition: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

function families(text: string): Set<string> {
  return new Set(text.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]));
}

/** TCP sockets listening in `ns`, as `address:port`. */
async function listeners(ns: Netns): Promise<string[]> {
  const r = await ns.exec(["ss", "-Hltn"]);
  return r.stdout.split("\n").filter((l) => l.trim()).map((l) => l.trim().split(/\s+/)[3]).sort();
}

/**
 * `-s`'s `current active connections` of a cache (ctkit's client: the reference's refuses a
 * config file with the Metrics clause, which is not in its grammar).
 */
async function activeOf(side: Side, cache: string): Promise<number> {
  const text = await side.request(["-s"], "ctkit");
  const m = new RegExp(`cache ${cache}:\\ncurrent active connections:\\s+(\\d+)`).exec(text);
  return m ? Number(m[1]) : -1;
}

const FLOWS = [
  "-I -p tcp -s 10.10.0.1 -d 10.20.0.1 --sport 1001 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 300",
  "-I -p udp -s 10.10.1.1 -d 10.20.0.2 --sport 53 --dport 5353 -t 120 -m 3",
  "-I -p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 2001 --dport 80 --state ESTABLISHED -u SEEN_REPLY -t 200",
];

// ---------------------------------------------------------------------------------------------

Deno.test("Metrics clause: bad ones refused with a clear error, by --check and by the daemon", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctkit-metrics-conf-" });
  try {
    const cases: [string, RegExp][] = [
      ["Address 127.0.0.1\n\t\tPort 0", /:6: Metrics Port 0 is out of range \(1-65535\)/],
      ["Address 127.0.0.1\n\t\tPort 65536", /:6: Metrics Port 65536 is out of range \(1-65535\)/],
      ["Address 300.1.1.1\n\t\tPort 9595", /:5: Metrics Address '300\.1\.1\.1' is not a valid address/],
      ["Address 010.0.0.1\n\t\tPort 9595", /:5: Metrics Address '010\.0\.0\.1' is not a valid address/],
      [
        "Address 10.0.0.1/8\n\t\tPort 9595",
        /:5: Metrics Address takes an address, not a prefix: '10\.0\.0\.1\/8'/,
      ],
      [
        "Address localhost\n\t\tPort 9595",
        /:5: expected an IPv4 or IPv6 address after Metrics Address, found 'localhost'/,
      ],
      ["Port 9595", /:4: the Metrics block needs an Address/],
      ["Address ::1", /:4: the Metrics block needs a Port/],
      ["Address ::1\n\t\tPort 9595\n\t\tPath /metrics", /:7: unknown clause 'Path' in the Metrics block/],
    ];
    for (const [body, message] of cases) {
      const conf = `${dir}/bad.conf`;
      await Deno.writeTextFile(
        conf,
        `General {\n\tUNIX { Path ${dir}/ctl }\n\tLockFile ${dir}/lock\n\tMetrics {\n\t\t${body}\n\t}\n}\nStats {\n}\n`,
      );
      for (const args of [["--check"], []]) {
        // a daemon that would start runs in console mode: it must not get that far
        const out = await new Deno.Command(CTKIT, {
          args: ["conntrackd", "-C", conf, ...args],
          stdout: "piped",
          stderr: "piped",
        })
          .output();
        const err = new TextDecoder().decode(out.stderr);
        assertEquals(out.code, 1, `${body} ${args}: ${err}`);
        assertMatch(err, message, body);
      }
    }
    // twice is an error too; a good clause is printed back by --check, IPv6 included
    await Deno.writeTextFile(
      `${dir}/twice.conf`,
      `General {\n\tUNIX { Path ${dir}/ctl }\n${metricsClause("::1")}${
        metricsClause("127.0.0.1")
      }}\nStats {\n}\n`,
    );
    const twice = await new Deno.Command(CTKIT, {
      args: ["conntrackd", "-C", `${dir}/twice.conf`, "--check"],
      stderr: "piped",
    })
      .output();
    assertEquals(twice.code, 1);
    assertMatch(new TextDecoder().decode(twice.stderr), /:7: Metrics is given twice \(first on line 3\)/);
    await Deno.writeTextFile(
      `${dir}/good.conf`,
      `General {\n\tUNIX { Path ${dir}/ctl }\n${metricsClause("2001:DB8:0::1", 9100)}}\nStats {\n}\n`,
    );
    const good = await sh([CTKIT, "conntrackd", "-C", `${dir}/good.conf`, "--check"]);
    assertMatch(good.stdout, /\n\tMetrics {\n\t\tAddress 2001:db8::1\n\t\tPort 9100\n\t}\n}\nStats {/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A ctkit daemon in Stats mode in a fresh namespace, with `general` lines; `fn` gets it running. */
async function withStatsDaemon<T>(
  general: string,
  fn: (ns: Netns, conf: string, console: () => Promise<string>, exited: () => number | null) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ctkit-metrics-" });
  const ns = await Netns.create("ctkmx");
  const conf = `${dir}/c.conf`;
  await Deno.writeTextFile(
    conf,
    `General {\n\tLockFile ${dir}/lock\n\tUNIX { Path ${dir}/ctl }\n\tLogFile ${dir}/log\n\tSyslog off\n${general}}\n` +
      `Stats {\n\tLogFile off\n\tSyslog off\n}\n`,
  );
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns.name,
      "sh",
      "-c",
      `exec ${CTKIT} conntrackd -C "$0" >"$1" 2>&1`,
      conf,
      `${dir}/console`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let code: number | null = null;
  const status = child.status.then((s) => code = s.code);
  const console = () => Deno.readTextFile(`${dir}/console`).catch(() => "");
  try {
    await pollUntil(async () => code !== null || (await console()).includes("-- starting in"), 30_000, 50);
    return await fn(ns, conf, console, () => code);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await Promise.race([status, sleep(5000)]);
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await status;
    await ns.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "Metrics endpoint: only where configured; GET /metrics, 404, 405, HEAD; a bind failure stops the start-up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await warmCtkit();
    // without the clause nothing listens
    await withStatsDaemon("", async (ns, _conf, console) => {
      assertEquals(await listeners(ns), []);
      assert(!(await console()).includes("metrics"));
    });
    for (const [address, url] of [["127.0.0.1", "http://127.0.0.1:9595"], ["::1", "http://[::1]:9595"]]) {
      await withStatsDaemon(metricsClause(address), async (ns, _conf, console) => {
        assertEquals(await listeners(ns), [address === "::1" ? "[::1]:9595" : "127.0.0.1:9595"]);
        assertMatch(
          await console(),
          new RegExp(`\\[notice\\] metrics: serving ${url.replace(/[[\].]/g, "\\$&")}/metrics\\n`),
        );
        const ok = await http(ns, `${url}/metrics`);
        assertEquals([ok.status, ok.type], [200, "text/plain; version=0.0.4; charset=utf-8"]);
        assertMatch(ok.body, /^# HELP conntrackd_info /);
        assertMatch(ok.body, /\nconntrackd_cache_entries\{cache="internal",table="ct"\} 0\n/);
        assertMatch(ok.body, /\nconntrackd_kernel_table_entries_limit \d+\n/);
        if (havePrometheus) assertEquals(await promtoolCheck(ok.body), "");
        assertEquals((await http(ns, `${url}/`)).status, 404);
        assertEquals((await http(ns, `${url}/metrics/x`)).status, 404);
        const post = await http(ns, `${url}/metrics`, "POST");
        assertEquals([post.status, post.allow], [405, "GET, HEAD"]);
        const head = await http(ns, `${url}/metrics`, "HEAD");
        assertEquals([head.status, head.body], [200, ""]);
      });
    }
    // an address the namespace does not have
    await withStatsDaemon(metricsClause("192.0.2.1"), async (ns, _conf, console, exited) => {
      await pollUntil(() => Promise.resolve(exited() !== null), 10_000, 50);
      assertEquals(exited(), 1);
      const text = await console();
      assertMatch(
        text,
        /\[ERROR\] metrics: cannot listen on 192\.0\.2\.1:9595: Cannot assign requested address \(os error 99\)\n/,
      );
      assertMatch(text, /\[ERROR\] conntrackd cannot start, please review your configuration\n/);
      assertEquals(await listeners(ns), []);
    });
  },
});

// ---------------------------------------------------------------------------------------------
// every mode

interface ModeCase {
  name: string;
  spec: Omit<BedSpec, "tag" | "port">;
  stats?: boolean;
  /** Families that must be there (on side a). */
  present: string[];
  /** Families that must not. */
  absent: string[];
}

const MODES: ModeCase[] = [
  {
    name: "Stats",
    spec: { mode: "FTFW", kind: "udp" },
    stats: true,
    present: [
      "conntrackd_cache_entries",
      "conntrackd_netlink_events_total",
      "conntrackd_kernel_table_entries",
    ],
    absent: ["conntrackd_sync_messages_total", "conntrackd_link_up", "conntrackd_commits_total"],
  },
  {
    name: "FTFW/udp, 2 links, expectations",
    spec: { mode: "FTFW", kind: "udp", links: 2, options: "ExpectationSync on" },
    present: [
      "conntrackd_sync_resent_messages_total",
      "conntrackd_sync_nacks_total",
      "conntrackd_queue_entries",
    ],
    absent: ["conntrackd_link_tcp_connected", "conntrackd_inject_operations_total"],
  },
  {
    name: "ALARM/multicast",
    spec: { mode: "ALARM", kind: "multicast" },
    present: ["conntrackd_sync_messages_total", "conntrackd_link_up"],
    absent: ["conntrackd_sync_resent_messages_total", "conntrackd_sync_nacks_total"],
  },
  {
    name: "NOTRACK/tcp",
    spec: { mode: "NOTRACK", kind: "tcp" },
    present: ["conntrackd_link_tcp_connected", "conntrackd_sync_malformed_messages_total"],
    absent: ["conntrackd_sync_resent_messages_total"],
  },
  {
    name: "FTFW inject",
    spec: { mode: "FTFW", kind: "udp", modeClauses: "DisableExternalCache on" },
    present: ["conntrackd_inject_operations_total"],
    absent: ["conntrackd_bypass_events_total"],
  },
  {
    name: "NOTRACK bypass",
    spec: { mode: "NOTRACK", kind: "udp", modeClauses: "DisableInternalCache on" },
    present: ["conntrackd_bypass_events_total"],
    absent: ["conntrackd_inject_operations_total"],
  },
];

async function modeCase(c: ModeCase, index: number): Promise<string[]> {
  const failures: string[] = [];
  const address = index % 2 ? "::1" : "127.0.0.1";
  const url = `http://${address === "::1" ? "[::1]" : address}:9595/metrics`;
  const spec: BedSpec = { ...c.spec, tag: `x${index}`, port: 3760 + index, general: metricsClause(address) };
  await withBed(spec, async (bed) => {
    const { a, b } = bed;
    try {
      // the scrapes stay out of the conntrack tables (and so out of the caches being counted)
      for (const s of [a, b]) {
        for (const tool of ["iptables", "ip6tables"]) {
          for (
            const [chain, port] of [["PREROUTING", "--dport"], ["OUTPUT", "--dport"], ["OUTPUT", "--sport"]]
          ) {
            await s.run([tool, "-t", "raw", "-A", chain, "-p", "tcp", port, "9595", "-j", "NOTRACK"]);
          }
        }
      }
      if (c.stats) {
        await Deno.writeTextFile(
          a.conf,
          `General {\n\tLockFile ${bed.dir}/a.lock\n\tUNIX { Path ${a.socket} }\n\tLogFile ${a.logFile}\n` +
            `\tSyslog off\n${metricsClause(address)}}\nStats {\n\tLogFile off\n\tSyslog off\n}\n`,
        );
        await a.start("ctkit");
      } else {
        await bed.start("ctkit", "ctkit");
      }
      await a.conntrackEach(FLOWS);
      const inject = c.spec.modeClauses?.includes("DisableExternalCache");
      const bypass = c.spec.modeClauses?.includes("DisableInternalCache");
      const scrape = async (s: Side) => (await http(s.ns, url)).body;
      // the flows reach a's internal cache (or the wire) and b's external cache (or kernel)
      const settled = async () => {
        const m = samples(await scrape(a));
        if (!bypass && m.get('conntrackd_cache_entries{cache="internal",table="ct"}') !== FLOWS.length) {
          return false;
        }
        if (c.stats) return true;
        const mb = samples(await scrape(b));
        if (inject) {
          return mb.get('conntrackd_inject_operations_total{table="ct",operation="create",result="ok"}') ===
            FLOWS.length;
        }
        return mb.get('conntrackd_cache_entries{cache="external",table="ct"}') === FLOWS.length;
      };
      if ((await pollUntil(settled, 10_000, 150)) < 0) failures.push(`${c.name}: the flows did not show`);
      // a commit, and for FTFW an HA transition, so their families show too
      if (!c.stats && c.spec.mode === "FTFW" && !inject) {
        const ha = await b.run([CTKIT, "conntrackd", "-C", b.conf, "ha", "--no-guard", "primary"], {
          allowFail: true,
        });
        if (ha.code !== 0) failures.push(`ha primary: ${ha.stdout}${ha.stderr}`);
      } else if (!c.stats && !inject) await b.request(["-c"], "ctkit");
      for (const s of c.stats ? [a] : [a, b]) {
        const text = await scrape(s);
        const lint = await promtoolCheck(text);
        if (lint) failures.push(`${c.name} side ${s.name}: promtool check metrics: ${lint}\n${text}`);
        const fams = families(text);
        if (s === a) {
          for (const f of c.present) if (!fams.has(f)) failures.push(`${c.name}: ${f} missing`);
          for (const f of c.absent) if (fams.has(f)) failures.push(`${c.name}: ${f} should not be there`);
        }
        // the endpoint's cache figures are -s's
        const m = samples(text);
        for (const cache of ["internal", "external"]) {
          const shown = m.get(`conntrackd_cache_entries{cache="${cache}",table="ct"}`);
          if (shown === undefined) continue;
          const textValue = await activeOf(s, c.stats ? "stats" : cache);
          if (shown !== textValue) {
            failures.push(`${c.name} side ${s.name}: ${cache} ${shown} vs -s ${textValue}`);
          }
        }
        if (!c.stats) {
          const links = [...m.keys()].filter((k) => k.startsWith("conntrackd_link_up{"));
          if (links.length !== (c.spec.links ?? 1) || links.some((k) => m.get(k) !== 1)) {
            failures.push(`${c.name} side ${s.name}: link_up ${links.map((k) => `${k}=${m.get(k)}`)}`);
          }
          if (!(m.get('conntrackd_sync_messages_total{direction="received",kind="data"}')! > 0) && s === b) {
            failures.push(`${c.name}: b received no data messages`);
          }
        }
        if (s === b && c.spec.mode === "FTFW" && !inject) {
          const want = [
            ['conntrackd_ha_state{state="primary"}', 1],
            ['conntrackd_ha_transitions_total{state="primary"}', 1],
            ['conntrackd_commit_last_entries{table="ct",result="ok"}', FLOWS.length],
            ['conntrackd_commit_last_entries{table="expect",result="ok"}', 0],
            ["conntrackd_commits_total", 1],
          ] as const;
          for (const [k, v] of want) {
            if (m.get(k) !== v) failures.push(`${c.name} b: ${k} = ${m.get(k)}, not ${v}`);
          }
          for (const step of ["commit", "flush", "resync", "bulk_send"]) {
            if (!(m.get(`conntrackd_ha_last_transition_step_duration_seconds{step="${step}"}`)! >= 0)) {
              failures.push(`${c.name} b: no ${step} step`);
            }
          }
        }
      }
    } catch (e) {
      failures.push(`${c.name}: ${e instanceof Error ? e.stack : String(e)}`);
    }
    if (failures.length) failures.push(await bed.logs());
  });
  return failures;
}

Deno.test({
  name: "Metrics endpoint: promtool check metrics clean in every mode, figures as -s shows them",
  ignore: !havePrometheus,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await warmCtkit();
    const limit = limiter(3);
    const results = MODES.map((c, i) => limit(() => modeCase(c, i)));
    for (let i = 0; i < MODES.length; i++) {
      await t.step(MODES[i].name, async () => {
        const f = await results[i];
        if (f.length) throw new Error(f.join("\n\n"));
      });
    }
  },
});

if (!havePrometheus) {
  Deno.test("Metrics endpoint with promtool and Prometheus", () => console.log(MISSING));
}

// ---------------------------------------------------------------------------------------------
// a real Prometheus

/**
 * The README's three alerts ("Three alerts"), read from it, with their 5-minute rate windows
 * shortened to 2 minutes for a test that lasts seconds.
 */
function readmeAlerts(): Record<"externalBehind" | "linkDown" | "resends", string> {
  const readme = Deno.readTextFileSync(new URL("../README.md", import.meta.url));
  const expr = (alert: string) => {
    const m = new RegExp(`- alert: ${alert}\\n\\s+expr: (\\|\\n((?:\\s{10}.*\\n)+)|(.*)\\n)`).exec(readme);
    if (!m) throw new Error(`README.md has no alert ${alert}`);
    return (m[2] ?? m[3]).replaceAll("[5m]", "[2m]").trim();
  };
  return {
    externalBehind: expr("ConntrackdExternalCacheBehind"),
    linkDown: expr("ConntrackdLinkDown"),
    resends: expr("ConntrackdResendsGrowing"),
  };
}
const ALERTS = readmeAlerts();

/** Runs an instant query over Prometheus's HTTP API from inside `ns`: the result's samples. */
async function query(
  ns: Netns,
  expr: string,
): Promise<Array<{ metric: Record<string, string>; value: number }>> {
  const r = await http(ns, `http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent(expr)}`);
  if (r.status !== 200) throw new Error(`query ${expr}: HTTP ${r.status}: ${r.body}`);
  const j = JSON.parse(r.body);
  if (j.status !== "success") throw new Error(`query ${expr}: ${r.body}`);
  return j.data.result.map((x: { metric: Record<string, string>; value: [number, string] }) => ({
    metric: x.metric,
    value: Number(x.value[1]),
  }));
}

Deno.test({
  name:
    "a real Prometheus in a namespace scrapes a ctkit pair during a sync run and answers over its HTTP API",
  ignore: !havePrometheus,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await warmCtkit();
    const N = 400;
    const spec: BedSpec = {
      tag: "prom",
      mode: "FTFW",
      kind: "udp",
      port: 3799,
      // each firewall serves its metrics on its management address (set up below)
      general: "",
    };
    await withBed(spec, async (bed) => {
      const { a, b } = bed;
      const mon = await Netns.create("ctkprom");
      let prom: Deno.ChildProcess | null = null;
      const dir = `${bed.dir}/prometheus`;
      try {
        // the management network: mon <-> a (10.99.1.0/24) and mon <-> b (10.99.2.0/24)
        for (const [s, i] of [[a, 1], [b, 2]] as const) {
          const local = `pm${i}${crypto.randomUUID().slice(0, 6)}`;
          await sh([
            "ip",
            "link",
            "add",
            local,
            "netns",
            mon.name,
            "type",
            "veth",
            "peer",
            "name",
            "mgmt",
            "netns",
            s.ns.name,
          ]);
          await s.run(["ip", "addr", "add", `10.99.${i}.1/24`, "dev", "mgmt"]);
          await s.run(["ip", "link", "set", "mgmt", "up"]);
          await mon.exec(["ip", "addr", "add", `10.99.${i}.2/24`, "dev", local]);
          await mon.exec(["ip", "link", "set", local, "up"]);
          // the scrapes stay out of the firewalls' conntrack tables (and so out of their caches)
          for (const chain of [["PREROUTING", "-i"], ["OUTPUT", "-o"]]) {
            await s.iptables(["-t", "raw", "-A", chain[0], chain[1], "mgmt", "-j", "NOTRACK"]);
          }
          const conf = await Deno.readTextFile(s.conf);
          await Deno.writeTextFile(
            s.conf,
            conf.replace("General {\n", `General {\n${metricsClause(`10.99.${i}.1`)}`),
          );
        }
        await bed.start("ctkit", "ctkit");
        // Prometheus: 1 s scrapes of both firewalls, storage in the bed's temp dir, listening inside mon
        await Deno.mkdir(dir);
        const target = (node: string, peer: string, i: number) =>
          `  - targets: ['10.99.${i}.1:9595']\n    labels: {cluster: 'fw', node: '${node}', peer: '${peer}'}\n`;
        await Deno.writeTextFile(
          `${dir}/prometheus.yml`,
          "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: conntrackd\n" +
            "  static_configs:\n" + target("a", "b", 1) + target("b", "a", 2),
        );
        prom = new Deno.Command("ip", {
          args: [
            "netns",
            "exec",
            mon.name,
            PROMETHEUS,
            `--config.file=${dir}/prometheus.yml`,
            `--storage.tsdb.path=${dir}/data`,
            "--web.listen-address=127.0.0.1:9090",
            "--log.level=warn",
          ],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const up = await pollUntil(
          async () => (await query(mon, "up")).filter((s) => s.value === 1).length === 2,
          30_000,
          250,
        );
        assert(up >= 0, "Prometheus did not scrape both firewalls");

        // N flows on a: b's external cache (as Prometheus sees it) equals a's internal one
        const lines = Array.from(
          { length: N },
          (_, i) =>
            `-I -p tcp -s 10.40.${i >> 8}.${i & 255} -d 10.50.0.1 --sport ${1024 + i} --dport 443 ` +
            "--state ESTABLISHED -u SEEN_REPLY,ASSURED -t 600",
        );
        await a.conntrackBatch(lines);
        const both = async () => {
          const ext = await query(mon, 'conntrackd_cache_entries{node="b",cache="external",table="ct"}');
          const int = await query(mon, 'conntrackd_cache_entries{node="a",cache="internal",table="ct"}');
          return ext.length === 1 && int.length === 1 && ext[0].value === N && int[0].value === N;
        };
        assert(
          (await pollUntil(both, 20_000, 250)) >= 0,
          "b's external cache did not reach a's internal one",
        );
        // what Prometheus holds is what the daemons say
        assertEquals(await activeOf(b, "external"), N);
        const sent = await query(
          mon,
          'conntrackd_sync_messages_total{node="a",direction="sent",kind="data"}',
        );
        assert(sent[0].value >= N, `a sent ${sent[0].value} data messages`);
        // the alert on a lagging external cache: silent now, firing once b's external cache is flushed
        assertEquals(await query(mon, ALERTS.externalBehind), []);
        await b.request(["-f", "external"], "ctkit");
        const fires = async () => {
          const r = await query(mon, ALERTS.externalBehind);
          return r.length === 1 && r[0].metric.node === "b" && r[0].value === 0;
        };
        if ((await pollUntil(fires, 10_000, 250)) < 0) {
          throw new Error(
            `the external-cache alert did not fire: ${
              JSON.stringify(await query(mon, ALERTS.externalBehind))
            }\n` +
              JSON.stringify(await query(mon, "conntrackd_cache_entries")),
          );
        }
        // link down: the dedicated link of a goes down
        assertEquals(await query(mon, ALERTS.linkDown), []);
        await a.setLink(0, false);
        // (the veth's other end, b's sl0b, loses its carrier with it)
        const down = async () => {
          const r = await query(mon, ALERTS.linkDown);
          return r.some((x) => x.metric.node === "a" && x.metric.link === "sl0a");
        };
        assert((await pollUntil(down, 10_000, 250)) >= 0, "the link-down alert did not fire");
        // resends: with a's link back and one in four datagrams to b lost, a resends what b NACKs
        await a.setLink(0, true);
        await b.run(["nft", "-f", "-"], {
          stdin:
            'table inet loss {\n  chain in { type filter hook prerouting priority -400; iifname "sl0b" ' +
            "udp dport 3799 numgen random mod 4 == 0 drop; }\n}\n",
        });
        await a.conntrackBatch(lines.map((l) => l.replace("--dport 443", "--dport 8443")));
        const resent = async () => {
          const r = await query(mon, ALERTS.resends);
          // b may resend a control message of its own while a's link was down: only a must fire here.
          return r.some((x) => x.metric.node === "a");
        };
        if ((await pollUntil(resent, 15_000, 250)) < 0) {
          const show = async (e: string) => `${e}: ${JSON.stringify(await query(mon, e))}`;
          throw new Error(
            "the resend alert did not fire:\n" + (await Promise.all([
              show(ALERTS.resends),
              show("conntrackd_sync_resent_messages_total"),
              show("conntrackd_sync_nacks_total"),
              show("conntrackd_sync_lost_messages_total"),
              show("conntrackd_sync_messages_total"),
              show("conntrackd_cache_entries"),
            ])).join("\n") + "\n" + (await b.run(["nft", "list", "ruleset"])).stdout,
          );
        }
        const nacks = await query(mon, 'conntrackd_sync_nacks_total{node="b",direction="sent"}');
        assert(nacks[0].value > 0, "b sent no NACK");
      } catch (e) {
        throw new Error(`${e instanceof Error ? e.stack : e}\n${await bed.logs()}`);
      } finally {
        if (prom) {
          try {
            prom.kill("SIGKILL");
          } catch { /* gone */ }
          await prom.output().catch(() => {});
        }
        await mon.destroy();
      }
    });
  },
});
