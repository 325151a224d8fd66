// connlabel.conf: "<bit> <name>" lines mapping label bits to names, parsed as
// libnetfilter_conntrack does (first definition of a bit and of a name wins).
import { strerror } from "../../ffi/libc.ts";

export const CONNLABEL_CONF = "/etc/xtables/connlabel.conf";
const MAX_BITS = 1024;

export class LabelMap {
  private byName = new Map<string, number>();
  /** bit -> name for bits below namecount ("" for a hole, as the C map). */
  readonly names: string[] = [];

  bitOf(name: string): number {
    return this.byName.get(name) ?? -1;
  }
  /** The name of a bit; undefined past the highest defined bit, "" for a hole. */
  nameOf(bit: number): string | undefined {
    return bit < this.names.length ? this.names[bit] : undefined;
  }

  static parse(text: string): LabelMap | null {
    const m = new LabelMap();
    const seen = new Set<number>();
    let maxbit = -1;
    for (const raw of splitLines(text)) {
      if (raw[0] === "#") continue;
      const num = /^[ \t\n\v\f\r]*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(raw);
      if (!num) continue;
      const bit = strtoulBase0(num[0]);
      if (bit < 0 || bit >= MAX_BITS || seen.has(bit)) continue;
      const name = trimLabel(raw.slice(num[0].length));
      if (!name || !/^[A-Za-z0-9 -]*$/.test(name) || m.byName.has(name)) continue;
      m.byName.set(name, bit);
      seen.add(bit);
      if (bit > maxbit) maxbit = bit;
    }
    if (maxbit < 0) return null;
    for (let b = 0; b <= maxbit; b++) m.names.push("");
    for (const [name, bit] of m.byName) m.names[bit] = name;
    return m;
  }
}

/** fgets() into a 1024-byte buffer: long lines are read in pieces. */
function splitLines(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/(?<=\n)/)) {
    for (let i = 0; i < line.length; i += 1023) out.push(line.slice(i, i + 1023));
  }
  return out;
}

function strtoulBase0(s: string): number {
  const t = s.trim();
  const neg = t[0] === "-";
  const u = t.replace(/^[+-]/, "");
  const v = /^0[xX]/.test(u)
    ? parseInt(u.slice(2), 16)
    : u.length > 1 && u[0] === "0"
    ? parseInt(u, 8)
    : Number(u);
  return neg && v !== 0 ? Number.MAX_SAFE_INTEGER : v;
}

function trimLabel(s: string): string | null {
  let t = s.replace(/^[ \f\r\t\v]+/, "");
  const nl = t.indexOf("\n");
  if (nl >= 0) t = t.slice(0, nl);
  t = t.replace(/[ \f\r\t\v]+$/, "");
  return t.length ? t : null;
}

/**
 * Loads the map as nfct_labelmap_new() does. On failure returns null and the
 * perror() line conntrack prints ("nfct_labelmap_new: <strerror>").
 */
export function loadLabelMap(path = CONNLABEL_CONF): { map: LabelMap | null; error?: string } {
  let text: string;
  try {
    text = new TextDecoder("latin1").decode(Deno.readFileSync(path));
  } catch (e) {
    const code = e instanceof Deno.errors.NotFound ? 2 : e instanceof Deno.errors.PermissionDenied ? 13 : 5;
    return { map: null, error: `nfct_labelmap_new: ${strerror(code)}` };
  }
  const map = LabelMap.parse(text);
  return map ? { map } : { map: null, error: `nfct_labelmap_new: ${strerror(0)}` };
}

/** Bit n of a label bitmap (the kernel's array of native-endian 32-bit words). */
export function labelBitSet(bitmap: Uint8Array, bit: number): boolean {
  const word = bit >>> 5, b = bit & 31;
  const off = word * 4 + (b >>> 3); // little-endian words on x86_64/arm64
  return off < bitmap.length && (bitmap[off] & (1 << (b & 7))) !== 0;
}

export function setLabelBit(bitmap: Uint8Array, bit: number): void {
  const word = bit >>> 5, b = bit & 31;
  bitmap[word * 4 + (b >>> 3)] |= 1 << (b & 7);
}
