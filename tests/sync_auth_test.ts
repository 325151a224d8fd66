// Authenticated, replay-proof sync (issue 14): the attacks of the issue, each
// run twice side by side — without Authentication (the control: the attack
// works, so the test can fail) and with it (the attack is refused and counted,
// and the real pair stays in sync). Every bed is two ctkit daemons on a
// dedicated link that runs through a bridge with a third host on it, the
// intruder (tests/lib/sync_bed.ts `intruder`); the intruder's packets come from
// tests/lib/intruder.py (its own address, the peer's address spoofed on a raw
// socket, a TCP connection), and captures of the link are taken on the bridge
// port of side a.
//
// Then: a wrong key, a stale session (a capture of the peer's previous run),
// key rollover step by step with SIGHUP and with `reload-keys`, a failed reload,
// every mode and channel kind, a conntrackd 1.4.7 peer, `--check` and a refused
// start.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import {
  bedConfig,
  type BedSpec,
  INTRUDER_ADDRESS,
  INTRUDER_IFACE,
  linkAddress,
  pollUntil,
  type Side,
  sleep,
  type SyncBed,
  type SyncModeName,
  warmCtkit,
  WIRE_PORTS,
  withBed,
} from "./lib/sync_bed.ts";
import { CTKIT, withNetns } from "./lib/netns.ts";
import { Conntrack, newTuple } from "../src/conntrack/model.ts";
import * as W from "../src/conntrackd/sync/wire/mod.ts";
import { prng } from "./lib/prng.ts";

const INTRUDER_PY = new URL("./lib/intruder.py", import.meta.url).pathname;
const CONVERGE_MS = 8000;

// The daemons' state files (session starts, peers' counters) go to a directory of this run.
const STATE_DIR = Deno.makeTempDirSync({ prefix: "ctk-auth-state-" });
Deno.env.set("CTKIT_STATE_DIR", STATE_DIR);
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(STATE_DIR, { recursive: true });
  } catch { /* gone */ }
});

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));

// ---------------------------------------------------------------------------------------------
// keys and configuration

interface AuthSpec {
  key: string;
  next?: string;
  encrypt?: boolean;
}

/** A key file of `bytes` (32 random ones by default), root-only. */
async function writeKey(path: string, bytes = crypto.getRandomValues(new Uint8Array(32))): Promise<string> {
  await Deno.writeFile(path, bytes, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  return path;
}

function authBlock(a: AuthSpec): string {
  return `\tAuthentication {\n\t\tKeyFile ${a.key}\n` + (a.next ? `\t\tNextKeyFile ${a.next}\n` : "") +
    `\t\tEncrypt ${a.encrypt ? "on" : "off"}\n\t}\n`;
}

/** Writes side's config: the bed's, plus an Authentication block when `auth` is given. */
async function configure(side: Side, auth: AuthSpec | null, spec: BedSpec = side.bed.spec): Promise<void> {
  let text = bedConfig(spec, side.name, side.bed.dir);
  if (auth) text = text.replace(/\}\n$/, `${authBlock(auth)}}\n`);
  await Deno.writeTextFile(side.conf, text);
}

/**
 * Waits until side's daemon listens to kernel events: its control socket exists before that, so
 * a flow made at once could be missed (its start-up dump caches it, but nothing sends it).
 */
async function ready(side: Side, runs = 1): Promise<void> {
  const started = async () => (await side.logText()).split("-- starting in").length > runs;
  if ((await pollUntil(started, 10_000, 50)) < 0) throw new Error(`side ${side.name} did not start`);
}

/** Starts both sides' daemons and waits until they are ready. */
async function startBoth(bed: SyncBed, implA: "ctkit" | "ref" = "ctkit", implB = implA): Promise<void> {
  await bed.start(implA, implB);
  // the reference logs the same line
  await Promise.all([ready(bed.a), ready(bed.b)]);
}

/** Restarts side's daemon (ctkit) and waits until it is ready. */
async function restart(side: Side, stopped = false): Promise<void> {
  if (!stopped) await side.stop();
  const runs = (await side.logText()).split("-- starting in").length - 1;
  await side.start("ctkit");
  await ready(side, runs + 1);
}

/** Both sides with one fresh shared key (or none), then both ctkit daemons started. */
async function startPair(bed: SyncBed, auth: boolean, encrypt = false): Promise<string | null> {
  const key = auth ? await writeKey(`${bed.dir}/sync.key`) : null;
  for (const s of [bed.a, bed.b]) await configure(s, key ? { key, encrypt } : null);
  await startBoth(bed);
  return key;
}

