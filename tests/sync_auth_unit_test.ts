// Authenticated sync without namespaces: the record's seal and open, the replay
// window and sessions, key files, the state file, the rate-limited log, the
// `-s network` lines, and the configuration clause. tests/sync_auth_test.ts runs
// daemons.
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert";
import { parseConfig } from "../src/conntrackd/config/parser.ts";
import { formatConfig } from "../src/conntrackd/config/format.ts";
import type { SyncConfig } from "../src/conntrackd/config/types.ts";
import { AuthContext, type AuthStats } from "../src/conntrackd/auth/context.ts";
import {
  deriveKey,
  KeyFileError,
  type KeyRing,
  loadKeyRing,
  readKeyFile,
} from "../src/conntrackd/auth/keys.ts";
import {
  ACCEPTED,
  NEW_SESSION,
  PeerSessions,
  REFLECTED,
  REPLAYED,
  ReplayWindow,
  STALE,
  WINDOW,
} from "../src/conntrackd/auth/replay.ts";
import { RateLimitedLog } from "../src/conntrackd/auth/ratelimit.ts";
import { RECORD_OVERHEAD } from "../src/conntrackd/auth/record.ts";
import { formatNetworkStats } from "../src/conntrackd/sync/stats_text.ts";
import { newNetworkStats } from "../src/conntrackd/sync/wire/mod.ts";
import { splitReloadKeys } from "../src/conntrackd/auth/args.ts";

const BASE = `General {\n\tUNIX { Path /run/ct.sock }\n}\nSync {\n\tMode FTFW { }\n` +
  `\tUDP {\n\t\tIPv4_address 192.168.100.1\n\t\tIPv4_Destination_Address 192.168.100.2\n` +
  `\t\tPort 3780\n\t\tInterface eth1\n\t}\n`;

function syncConfig(extra = ""): SyncConfig {
  return parseConfig(BASE + extra + "}\n", "t.conf").sync!;
}

async function withDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ctk-auth-unit-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function keyFile(path: string, bytes: Uint8Array, mode = 0o600): string {
  Deno.writeFileSync(path, bytes, { mode });
  Deno.chmodSync(path, mode);
  return path;
}

const quiet = () => {};

/** An AuthContext with a given key (no key files), its state in `dir`. */
function context(
  dir: string,
  key: Uint8Array,
  opts: { encrypt?: boolean; host?: string; next?: Uint8Array; log?: (p: string, m: string) => void } = {},
): AuthContext {
  const sync = syncConfig();
  const ring: KeyRing = {
    send: deriveKey(key.slice(), "k"),
    next: opts.next ? deriveKey(opts.next.slice(), "n") : null,
  };
  return new AuthContext(
    { keyFile: "/nonexistent", nextKeyFile: null, encrypt: opts.encrypt ?? false },
    sync,
    opts.log ?? quiet,
    { stateDir: dir, hostname: opts.host ?? "node-a", ring },
  );
}

/** The bodies `rx` accepts from `data`. */
function opened(rx: AuthContext, data: Uint8Array): string[] {
  const out: string[] = [];
  rx.open(data, (b) => out.push(new TextDecoder().decode(b)));
  return out;
}

const body = (s: string) => new TextEncoder().encode(s);
const copy = (r: Uint8Array | null) => r!.slice();

Deno.test("auth: seal and open, authenticated and encrypted; tampering anywhere is refused", async () => {
  await withDir((dir) => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    for (const encrypt of [false, true]) {
      const tx = context(`${dir}/${encrypt}`, key, { encrypt, host: "tx" });
      const rx = context(`${dir}/${encrypt}rx`, key, { host: "rx" });
      const msg = "sync messages ".repeat(20);
      const rec = copy(tx.seal(body(msg)));
      assertEquals(rec.length, msg.length + RECORD_OVERHEAD);
      assertEquals(rec[0], 0xc0);
      assertEquals(rec[1], encrypt ? 1 : 0);
      assertEquals((rec[2] << 8) | rec[3], rec.length);
      // the body is readable only without Encrypt
      assertEquals(new TextDecoder().decode(rec.subarray(32, 32 + 14)) === "sync messages ", !encrypt);
      for (const i of [0, 1, 4, 9, 13, 21, 30, 32, rec.length - 20, rec.length - 1]) {
        const bad = rec.slice();
        bad[i] ^= 0x40;
        assertEquals(opened(rx, bad), [], `byte ${i} changed`);
      }
      assertEquals(opened(rx, rec), [msg]);
      // the same record again: a replay
      assertEquals(opened(rx, rec), []);
      const s: AuthStats = rx.stats;
      assertEquals(s.replayed, 1);
      assertEquals(s.notAuthenticated + s.unknownKey + s.plain, 10);
      tx.close();
      rx.close();
    }
  });
});

