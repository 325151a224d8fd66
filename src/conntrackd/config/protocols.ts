// Protocol-name lookup for `Protocol Accept|Ignore { ... }`, like the
// reference's getprotobyname(): names and aliases from /etc/protocols,
// compared case-sensitively.

// Used only when /etc/protocols cannot be read.
const FALLBACK: [string, number][] = [
  ["tcp", 6],
  ["TCP", 6],
  ["udp", 17],
  ["UDP", 17],
  ["icmp", 1],
  ["ICMP", 1],
  ["sctp", 132],
  ["SCTP", 132],
  ["dccp", 33],
  ["DCCP", 33],
  ["udplite", 136],
  ["UDPLite", 136],
  ["gre", 47],
  ["GRE", 47],
  ["ipv6-icmp", 58],
  ["IPv6-ICMP", 58],
];

let table: Map<string, number> | null = null;

function load(): Map<string, number> {
  const map = new Map<string, number>();
  let text: string;
  try {
    text = Deno.readTextFileSync("/etc/protocols");
  } catch {
    return new Map(FALLBACK);
  }
  for (const raw of text.split("\n")) {
    const fields = raw.replace(/#.*/, "").trim().split(/\s+/);
    if (fields.length < 2 || !/^[0-9]+$/.test(fields[1])) continue;
    const num = Number(fields[1]);
    for (const name of [fields[0], ...fields.slice(2)]) {
      if (!map.has(name)) map.set(name, num);
    }
  }
  return map;
}

/** The IP protocol number for `name`, or null when /etc/protocols does not know it. */
export function protocolByName(name: string): number | null {
  table ??= load();
  return table.get(name) ?? null;
}

/** The first /etc/protocols name for `num` (for printing), or the number itself. */
export function protocolName(num: number): string {
  table ??= load();
  for (const [name, n] of table) if (n === num) return name;
  return String(num);
}
