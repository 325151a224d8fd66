// Idle flows for the commit figures and the race variant: TCP ESTABLISHED
// entries created in fw1's kernel table (one `conntrack -R` of `-I` lines), so
// fw1's conntrackd syncs them and fw2 has that many to commit at takeover.
import { CTKIT, type Testbed } from "./testbed.ts";

/** The i-th idle flow: 10.64.0.0/10 -> 198.51.100.7:80, one source address each. */
function flowLine(i: number): string {
  const src = `10.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
  return `-I -s ${src} -d 198.51.100.7 -p tcp --sport ${1024 + (i % 60000)} --dport 80 ` +
    `--state ESTABLISHED -t 7200 -u ASSURED`;
}

export async function fillIdleFlows(bed: Testbed, n: number): Promise<void> {
  const file = bed.file(`idle-${n}.txt`);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(flowLine(i));
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  await bed.must("fw1", [CTKIT, "conntrack", "-R", file]);
}