Deno.test("auth: a record sealed with another key is an unknown key; NextKeyFile's key is accepted", async () => {
  await withDir((dir) => {
    const k1 = crypto.getRandomValues(new Uint8Array(32)), k2 = crypto.getRandomValues(new Uint8Array(48));
    const tx = context(`${dir}/tx`, k2, { host: "tx" });
    const rx = context(`${dir}/rx`, k1, { host: "rx" });
    assertEquals(opened(rx, copy(tx.seal(body("x")))), []);
    assertEquals(rx.stats.unknownKey, 1);
    const rx2 = context(`${dir}/rx2`, k1, { host: "rx2", next: k2 });
    assertEquals(opened(rx2, copy(tx.seal(body("y")))), ["y"]);
    for (const c of [tx, rx, rx2]) c.close();
  });
});

Deno.test("auth: 1.4.7 messages are counted as plain, garbage as not authenticated, by record", async () => {
  await withDir((dir) => {
    const rx = context(dir, new Uint8Array(32).fill(1), { host: "rx" });
    // two 1.4.7 ALIVE messages in one datagram
    assertEquals(
      opened(rx, Uint8Array.from([0x1a, 0x10, 0, 8, 0, 0, 0, 1, 0x1a, 0x10, 0, 8, 0, 0, 0, 2])),
      [],
    );
    assertEquals(rx.stats.plain, 2);
    assertEquals(
      opened(rx, crypto.getRandomValues(new Uint8Array(100)).map((b, i) => i === 0 ? 0x55 : b)),
      [],
    );
    assertEquals(opened(rx, new Uint8Array(3)), []);
    assertEquals(rx.stats.notAuthenticated, 2);
    // a record-shaped datagram with a length beyond its end
    const r = new Uint8Array(60);
    r[0] = 0xc0, r[2] = 0, r[3] = 200;
    assertEquals(opened(rx, r), []);
    assertEquals(rx.stats.notAuthenticated, 3);
    rx.close();
  });
});

Deno.test("auth: two records in one read (a TCP run) are opened one by one", async () => {
  await withDir((dir) => {
    const key = new Uint8Array(32).fill(9);
    const tx = context(`${dir}/tx`, key, { host: "tx", encrypt: true });
    const rx = context(`${dir}/rx`, key, { host: "rx" });
    const a = copy(tx.seal(body("first"))), b = copy(tx.seal(body("second")));
    const run = new Uint8Array(a.length + b.length);
    run.set(a), run.set(b, a.length);
    assertEquals(opened(rx, run), ["first", "second"]);
    tx.close(), rx.close();
  });
});

Deno.test("auth: replay window (RFC 6479 ring): in order, reordered, duplicates, below the window", () => {
  const w = new ReplayWindow();
  const take = (c: number) => {
    const ok = w.check(c);
    if (ok) w.mark(c);
    return ok;
  };
  assertEquals(take(0), false);
  assertEquals(take(1), true);
  assertEquals(take(1), false);
  assertEquals(take(5), true);
  assertEquals([take(3), take(2), take(4), take(3)], [true, true, true, false]);
  assertEquals(take(1000), true);
  assertEquals(take(1000 - WINDOW + 1), true);
  assertEquals(take(1000 - WINDOW), false);
  assertEquals(take(999), true);
  assertEquals(take(999), false);
  // a long jump clears the ring
  assertEquals(take(100_000), true);
  assertEquals(take(100_000 - 64), true);
  // every counter of a random permutation inside the window once, then none again
  const w2 = new ReplayWindow();
  const base = 10_000;
  w2.mark(base);
  const seen = new Set<number>([base]);
  for (let i = 0; i < 2000; i++) {
    const c = base - WINDOW + 1 + Math.floor(Math.random() * (WINDOW + 40));
    const ok = w2.check(c);
    const expect = !seen.has(c) && c > w2.top - WINDOW;
    assertEquals(ok, expect, `counter ${c}, top ${w2.top}`);
    if (ok) w2.mark(c), seen.add(c);
  }
  // restored from disk: everything up to the floor is seen
  const f = ReplayWindow.floor(500);
  assertEquals([f.check(500), f.check(450), f.check(501)], [false, false, true]);
});

