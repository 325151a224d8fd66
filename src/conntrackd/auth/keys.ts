// Key files of authenticated sync: checked, read, and turned into a 32-byte key
// and a 4-byte key id with keyed BLAKE2b under fixed context strings, so a
// receiver picks KeyFile's or NextKeyFile's key straight from a record's id.
//
// A key file must be a regular file of at least MIN_KEY_FILE bytes, owned by the
// daemon's user, with no permission bits for group or others. NextKeyFile may be
// absent (a rollover not under way); anything else wrong with either file is an
// error: the daemon does not start, a reload keeps the keys it has.
import type { AuthConfig } from "../config/types.ts";
import { AEAD_KEY_BYTES, context, keyedHash, wipe } from "./seal.ts";
import { getU32, hex32 } from "./record.ts";

export const MIN_KEY_FILE = 32;
/** More than any sensible key; a larger file is a mistake (a wrong path). */
export const MAX_KEY_FILE = 64 * 1024;

const KEY_CONTEXT = "ctkit conntrackd sync key v1";
const ID_CONTEXT = "ctkit conntrackd sync key id v1";

export interface SyncKey {
  /** 32 bytes: the AEAD key. */
  key: Uint8Array;
  /** First 4 bytes of a keyed hash of the key: what records carry. */
  id: number;
  /** The file it came from. */
  file: string;
}

/** A key file that cannot be used; the message names the file and says what to do. */
export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyFileError";
  }
}

/** The file's bytes after the checks above; null when `optional` and the file does not exist. */
export function readKeyFile(what: string, path: string, optional = false): Uint8Array | null {
  const where = `${what} ${path}`;
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      if (optional) return null;
      throw new KeyFileError(`${where}: no such file (make one: head -c 32 /dev/urandom > ${path})`);
    }
    throw new KeyFileError(`${where}: cannot open it: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    // The checks are made on the file that was opened, not on the name.
    const st = file.statSync();
    if (!st.isFile) throw new KeyFileError(`${where}: not a regular file`);
    const uid = Deno.uid();
    if (st.uid !== uid) {
      throw new KeyFileError(`${where}: owned by uid ${st.uid}, not by the daemon's user (uid ${uid})`);
    }
    const mode = (st.mode ?? 0) & 0o777;
    if (mode & 0o077) {
      throw new KeyFileError(
        `${where}: group or others have access (mode ${mode.toString(8).padStart(4, "0")}); ` +
          `chmod 600 ${path}`,
      );
    }
    if (st.size < MIN_KEY_FILE) {
      throw new KeyFileError(
        `${where}: ${st.size} bytes, at least ${MIN_KEY_FILE} needed (head -c 32 /dev/urandom > ${path})`,
      );
    }
    if (st.size > MAX_KEY_FILE) {
      throw new KeyFileError(`${where}: ${st.size} bytes, more than ${MAX_KEY_FILE}`);
    }
    const buf = new Uint8Array(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = file.readSync(buf.subarray(off));
      if (n === null) break;
      off += n;
    }
    if (off < MIN_KEY_FILE) throw new KeyFileError(`${where}: could read only ${off} bytes`);
    return buf.subarray(0, off);
  } catch (e) {
    if (e instanceof KeyFileError) throw e;
    throw new KeyFileError(`${where}: cannot read it: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    file.close();
  }
}

/** The key and id a file's bytes stand for (the bytes are wiped afterwards). */
export function deriveKey(bytes: Uint8Array, file: string): SyncKey {
  const key = keyedHash(bytes, context(KEY_CONTEXT), AEAD_KEY_BYTES).slice();
  wipe(bytes);
  const id = getU32(keyedHash(key, context(ID_CONTEXT), 16), 0);
  return { key, id, file };
}

/** The keys a node holds: it sends with KeyFile's, and accepts KeyFile's and NextKeyFile's. */
export interface KeyRing {
  send: SyncKey;
  /** NextKeyFile's key; null when none is configured or the file is absent. */
  next: SyncKey | null;
}

/** Reads both files of the configuration; throws KeyFileError. */
export function loadKeyRing(auth: AuthConfig): KeyRing {
  const send = deriveKey(readKeyFile("KeyFile", auth.keyFile)!, auth.keyFile);
  let next: SyncKey | null = null;
  if (auth.nextKeyFile !== null) {
    const bytes = readKeyFile("NextKeyFile", auth.nextKeyFile, true);
    if (bytes !== null) next = deriveKey(bytes, auth.nextKeyFile);
  }
  return { send, next };
}

/** Checks both files without deriving anything (`--check`); throws KeyFileError. */
export function checkKeyFiles(auth: AuthConfig): string[] {
  const notes: string[] = [];
  readKeyFile("KeyFile", auth.keyFile)!.fill(0);
  if (auth.nextKeyFile !== null) {
    const bytes = readKeyFile("NextKeyFile", auth.nextKeyFile, true);
    if (bytes === null) {
      notes.push(`NextKeyFile ${auth.nextKeyFile} is absent: only KeyFile's key is accepted`);
    } else bytes.fill(0);
  }
  return notes;
}

/** The key a record's id names, or null. */
export function keyFor(ring: KeyRing, id: number): SyncKey | null {
  if (ring.send.id === id) return ring.send;
  if (ring.next !== null && ring.next.id === id) return ring.next;
  return null;
}

/** "sending with key 1a2b3c4d (KeyFile …), also accepting 5e6f… (NextKeyFile …)". */
export function describeRing(ring: KeyRing): string {
  let s = `sending with key ${hex32(ring.send.id)} (${ring.send.file})`;
  if (ring.next && ring.next.id !== ring.send.id) {
    s += `, also accepting key ${hex32(ring.next.id)} (${ring.next.file})`;
  }
  return s;
}