/** The pid of side's daemon (found by its config file on the command line). */
async function daemonPid(side: Side): Promise<number> {
  const out = await new Deno.Command("pgrep", { args: ["-f", `conntrackd -C ${side.conf}`], stdout: "piped" })
    .output();
  const pids = new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map(Number);
  if (pids.length !== 1) throw new Error(`daemon of side ${side.name}: pids ${pids.join(",")}`);
  return pids[0];
}

async function signalDaemon(side: Side, signal: Deno.Signal): Promise<void> {
  Deno.kill(await daemonPid(side), signal);
}

// ---------------------------------------------------------------------------------------------
// flows, caches, counters

let flowSerial = 0;
/** A TCP flow nobody else uses: `conntrack -I` arguments and the text `-e`/`-L` show for it. */
function newFlow(tag: number): { args: string[]; src: string } {
  const n = ++flowSerial;
  const src = `10.${tag}.${n >> 8}.${n & 255}`;
  return {
    args:
      `-I -p tcp -s ${src} -d 10.99.0.1 --sport 1000 --dport 22 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 300`
        .split(" "),
    src,
  };
}

const has = (text: string, src: string) => text.includes(`src=${src} `);

async function externalText(side: Side): Promise<string> {
  return await side.request(["-e"], "ctkit");
}

/** Polls until side's external cache has (or lacks) the flow from `src`; false on time-out. */
async function waitExternal(side: Side, src: string, present = true, ms = CONVERGE_MS): Promise<boolean> {
  return (await pollUntil(async () => has(await externalText(side), src) === present, ms)) >= 0;
}

/** Creates a flow on `from` and waits until `to`'s external cache has it. */
async function syncs(from: Side, to: Side, tag: number, ms = CONVERGE_MS): Promise<boolean> {
  const f = newFlow(tag);
  await from.conntrack(f.args);
  return await waitExternal(to, f.src, true, ms);
}