Deno.test("auth: sessions: first contact, restart of the peer, stale sessions, reflection", () => {
  const s = new PeerSessions(0x11111111);
  assertEquals(s.accept(0x22, 1000, 7, 1), NEW_SESSION);
  assertEquals(s.accept(0x22, 1000, 7, 2), ACCEPTED);
  assertEquals(s.accept(0x22, 1000, 7, 2), REPLAYED);
  assertEquals(s.accept(0x22, 1000, 8, 3), STALE); // same start, another random
  assertEquals(s.accept(0x22, 999, 7, 50), STALE); // an earlier run
  assertEquals(s.accept(0x22, 2000, 9, 1), NEW_SESSION); // the peer restarted
  assertEquals(s.accept(0x22, 1000, 7, 3), STALE);
  assertEquals(s.accept(0x11111111, 5000, 1, 1), REFLECTED);
  assertEquals(s.accept(0x33, 1, 1, 0), REPLAYED); // counter 0 is never sent
});

Deno.test("auth: the state file keeps session starts increasing and peers' sessions across restarts", async () => {
  await withDir((dir) => {
    const key = new Uint8Array(32).fill(3);
    const tx = context(dir, key, { host: "tx" });
    const rx = context(dir, key, { host: "rx" });
    const old = copy(tx.seal(body("old")));
    assertEquals(opened(rx, old), ["old"]);
    const later = copy(tx.seal(body("later")));
    tx.close();
    rx.close();
    // the receiver restarts: the peer's session and counter are remembered
    const rx2 = context(dir, key, { host: "rx" });
    assertEquals(opened(rx2, old), []);
    assertEquals(rx2.stats.replayed, 1);
    assertEquals(opened(rx2, later), ["later"]);
    // the sender restarts with its clock set back: the start still grows
    const file = `${dir}/sync-${tx.nodeId.toString(16).padStart(8, "0")}.json`;
    const st = JSON.parse(Deno.readTextFileSync(file));
    st.start = Date.now() + 3_600_000;
    Deno.writeTextFileSync(file, JSON.stringify(st));
    const tx2 = context(dir, key, { host: "tx" });
    assertEquals(tx2.sessionStart, st.start + 1);
    assertEquals(opened(rx2, copy(tx2.seal(body("new run")))), ["new run"]);
    assertEquals(opened(rx2, later), []);
    assertEquals(rx2.stats.staleSession, 1);
    tx2.close(), rx2.close();
  });
});

Deno.test("auth: node ids differ between the two ends and are stable", async () => {
  const a = syncConfig();
  const b = parseConfig(
    BASE.replace("IPv4_address 192.168.100.1", "IPv4_address 192.168.100.2").replace(
      "Destination_Address 192.168.100.2",
      "Destination_Address 192.168.100.1",
    ) + "}\n",
    "b.conf",
  ).sync!;
  await withDir((dir) => {
    const key = new Uint8Array(32);
    const ring = (): KeyRing => ({ send: deriveKey(key.slice(), "k"), next: null });
    const ctx = (s: SyncConfig, d: string) =>
      new AuthContext({ keyFile: "/x", nextKeyFile: null, encrypt: false }, s, quiet, {
        stateDir: `${dir}/${d}`,
        hostname: "fw",
        ring: ring(),
      });
    const [x, y, z] = [ctx(a, "1"), ctx(b, "2"), ctx(a, "3")];
    assert(x.nodeId !== y.nodeId);
    assertEquals(x.nodeId, z.nodeId);
    for (const c of [x, y, z]) c.close();
  });
});

Deno.test("auth: key files: size, mode, owner, type; NextKeyFile may be absent", async () => {
  await withDir((dir) => {
    const good = keyFile(`${dir}/good`, new Uint8Array(32).fill(7));
    assertEquals(readKeyFile("KeyFile", good)!.length, 32);
    const err = (f: () => unknown, text: string) =>
      assertThrows(f, (e: unknown) => e instanceof KeyFileError && e.message.includes(text));
    err(() => readKeyFile("KeyFile", keyFile(`${dir}/short`, new Uint8Array(31))), "31 bytes, at least 32");
    err(() => readKeyFile("KeyFile", keyFile(`${dir}/open`, new Uint8Array(32), 0o604)), "(mode 0604)");
    err(() => readKeyFile("KeyFile", keyFile(`${dir}/grp`, new Uint8Array(32), 0o640)), "chmod 600");
    err(() => readKeyFile("KeyFile", `${dir}/none`), "no such file");
    err(() => readKeyFile("KeyFile", dir), "not a regular file");
    const nobody = keyFile(`${dir}/nobody`, new Uint8Array(32));
    Deno.chownSync(nobody, 65534, 65534);
    err(() => readKeyFile("KeyFile", nobody), "owned by uid 65534");
    assertEquals(readKeyFile("NextKeyFile", `${dir}/none`, true), null);
    // the same bytes give the same key and id; other bytes another
    const r1 = loadKeyRing({ keyFile: good, nextKeyFile: `${dir}/none`, encrypt: false });
    const r2 = loadKeyRing({ keyFile: good, nextKeyFile: null, encrypt: false });
    assertEquals([r1.send.id, r1.next], [r2.send.id, null]);
    assertEquals(r1.send.key, r2.send.key);
    const other = keyFile(`${dir}/other`, new Uint8Array(32).fill(8));
    assert(loadKeyRing({ keyFile: other, nextKeyFile: null, encrypt: false }).send.id !== r1.send.id);
  });
});

