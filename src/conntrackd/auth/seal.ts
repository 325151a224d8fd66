// The cryptography of authenticated sync, all of it libsodium's (ffi/libsodium.ts):
// XChaCha20-Poly1305-IETF seals and opens a record in one call, keyed BLAKE2b
// derives keys and ids. Nothing here is home-made: the record layout (record.ts)
// only decides which bytes are nonce, associated data and plaintext.
import { AEAD_KEY_BYTES, AEAD_TAG_BYTES, HASH_MIN_BYTES, libsodium } from "../../../ffi/libsodium.ts";
import {
  FLAG_ENCRYPTED,
  NONCE_END,
  NONCE_START,
  RECORD_HEADER,
  RECORD_OVERHEAD,
  RECORD_TAG,
} from "./record.ts";

const enc = new TextEncoder();

/** BLAKE2b of `input` keyed with `key` (at least 16 bytes), `outLen` (16-64) bytes long. */
export function keyedHash(input: Uint8Array, key: Uint8Array, outLen: number): Uint8Array {
  const out = new Uint8Array(Math.max(outLen, HASH_MIN_BYTES));
  const r = libsodium().crypto_generichash(
    out,
    BigInt(out.length),
    input,
    BigInt(input.length),
    key,
    BigInt(key.length),
  );
  if (r !== 0) throw new Error("libsodium: crypto_generichash failed");
  return out.subarray(0, outLen);
}

/** A fixed context string as a BLAKE2b key: one per use, so derived values never collide. */
export function context(name: string): Uint8Array {
  const bytes = enc.encode(name);
  if (bytes.length < 16 || bytes.length > 64) throw new RangeError(`context ${name}: 16-64 bytes`);
  return bytes;
}

/** Fills `buf` with random bytes from the kernel's generator (libsodium's randombytes). */
export function randomBytes(buf: Uint8Array): Uint8Array {
  libsodium().randombytes_buf(buf, BigInt(buf.length));
  return buf;
}

export function wipe(buf: Uint8Array): void {
  libsodium().sodium_memzero(buf, BigInt(buf.length));
}

if (AEAD_TAG_BYTES !== RECORD_TAG) throw new Error("record tag size");
const EMPTY = new Uint8Array(0);
const BIG_HEADER = BigInt(RECORD_HEADER);
const BIG_TAG = BigInt(RECORD_TAG);

/**
 * Seals a record whose header (bytes 0-31, flags and length included) is already
 * written in `rec` and whose body is `body` (copied in when not encrypted,
 * encrypted into place otherwise). `rec` must hold header + body + tag.
 */
export function sealRecord(rec: Uint8Array, body: Uint8Array, key: Uint8Array, encrypt: boolean): boolean {
  const n = body.length;
  const s = libsodium();
  const nonce = rec.subarray(NONCE_START, NONCE_END);
  if (encrypt) {
    return s.crypto_aead_xchacha20poly1305_ietf_encrypt(
      rec.subarray(RECORD_HEADER),
      null,
      body,
      BigInt(n),
      rec.subarray(0, RECORD_HEADER),
      BIG_HEADER,
      null,
      nonce,
      key,
    ) === 0;
  }
  rec.set(body, RECORD_HEADER);
  return s.crypto_aead_xchacha20poly1305_ietf_encrypt(
    rec.subarray(RECORD_HEADER + n),
    null,
    EMPTY,
    0n,
    rec.subarray(0, RECORD_HEADER + n),
    BigInt(RECORD_HEADER + n),
    null,
    nonce,
    key,
  ) === 0;
}

/**
 * Verifies (and, when its flag says so, decrypts) the record `rec` (exactly one
 * record, its length checked by the caller). Returns the body — a view of `rec`,
 * or of `scratch` for a decrypted one — or null when the tag does not verify.
 */
export function openRecord(rec: Uint8Array, key: Uint8Array, scratch: Uint8Array): Uint8Array | null {
  const len = rec.length;
  const bodyLen = len - RECORD_OVERHEAD;
  const s = libsodium();
  const nonce = rec.subarray(NONCE_START, NONCE_END);
  if (rec[1] & FLAG_ENCRYPTED) {
    const r = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
      scratch,
      null,
      null,
      rec.subarray(RECORD_HEADER),
      BigInt(bodyLen + RECORD_TAG),
      rec.subarray(0, RECORD_HEADER),
      BIG_HEADER,
      nonce,
      key,
    );
    return r === 0 ? scratch.subarray(0, bodyLen) : null;
  }
  const r = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
    scratch,
    null,
    null,
    rec.subarray(len - RECORD_TAG),
    BIG_TAG,
    rec.subarray(0, len - RECORD_TAG),
    BigInt(len - RECORD_TAG),
    nonce,
    key,
  );
  return r === 0 ? rec.subarray(RECORD_HEADER, len - RECORD_TAG) : null;
}

export { AEAD_KEY_BYTES };
