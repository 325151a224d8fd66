// libsodium: the sealing of authenticated sync (src/conntrackd/auth/). One call
// per datagram crosses FFI: XChaCha20-Poly1305-IETF seals or opens a whole
// record; keyed BLAKE2b derives keys and ids when key files are (re)read.
// Only a Sync section with `Authentication` ever opens the library.
import { lazyLibrary } from "./load.ts";

const symbols = {
  sodium_init: { parameters: [], result: "i32" },
  // (c, clen_p, m, mlen, ad, adlen, nsec, npub, k)
  crypto_aead_xchacha20poly1305_ietf_encrypt: {
    parameters: ["buffer", "pointer", "buffer", "u64", "buffer", "u64", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  // (m, mlen_p, nsec, c, clen, ad, adlen, npub, k): -1 when the tag does not verify
  crypto_aead_xchacha20poly1305_ietf_decrypt: {
    parameters: ["buffer", "pointer", "pointer", "buffer", "u64", "buffer", "u64", "buffer", "buffer"],
    result: "i32",
  },
  // (out, outlen, in, inlen, key, keylen): BLAKE2b, keyed when keylen > 0
  crypto_generichash: {
    parameters: ["buffer", "usize", "buffer", "u64", "buffer", "usize"],
    result: "i32",
  },
  randombytes_buf: { parameters: ["buffer", "usize"], result: "void" },
  sodium_memzero: { parameters: ["buffer", "usize"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

const table = lazyLibrary("libsodium.so.23", "libsodium23", symbols);
let initialised = false;

/** The library's symbols, after sodium_init() (called once; it picks the CPU's fastest code). */
export function libsodium(): ReturnType<typeof table> {
  const lib = table();
  if (!initialised) {
    if (lib.sodium_init() < 0) throw new Error("libsodium: sodium_init() failed");
    initialised = true;
  }
  return lib;
}

/** XChaCha20-Poly1305-IETF sizes. */
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;
/** crypto_generichash_BYTES_MIN and KEYBYTES_MIN. */
export const HASH_MIN_BYTES = 16;
export const HASH_KEY_MIN_BYTES = 16;