/** `-s network` as label -> number (the first of a repeated label: the receive one). */
async function network(side: Side): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  // ctkit's client: conntrackd 1.4.7's refuses a file with the Authentication clause
  for (const line of (await side.request(["-s", "network"], "ctkit")).split("\n")) {
    const m = line.match(/^\s*([A-Za-z][A-Za-z ]*):\s+(\d+)$/);
    if (m && !(m[1] in out)) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** "Bytes sent" of the active channel (`-s`). */
async function bytesSent(side: Side): Promise<number> {
  const m = (await side.request(["-s"], "ctkit")).match(/^\s*(\d+) Bytes sent/m);
  return m ? Number(m[1]) : NaN;
}

/** The flows `-L` shows in side's kernel table, after a commit (`-c`) on side. */
async function commitAndList(side: Side): Promise<string> {
  await side.request(["-c"], "ctkit");
  return (await side.conntrack(["-L"])).stdout;
}

// ---------------------------------------------------------------------------------------------
// the intruder's messages

/** A conntrackd 1.4.7 conntrack message for a TCP ESTABLISHED/ASSURED flow from `src`. */
function ctMessage(type: number, src: string, flags = 0, seq = 0): Uint8Array {
  const ct = new Conntrack();
  ct.orig = Object.assign(newTuple(), { l3: 2, src, dst: "10.99.0.1", proto: 6, sport: 1000, dport: 22 });
  ct.reply = Object.assign(newTuple(), {
    l3: 2,
    src: "10.99.0.1",
    dst: src,
    proto: 6,
    sport: 22,
    dport: 1000,
  });
  ct.status = 0xe; // SEEN_REPLY | ASSURED | CONFIRMED
  ct.state = 3; // ESTABLISHED
  ct.timeout = 300;
  const out = new Uint8Array(W.CT_MSG_MAX);
  const n = W.encodeCt(out, 0, type, ct, { withTimeout: true });
  W.setFlags(out, 0, flags);
  W.setSeq(out, 0, seq >>> 0);
  return out.slice(0, n);
}

/** A control message (RESYNC, NACK …). */
function controlMessage(flags: number, seq: number, from = 0, to = 0): Uint8Array {
  const out = new Uint8Array(16);
  const n = W.encodeControl(out, 0, flags, from, to);
  W.setSeq(out, 0, seq >>> 0);
  return out.slice(0, n);
}

/** A record as an authenticated node sends it, with `body`, a key id seen on the wire and a made-up tag. */
function forgedRecord(body: Uint8Array, keyId: Uint8Array): Uint8Array {
  const rec = new Uint8Array(32 + body.length + 16);
  rec[0] = 0xc0;
  rec[2] = rec.length >> 8;
  rec[3] = rec.length & 0xff;
  rec.set(keyId, 4);
  crypto.getRandomValues(rec.subarray(8, 32));
  rec.set(body, 32);
  crypto.getRandomValues(rec.subarray(32 + body.length));
  return rec;
}

async function intruder(bed: SyncBed, argv: string[], datagrams: Uint8Array[]): Promise<void> {
  const r = await bed.intruder!.exec(["python3", INTRUDER_PY, ...argv], {
    stdin: datagrams.map(hex).join("\n") + "\n",
  });
  if (r.code !== 0) throw new Error(`intruder ${argv[0]}: ${r.stderr}`);
}

/** From the intruder's own address to `to`'s sync port. */
function sendFromIntruder(bed: SyncBed, to: Side, datagrams: Uint8Array[]): Promise<void> {
  return intruder(bed, ["udp", INTRUDER_ADDRESS, linkAddress(0, to.name), String(bed.spec.port)], datagrams);
}

/** From the intruder, with the other side's address as the source (raw socket). */
function sendSpoofed(bed: SyncBed, to: Side, datagrams: Uint8Array[]): Promise<void> {
  const from = linkAddress(0, to.name === "a" ? "b" : "a");
  return intruder(
    bed,
    ["spoof", from, linkAddress(0, to.name), String(bed.spec.port), INTRUDER_IFACE],
    datagrams,
  );
}

/** Records what side a sends on the link (on its bridge port). */
class Capture {
  private constructor(private readonly child: Deno.ChildProcess, readonly file: string) {}

  static async start(bed: SyncBed, name: string): Promise<Capture> {
    const file = `${bed.dir}/${name}.cap`;
    const child = bed.wire!.spawn([
      "python3",
      INTRUDER_PY,
      "capture",
      WIRE_PORTS.a,
      linkAddress(0, "a"),
      String(bed.spec.port),
      file,
    ]);
    const cap = new Capture(child, file);
    if (
      (await pollUntil(async () => (await Deno.lstat(`${file}.ready`).catch(() => null)) !== null, 5000)) < 0
    ) {
      await cap.stop();
      throw new Error("capture did not start");
    }
    return cap;
  }

  async datagrams(): Promise<Uint8Array[]> {
    const text = await Deno.readTextFile(this.file).catch(() => "");
    return text.split("\n").filter((l) => l.length > 0).map(unhex);
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.child.status;
    await this.child.stdout.cancel().catch(() => {});
    await this.child.stderr.cancel().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// running a scenario with and without Authentication

interface Scenario {
  name: string;
  mode: SyncModeName;
  kind?: BedSpec["kind"];
  modeClauses?: string;
  encrypt?: boolean;
  /** Runs the attack; returns what it saw, checked by `control` and `defended`. */
  run(bed: SyncBed, auth: boolean): Promise<Record<string, unknown>>;
  /** Without Authentication the attack works. */
  control(seen: Record<string, unknown>): void;
  /** The control attack leaves the pair unable to sync (so that is not checked after it). */
  controlBreaksSync?: boolean;
  /** With Authentication it is refused (and counted); the pair stays in sync. */
  defended(seen: Record<string, unknown>): void;
}

let nextPort = 7400;
let nextTag = 10;

async function runSide(s: Scenario, auth: boolean): Promise<Record<string, unknown>> {
  const port = nextPort++;
  const tag = `au${nextTag++}`;
  const spec: BedSpec = {
    tag,
    mode: s.mode,
    kind: s.kind ?? "udp",
    port,
    intruder: true,
    modeClauses: s.modeClauses ?? (s.mode === "ALARM" ? "RefreshTime 100000\n\t\tCacheTimeout 200000" : ""),
  };
  return await withBed(spec, async (bed) => {
    try {
      await startPair(bed, auth, s.encrypt);
      // the pair syncs before the attack
      assert(await syncs(bed.a, bed.b, 20), "no sync before the attack");
      const seen = await s.run(bed, auth);
      // and after it: a new flow still arrives
      seen.syncsAfter = !auth && s.controlBreaksSync ? false : await syncs(bed.a, bed.b, 21);
      seen.network = await network(bed.b);
      seen.logB = await bed.b.logText();
      return seen;
    } catch (e) {
      throw new Error(`${s.name} (${auth ? "with" : "without"} Authentication): ${e}\n${await bed.logs()}`);
    }
  });
}

function scenarioTest(s: Scenario): void {
  Deno.test({
    name: `auth attack: ${s.name}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      await warmCtkit();
      const [control, defended] = await Promise.all([runSide(s, false), runSide(s, true)]);
      s.control(control);
      s.defended(defended);
      assert(control.syncsAfter || s.controlBreaksSync, "control: no sync after the attack");
      assert(defended.syncsAfter, "with Authentication: no sync after the attack");
    },
  });
}

const n = (seen: Record<string, unknown>, label: string) =>
  (seen.network as Record<string, number>)[label] ?? 0;

// ---------------------------------------------------------------------------------------------
// the attacks

for (const mode of ["NOTRACK", "FTFW"] as const) {
  scenarioTest({
    name: `forged CT_NEW from another host and spoofed as the peer, committed by -c (${mode}/UDP)`,
    mode,
    async run(bed, auth) {
      const own = newFlow(66), spoofed = newFlow(66), sealed = newFlow(66);
      // FTFW takes any sequence number with HELLO; NOTRACK takes any.
      const flags = mode === "FTFW" ? W.F_HELLO : 0;
      await sendFromIntruder(bed, bed.b, [ctMessage(W.CT_NEW, own.src, flags, 1)]);
      await sendSpoofed(bed, bed.b, [ctMessage(W.CT_NEW, spoofed.src, flags, 2)]);
      // a record-shaped forgery too (key id taken from the wire: any 4 bytes when there is none)
      await sendSpoofed(bed, bed.b, [
        forgedRecord(ctMessage(W.CT_NEW, sealed.src, flags, 3), new Uint8Array(4)),
      ]);
      await sleep(1500);
      const ext = await externalText(bed.b);
      const kernel = await commitAndList(bed.b);
      return {
        auth,
        inCache: [own, spoofed].filter((f) => has(ext, f.src)).length,
        inKernel: [own, spoofed].filter((f) => has(kernel, f.src)).length,
        sealedIn: has(ext, sealed.src) || has(kernel, sealed.src),
      };
    },
    control(seen) {
      assertEquals([seen.inCache, seen.inKernel], [2, 2]);
    },
    defended(seen) {
      assertEquals([seen.inCache, seen.inKernel, seen.sealedIn], [0, 0, false]);
      assertEquals(n(seen, "Plain sync messages"), 2);
      assertEquals(n(seen, "Unknown key"), 1);
      assert(String(seen.logB).includes("the peer runs without Authentication"));
    },
  });
}

scenarioTest({
  name: "forged CT_DEL removes a synced flow (NOTRACK/UDP)",
  mode: "NOTRACK",
  async run(bed) {
    const f = newFlow(67);
    await bed.a.conntrack(f.args);
    assert(await waitExternal(bed.b, f.src), "flow did not sync");
    await sendSpoofed(bed, bed.b, [ctMessage(W.CT_DEL, f.src, 0, 7)]);
    await sleep(1500);
    return { stillThere: has(await externalText(bed.b), f.src) };
  },
  control(seen) {
    assertEquals(seen.stillThere, false);
  },
  defended(seen) {
    assertEquals(seen.stillThere, true);
    assertEquals(n(seen, "Plain sync messages"), 1);
  },
});

/** The sequence number of the last message a sent, from a capture (a record's body is plain: Encrypt off). */
function lastSeq(datagrams: Uint8Array[], auth: boolean): number {
  const d = datagrams[datagrams.length - 1];
  const p = auth ? 32 : 0;
  return ((d[p + 4] << 24) | (d[p + 5] << 16) | (d[p + 6] << 8) | d[p + 7]) >>> 0;
}

scenarioTest({
  name: "FTFW sequence jump of +100000 drops the peer's later updates (FTFW/UDP)",
  mode: "FTFW",
  async run(bed, auth) {
    const cap = await Capture.start(bed, "seq");
    try {
      await sleep(1500); // an ALIVE or ACK at least
      const seq = lastSeq(await cap.datagrams(), auth);
      await sendSpoofed(bed, bed.b, [ctMessage(W.CT_UPD, newFlow(68).src, 0, seq + 100_000)]);
      await sleep(300);
      const flows = Array.from({ length: 6 }, () => newFlow(68));
      for (const f of flows) await bed.a.conntrack(f.args);
      await sleep(4000);
      const ext = await externalText(bed.b);
      return { arrived: flows.filter((f) => has(ext, f.src)).length };
    } finally {
      await cap.stop();
    }
  },
  control(seen) {
    assertEquals(seen.arrived, 0);
  },
  controlBreaksSync: true,
  defended(seen) {
    assertEquals(seen.arrived, 6);
    assertEquals(n(seen, "Plain sync messages"), 1);
  },
});

for (const mode of ["FTFW", "NOTRACK"] as const) {
  scenarioTest({
    name: `replay of a capture${
      mode === "FTFW" ? " with the peer's HELLO" : ""
    } brings a deleted flow back (${mode}/UDP)`,
    mode,
    async run(bed, auth) {
      // The capture must hold a's first messages (FTFW: its HELLO): restart a under it.
      await bed.a.stop();
      const cap = await Capture.start(bed, "replay");
      try {
        await restart(bed.a, true);
        const h = newFlow(69);
        await bed.a.conntrack(h.args);
        assert(await waitExternal(bed.b, h.src), "flow did not sync");
        const prefix = await cap.datagrams();
        await bed.a.conntrack(["-D", "-s", h.src]);
        assert(await waitExternal(bed.b, h.src, false), "delete did not sync");
        // FTFW: the delete acknowledged, so no retransmission undoes the replay
        await sleep(2500);
        const helloSeen = prefix.some((d) => (d[auth ? 33 : 1] & W.F_HELLO) !== 0);
        await sendSpoofed(bed, bed.b, prefix);
        await sleep(1500);
        return { back: has(await externalText(bed.b), h.src), replayed: prefix.length, helloSeen, auth };
      } finally {
        await cap.stop();
      }
    },
    control(seen) {
      if (mode === "FTFW") assert(seen.helloSeen, "the capture holds a HELLO");
      assertEquals(seen.back, true);
    },
    defended(seen) {
      assertEquals(seen.back, false);
      assertEquals(n(seen, "Replayed"), seen.replayed);
    },
  });
}

scenarioTest({
  name: "forged RESYNC and NACK make the sender resend its cache (FTFW/UDP)",
  mode: "FTFW",
  async run(bed, auth) {
    const lines = Array.from({ length: 300 }, () => newFlow(70).args.join(" "));
    await bed.a.conntrackBatch(lines);
    const last = lines[lines.length - 1].split(" ")[4];
    assert(await waitExternal(bed.b, last, true, 15_000), "bulk did not sync");
    await sleep(2500); // acknowledged, the link idle
    const before = await bytesSent(bed.a);
    const cap = await Capture.start(bed, "nack");
    await sleep(1200);
    const seq = lastSeq(await cap.datagrams(), auth);
    await cap.stop();
    // HELLO: FTFW processes the message whatever its sequence number
    await sendSpoofed(bed, bed.a, [
      controlMessage(W.F_RESYNC | W.F_HELLO, 1),
      controlMessage(W.F_NACK | W.F_HELLO, 2, (seq - 5000) >>> 0, seq),
    ]);
    await sleep(2000);
    const sent = (await bytesSent(bed.a)) - before;
    return { sent, networkA: await network(bed.a) };
  },
  control(seen) {
    // 300 flows of about 80 bytes each: the cache went out again
    assert((seen.sent as number) > 20_000, `sent ${seen.sent} bytes`);
  },
  defended(seen) {
    assert((seen.sent as number) < 5_000, `sent ${seen.sent} bytes`);
    assertEquals((seen.networkA as Record<string, number>)["Plain sync messages"], 2);
  },
});

scenarioTest({
  name: "random garbage datagrams (NOTRACK/UDP)",
  mode: "NOTRACK",
  async run(bed) {
    const rnd = prng(14);
    const garbage = Array.from({ length: 400 }, (_, i) => {
      const d = Uint8Array.from({ length: 8 + Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 256));
      // half of them in the shape the receivers parse: version 1, a data type, a plausible length
      if (i % 2 === 0) {
        d[0] = 0x10 | (i % 3);
        d[1] = 0;
        d[2] = d.length >> 8;
        d[3] = d.length & 0xff;
      }
      return d;
    });
    await sendFromIntruder(bed, bed.b, garbage);
    await sleep(1500);
    const ext = await externalText(bed.b);
    return {
      sent: garbage.length,
      entries: ext.split("\n").filter((l) => l && !l.includes("src=10.20.")).length,
    };
  },
  control(seen) {
    // the garbage reached the message decoder
    assert(n(seen, "Malformed messages") > 0, JSON.stringify(seen.network));
  },
  defended(seen) {
    assertEquals(n(seen, "Malformed messages"), 0);
    assertEquals(seen.entries, 0);
    assert(n(seen, "Not authenticated") + n(seen, "Plain sync messages") >= (seen.sent as number));
  },
});

// ---------------------------------------------------------------------------------------------
// keys, sessions, rollover

function authTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name: `auth: ${name}`, sanitizeResources: false, sanitizeOps: false, fn });
}

function spec(mode: SyncModeName, kind: BedSpec["kind"] = "udp", intruder = false): BedSpec {
  return {
    tag: `au${nextTag++}`,
    mode,
    kind,
    port: nextPort++,
    intruder,
    modeClauses: mode === "ALARM" ? "RefreshTime 100000\n\t\tCacheTimeout 200000" : "",
  };
}

authTest("a wrong key is refused; the right one, given by reload-keys, lets the flow through", async () => {
  await warmCtkit();
  await withBed(spec("FTFW"), async (bed) => {
    try {
      const ka = await writeKey(`${bed.dir}/a.key`), kb = await writeKey(`${bed.dir}/b.key`);
      await configure(bed.a, { key: ka });
      await configure(bed.b, { key: kb });
      await startBoth(bed);
      const f = newFlow(71);
      await bed.a.conntrack(f.args);
      assertEquals(await waitExternal(bed.b, f.src, true, 3000), false);
      const nb = await network(bed.b);
      assert(nb["Unknown key"] > 0, JSON.stringify(nb));
      assert((await bed.b.logText()).includes("neither KeyFile's nor NextKeyFile's"));
      // b gets a's key: FTFW retransmits what b never acknowledged
      await Deno.copyFile(ka, kb);
      const r = await bed.b.run([CTKIT, "conntrackd", "-C", bed.b.conf, "reload-keys"]);
      assert(r.stdout.includes("keys reloaded (client request)"), r.stdout + r.stderr);
      assert(await waitExternal(bed.b, f.src), "the flow did not arrive after the key was fixed");
    } catch (e) {
      throw new Error(`${e}\n${await bed.logs()}`);
    }
  });
});

authTest("a capture of the peer's previous run is a stale session", async () => {
  await warmCtkit();
  await withBed(spec("FTFW", "udp", true), async (bed) => {
    try {
      await bed.a.stop().catch(() => {});
      const key = await writeKey(`${bed.dir}/sync.key`);
      for (const s of [bed.a, bed.b]) await configure(s, { key, encrypt: true });
      await bed.b.start("ctkit");
      await ready(bed.b);
      const cap = await Capture.start(bed, "run1");
      await bed.a.start("ctkit");
      await ready(bed.a);
      const h = newFlow(72);
      await bed.a.conntrack(h.args);
      assert(await waitExternal(bed.b, h.src), "flow did not sync");
      const run1 = await cap.datagrams();
      await cap.stop();
      await bed.a.conntrack(["-D", "-s", h.src]);
      assert(await waitExternal(bed.b, h.src, false), "delete did not sync");
      // a restarts: a new session; b hears it
      await restart(bed.a);
      assert(await syncs(bed.a, bed.b, 72), "no sync after a's restart");
      await sendSpoofed(bed, bed.b, run1);
      await sleep(1500);
      assertEquals(has(await externalText(bed.b), h.src), false);
      const nb = await network(bed.b);
      assertEquals(nb["Stale session"], run1.length);
      assert(await syncs(bed.a, bed.b, 72), "no sync after the replay");
      assert((await bed.b.logText()).includes("a replay of an earlier run"));
    } catch (e) {
      throw new Error(`${e}\n${await bed.logs()}`);
    }
  });
});

authTest("key rollover step by step (SIGHUP and reload-keys) keeps flows arriving both ways", async () => {
  await warmCtkit();
  await withBed(spec("FTFW"), async (bed) => {
    try {
      const dir = bed.dir;
      const cfg = (s: Side) => ({ key: `${dir}/${s.name}.key`, next: `${dir}/${s.name}.next.key` });
      const oldKey = crypto.getRandomValues(new Uint8Array(32)),
        newKey = crypto.getRandomValues(new Uint8Array(40));
      for (const s of [bed.a, bed.b]) {
        await writeKey(cfg(s).key, oldKey.slice());
        await configure(s, cfg(s)); // NextKeyFile configured, not there yet
      }
      await startBoth(bed);
      const both = async (step: string) => {
        assert(await syncs(bed.a, bed.b, 73), `a->b after ${step}`);
        assert(await syncs(bed.b, bed.a, 74), `b->a after ${step}`);
      };
      const hup = async (s: Side) => {
        const before = (await s.logText()).split("keys reloaded").length;
        await signalDaemon(s, "SIGHUP");
        const reloaded = async () => (await s.logText()).split("keys reloaded").length > before;
        assert((await pollUntil(reloaded, 3000)) >= 0, `SIGHUP did not reload ${s.name}'s keys`);
      };
      const client = async (s: Side) => {
        const r = await s.run([CTKIT, "conntrackd", "-C", s.conf, "reload-keys"], { allowFail: true });
        assertEquals(r.code, 0, r.stderr);
      };
      await both("start (one key)");
      // 1: the new key as NextKeyFile on both
      for (const s of [bed.a, bed.b]) await writeKey(cfg(s).next, newKey.slice());
      await hup(bed.a);
      await client(bed.b);
      await both("step 1 (new key accepted by both)");
      // 2: a sends with the new key
      await writeKey(cfg(bed.a).key, newKey.slice());
      await writeKey(cfg(bed.a).next, oldKey.slice());
      await hup(bed.a);
      await both("step 2 (a sends with the new key)");
      // 3: b too
      await writeKey(cfg(bed.b).key, newKey.slice());
      await writeKey(cfg(bed.b).next, oldKey.slice());
      await client(bed.b);
      await both("step 3 (both send with the new key)");
      // 4: the old key goes
      for (const s of [bed.a, bed.b]) await Deno.remove(cfg(s).next);
      await hup(bed.a);
      await client(bed.b);
      await both("step 4 (the old key removed)");
      for (const s of [bed.a, bed.b]) {
        const ns = await network(s);
        assertEquals([ns["Unknown key"], ns["Not authenticated"], ns["Replayed"]], [0, 0, 0], s.name);
      }
      // a failed reload keeps the keys: a key file readable by others
      await Deno.chmod(cfg(bed.b).key, 0o644);
      const r = await bed.b.run([CTKIT, "conntrackd", "-C", bed.b.conf, "reload-keys"], { allowFail: true });
      assertEquals(r.code, 1);
      assert(
        r.stderr.includes("group or others have access") && r.stderr.includes("keeping the old keys"),
        r.stderr,
      );
      await both("a failed reload");
    } catch (e) {
      throw new Error(`${e}\n${await bed.logs()}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// every mode and channel kind; an attack over TCP

for (
  const [mode, kind, encrypt] of [
    ["FTFW", "multicast", true],
    ["ALARM", "udp", false],
    ["NOTRACK", "tcp", true],
    ["ALARM", "multicast", true],
    ["FTFW", "tcp", false],
    ["NOTRACK", "multicast", false],
  ] as const
) {
  authTest(`${mode}/${kind}${encrypt ? " encrypted" : ""}: flows sync both ways and commit`, async () => {
    await warmCtkit();
    await withBed(spec(mode, kind, kind === "tcp"), async (bed) => {
      try {
        await startPair(bed, true, encrypt);
        const f = newFlow(75);
        await bed.a.conntrack(f.args);
        assert(await waitExternal(bed.b, f.src), "a->b");
        if (kind === "tcp") {
          // b's client may have tried before a listened: reconnects are lazy (on a send) and at most
          // one a second, as in 1.4.7, so the first send waits for the next ALIVE or this one
          await bed.b.conntrack(newFlow(76).args);
          await sleep(1200);
        }
        assert(await syncs(bed.b, bed.a, 76), "b->a");
        assert(has(await commitAndList(bed.b), f.src), "not committed");
        if (kind === "tcp") {
          // the intruder connects to b's TCP port and sends a forged CT_NEW
          const forged = newFlow(77);
          await intruder(bed, ["tcp", linkAddress(0, "b"), String(bed.spec.port)], [
            ctMessage(W.CT_NEW, forged.src, mode === "FTFW" ? W.F_HELLO : 0, 1),
          ]);
          await sleep(1000);
          assertEquals(has(await externalText(bed.b), forged.src), false);
          assertEquals((await network(bed.b))["Plain sync messages"], 1);
          assert(await syncs(bed.a, bed.b, 75, 12_000), "a->b after the TCP intruder");
        }
        const ns = await network(bed.b);
        assertEquals([ns["Malformed messages"], ns["Not authenticated"], ns["Replayed"]], [0, 0, 0]);
        assert((await Deno.readTextFile(`/proc/${await daemonPid(bed.b)}/maps`)).includes("libsodium"));
      } catch (e) {
        throw new Error(`${e}\n${await bed.logs()}`);
      }
    });
  });
}

authTest("TCP without Authentication: the intruder's forged CT_NEW lands (the control)", async () => {
  await warmCtkit();
  await withBed(spec("NOTRACK", "tcp", true), async (bed) => {
    try {
      await startPair(bed, false);
      assert(await syncs(bed.a, bed.b, 78), "a->b");
      const forged = newFlow(78);
      await intruder(bed, ["tcp", linkAddress(0, "b"), String(bed.spec.port)], [
        ctMessage(W.CT_NEW, forged.src, 0, 1),
      ]);
      assert(await waitExternal(bed.b, forged.src, true, 3000), "the forged flow did not land");
    } catch (e) {
      throw new Error(`${e}\n${await bed.logs()}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// a conntrackd 1.4.7 peer

authTest("conntrackd 1.4.7 against an authenticated ctkit: no state crosses, both say why", async () => {
  await warmCtkit();
  await withBed(spec("FTFW"), async (bed) => {
    try {
      const key = await writeKey(`${bed.dir}/sync.key`);
      await configure(bed.a, null);
      await configure(bed.b, { key });
      await startBoth(bed, "ref", "ctkit");
      const f = newFlow(79), g = newFlow(80);
      await bed.a.conntrack(f.args);
      await bed.b.conntrack(g.args);
      await sleep(3000);
      assertEquals(has(await externalText(bed.b), f.src), false);
      assertEquals(has(await bed.a.request(["-e"]), g.src), false);
      const ref = await network(bed.a), ours = await network(bed.b);
      assert(ref["Wrong protocol version"] > 0 && ref["Malformed messages"] >= ref["Wrong protocol version"]);
      assert(ours["Plain sync messages"] > 0, JSON.stringify(ours));
      assertEquals(ours["Malformed messages"], 0);
      assert((await bed.b.logText()).includes("e.g. conntrackd 1.4.7"));
    } catch (e) {
      throw new Error(`${e}\n${await bed.logs()}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// configuration: --check and a refused start

authTest(
  "--check prints the clause and refuses a key file others can read; the daemon does not start",
  async () => {
    await warmCtkit();
    await withNetns(1, async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "ctk-auth-cfg-" });
      try {
        const key = await writeKey(`${dir}/sync.key`);
        const conf = `${dir}/c.conf`;
        await Deno.writeTextFile(
          conf,
          `General {\n\tLockFile ${dir}/lock\n\tUNIX { Path ${dir}/sock }\n\tLogFile ${dir}/log\n}\n` +
            `Sync {\n\tMode FTFW { }\n\tUDP {\n\t\tIPv4_address 127.0.0.1\n\t\tIPv4_Destination_Address 127.0.0.2\n` +
            `\t\tPort 7399\n\t\tInterface lo\n\t}\n` +
            `\tAuthentication {\n\t\tKeyFile ${key}\n\t\tNextKeyFile ${dir}/next.key\n\t}\n}\n`,
        );
        let r = await ns.exec([CTKIT, "conntrackd", "-C", conf, "--check"]);
        assertEquals(r.code, 0, r.stderr);
        assert(
          r.stdout.includes(
            `\tAuthentication {\n\t\tKeyFile ${key}\n\t\tNextKeyFile ${dir}/next.key\n\t\tEncrypt off\n\t}`,
          ),
          r.stdout,
        );
        assert(r.stderr.includes("is absent: only KeyFile's key is accepted"), r.stderr);
        await Deno.chmod(key, 0o640);
        r = await ns.exec([CTKIT, "conntrackd", "-C", conf, "--check"]);
        assertEquals(r.code, 1);
        assert(
          r.stderr.includes(`KeyFile ${key}: group or others have access (mode 0640); chmod 600 ${key}`),
          r.stderr,
        );
        await Deno.chmod(key, 0o600);
        await Deno.writeFile(key, new Uint8Array(16));
        r = await ns.exec([CTKIT, "conntrackd", "-C", conf]);
        assertEquals(r.code, 1);
        const log = await Deno.readTextFile(`${dir}/log`);
        assert(log.includes(`Authentication: KeyFile ${key}: 16 bytes, at least 32 needed`), log);
        assert(log.includes("conntrackd cannot start"), log);
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
);

authTest(
  "reload-keys against a daemon without Authentication and 1.4.7; without the clause nothing changes",
  async () => {
    await warmCtkit();
    await withBed(spec("NOTRACK"), async (bed) => {
      try {
        await startBoth(bed, "ref", "ctkit");
        let r = await bed.a.run([CTKIT, "conntrackd", "-C", bed.a.conf, "reload-keys"], { allowFail: true });
        assertEquals(r.code, 1);
        assert(r.stderr.includes("does not know it (conntrackd 1.4.7"), r.stderr);
        r = await bed.b.run([CTKIT, "conntrackd", "-C", bed.b.conf, "reload-keys"], { allowFail: true });
        assertEquals(r.code, 1);
        assert(r.stderr.includes("has no Authentication"), r.stderr);
        // without the clause the link carries 1.4.7's bytes: the pair syncs both ways
        assert(await syncs(bed.a, bed.b, 81));
        assert(await syncs(bed.b, bed.a, 82));
        assert(!(await bed.b.request(["-s", "network"], "ctkit")).includes("Not authenticated"));
        // nor is libsodium loaded
        assert(!(await Deno.readTextFile(`/proc/${await daemonPid(bed.b)}/maps`)).includes("libsodium"));
      } catch (e) {
        throw new Error(`${e}\n${await bed.logs()}`);
      }
    });
  },
);
