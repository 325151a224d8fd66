// getprotobyname()/getprotobynumber() over /etc/protocols (nsswitch "files"):
// the first line whose official name or alias matches (case-sensitively) wins.
import { rawToBytes } from "./bytes.ts";

export const PROTOCOLS_FILE = "/etc/protocols";

export interface ProtoEntry {
  name: string;
  number: number;
  aliases: string[];
}

let cache: { path: string; entries: ProtoEntry[] } | undefined;

function entries(path: string): ProtoEntry[] {
  if (cache?.path === path) return cache.entries;
  let text = "";
  try {
    text = rawToBytes(Deno.readFileSync(path));
  } catch {
    // No database: every lookup fails, as in libc.
  }
  const list: ProtoEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.replace(/#.*/, "").split(/[ \t]+/).filter((f) => f !== "");
    if (fields.length < 2 || !/^[0-9]+$/.test(fields[1])) continue;
    list.push({ name: fields[0], number: Number(fields[1]), aliases: fields.slice(2) });
  }
  cache = { path, entries: list };
  return list;
}

export function getprotobyname(name: string, path = PROTOCOLS_FILE): ProtoEntry | undefined {
  return entries(path).find((e) => e.name === name || e.aliases.includes(name));
}

export function getprotobynumber(num: number, path = PROTOCOLS_FILE): ProtoEntry | undefined {
  return entries(path).find((e) => e.number === num);
}