Deno.test("auth: rejections are logged at most once per reason per interval, with the count", () => {
  let t = 0;
  const lines: string[] = [];
  const log = new RateLimitedLog((_p, m) => lines.push(m), 10_000, () => t);
  for (let i = 0; i < 5; i++) log.report("replay", "warning", () => "replayed");
  log.report("key", "warning", () => "unknown key");
  t = 10_500;
  log.report("replay", "warning", () => "replayed");
  assertEquals(lines, ["replayed", "unknown key", "replayed (and 4 more since the last report 11s ago)"]);
});

Deno.test("auth: -s network gets the extra lines in the receive block, in the same columns", async () => {
  await withDir((dir) => {
    const rx = context(dir, new Uint8Array(32), { host: "rx" });
    rx.stats.plain = 12;
    const text = formatNetworkStats(newNetworkStats(), rx.formatStats());
    const lines = text.split("\n");
    const at = lines.indexOf(`\t\tBad message size:\t${"0".padStart(20)}`);
    assertEquals(lines.slice(at + 1, at + 7), [
      `\t\tNot authenticated:\t${"0".padStart(20)}`,
      `\t\tPlain sync messages:\t${"12".padStart(20)}`,
      `\t\tUnknown key:\t\t${"0".padStart(20)}`,
      `\t\tReplayed:\t\t${"0".padStart(20)}`,
      `\t\tStale session:\t\t${"0".padStart(20)}`,
      "\tsend:",
    ]);
    // without Authentication: 1.4.7's text
    assert(!formatNetworkStats(newNetworkStats()).includes("authenticated"));
    rx.close();
  });
});

Deno.test("auth: the Authentication clause: parsed, printed by --check, errors", () => {
  const a = syncConfig(
    "\tAuthentication {\n\t\tKeyFile /etc/conntrackd/sync.key\n\t\tNextKeyFile /etc/conntrackd/sync.next.key # rollover\n" +
      "\t\tEncrypt on\n\t}\n",
  );
  assertEquals(a.authentication, {
    keyFile: "/etc/conntrackd/sync.key",
    nextKeyFile: "/etc/conntrackd/sync.next.key",
    encrypt: true,
  });
  assertEquals(syncConfig("Authentication { KeyFile /k }\n").authentication, {
    keyFile: "/k",
    nextKeyFile: null,
    encrypt: false,
  });
  assertEquals(syncConfig().authentication, null);
  const text = formatConfig(parseConfig(BASE + "Authentication { KeyFile /k\nEncrypt yes }\n}\n", "t.conf"));
  assert(text.includes("\tAuthentication {\n\t\tKeyFile /k\n\t\tEncrypt on\n\t}\n}\n"), text);
  assert(!formatConfig(parseConfig(BASE + "}\n", "t.conf")).includes("Authentication"));
  const bad = (extra: string, message: RegExp) =>
    assertThrows(() => parseConfig(BASE + extra + "}\n", "t.conf"), (e: Error) => message.test(String(e)));
  bad("Authentication { Encrypt on }\n", /needs a KeyFile/);
  bad("Authentication { KeyFile k }\n", /an absolute path after KeyFile/);
  bad("Authentication { KeyFile /k\nKeyFile /l }\n", /KeyFile is given twice/);
  bad("Authentication { KeyFile /k\nNextKeyFile /k }\n", /name the same file/);
  bad("Authentication { KeyFile /k\nCipher aes }\n", /unknown clause 'Cipher' in the Authentication block/);
  bad("Authentication { KeyFile /k }\nAuthentication { KeyFile /k }\n", /given twice in the Sync block/);
});

Deno.test("auth: reload-keys on the command line", () => {
  assertEquals(splitReloadKeys(["-C", "/f", "reload-keys"]), { configPath: "/f", rest: [] });
  assertEquals(splitReloadKeys(["reload-keys", "x"]), { configPath: null, rest: ["x"] });
  assertEquals(splitReloadKeys(["-s", "reload-keys"]), null);
});
