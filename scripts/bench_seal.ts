// The per-datagram cost of the AEAD candidates for authenticated sync (issue 14),
// side by side in one process: libsodium's XChaCha20-Poly1305-IETF through FFI
// (what ctkit uses, src/conntrackd/auth/seal.ts), node:crypto's
// chacha20-poly1305 and aes-256-gcm, WebCrypto's AES-GCM, and for reference an
// HMAC-SHA256 of node:crypto (a MAC only). Each seals and opens a record of
// --size bytes of sync messages (default 1400: a full datagram on a 1500-byte
// MTU), authenticated only (the body as associated data) and encrypted.
// Rounds alternate between the candidates; the figure is the median of the
// rounds, in ns per datagram.
import * as nodeCrypto from "node:crypto";
import { Buffer } from "node:buffer";
import { openRecord, sealRecord } from "../src/conntrackd/auth/seal.ts";
import { libsodium } from "../ffi/libsodium.ts";
import { cpuModel, median } from "./bench_run.ts";

const args = Deno.args;
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SIZE = opt("--size", 1400);
const N = opt("--count", 20_000);
const ROUNDS = opt("--rounds", 7);
if (args.includes("--help")) {
  console.log("usage: scripts/bench-seal [--size BYTES] [--count DATAGRAMS] [--rounds N]");
  Deno.exit(0);
}

const HEADER = 32, TAG = 16;
const key = crypto.getRandomValues(new Uint8Array(32));
const body = crypto.getRandomValues(new Uint8Array(SIZE));
const header = crypto.getRandomValues(new Uint8Array(HEADER));
header[0] = 0xc0;
header[2] = (SIZE + HEADER + TAG) >> 8;
header[3] = (SIZE + HEADER + TAG) & 0xff;

interface Candidate {
  name: string;
  /** Seals and opens `count` datagrams; throws if one does not verify. */
  run(count: number): Promise<void> | void;
}

function sodium(encrypt: boolean): Candidate {
  const rec = new Uint8Array(HEADER + SIZE + TAG), scratch = new Uint8Array(65536);
  libsodium();
  return {
    name: `libsodium XChaCha20-Poly1305 (FFI)${encrypt ? ", encrypted" : ""}`,
    run(count) {
      for (let i = 0; i < count; i++) {
        rec.set(header);
        rec[24 + 7] = i; // the counter: a new nonce every time
        rec[1] = encrypt ? 1 : 0;
        if (!sealRecord(rec, body, key, encrypt)) throw new Error("seal");
        if (openRecord(rec, key, scratch) === null) throw new Error("open");
      }
    },
  };
}

function nodeAead(cipher: "chacha20-poly1305" | "aes-256-gcm", encrypt: boolean): Candidate {
  const k = Buffer.from(key);
  const iv = Buffer.alloc(12);
  const bodyBuf = Buffer.from(body), headerBuf = Buffer.from(header);
  const aad = Buffer.concat([headerBuf, bodyBuf]);
  const empty = Buffer.alloc(0);
  return {
    name: `node:crypto ${cipher}${encrypt ? ", encrypted" : ""}`,
    run(count) {
      for (let i = 0; i < count; i++) {
        iv.writeUInt32BE(i, 8);
        // deno-lint-ignore no-explicit-any
        const c = nodeCrypto.createCipheriv(cipher as any, k, iv, { authTagLength: TAG } as any) as any;
        c.setAAD(encrypt ? headerBuf : aad);
        const ct = encrypt
          ? Buffer.concat([c.update(bodyBuf), c.final()])
          : (c.update(empty), c.final(), empty);
        const tag = c.getAuthTag();
        // deno-lint-ignore no-explicit-any
        const d = nodeCrypto.createDecipheriv(cipher as any, k, iv, { authTagLength: TAG } as any) as any;
        d.setAAD(encrypt ? headerBuf : aad);
        d.setAuthTag(tag);
        d.update(ct);
        d.final();
      }
    },
  };
}

function hmac(): Candidate {
  const k = Buffer.from(key);
  const data = Buffer.concat([Buffer.from(header), Buffer.from(body)]);
  return {
    name: "node:crypto HMAC-SHA256 (MAC only, not encrypted)",
    run(count) {
      for (let i = 0; i < count; i++) {
        data[31] = i;
        const t = nodeCrypto.createHmac("sha256", k).update(data).digest();
        const v = nodeCrypto.createHmac("sha256", k).update(data).digest();
        if (!nodeCrypto.timingSafeEqual(t, v)) throw new Error("hmac");
      }
    },
  };
}

async function webCrypto(encrypt: boolean): Promise<Candidate> {
  const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
  const iv = new Uint8Array(12);
  const aad = new Uint8Array(HEADER + SIZE);
  aad.set(header), aad.set(body, HEADER);
  const empty = new Uint8Array(0);
  return {
    name: `WebCrypto AES-GCM (await per datagram)${encrypt ? ", encrypted" : ""}`,
    async run(count) {
      for (let i = 0; i < count; i++) {
        new DataView(iv.buffer).setUint32(8, i);
        const params = { name: "AES-GCM", iv, additionalData: encrypt ? header : aad, tagLength: 128 };
        const ct = await crypto.subtle.encrypt(params, k, encrypt ? body : empty);
        await crypto.subtle.decrypt(params, k, ct);
      }
    },
  };
}

const candidates: Candidate[] = [
  sodium(false),
  sodium(true),
  nodeAead("chacha20-poly1305", false),
  nodeAead("chacha20-poly1305", true),
  nodeAead("aes-256-gcm", false),
  nodeAead("aes-256-gcm", true),
  hmac(),
  await webCrypto(false),
  await webCrypto(true),
];

// warm-up: JIT, and the FFI table's promotion to fast calls
for (const c of candidates) await c.run(Math.min(N, 2000));
const samples = candidates.map(() => [] as number[]);
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < candidates.length; i++) {
    const t0 = performance.now();
    await candidates[i].run(N);
    samples[i].push((performance.now() - t0) * 1e6 / N);
  }
}

const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
console.log(
  `# seal + open of one ${SIZE}-byte datagram, ns (median of ${ROUNDS} rounds of ${N}); ${cpuModel()}, ` +
    `${navigator.hardwareConcurrency} cores, load ${load}, Deno ${Deno.version.deno}`,
);
const rows = candidates.map((c, i) => ({ name: c.name, ns: median(samples[i]) }));
const best = Math.min(...rows.map((r) => r.ns));
const width = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) {
  console.log(`${r.name.padEnd(width)}  ${r.ns.toFixed(0).padStart(7)} ns  ${(r.ns / best).toFixed(2)}x`);
}
