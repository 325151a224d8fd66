// A missing C library is one line naming the Debian package, never a stack trace.
import { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert";
import { CTKIT, withNetns } from "./lib/netns.ts";

for (const tool of [["conntrack", "-L"], ["nfct", "list", "timeout"]]) {
  Deno.test(`missing library: ctkit ${tool.join(" ")}`, async () => {
    await withNetns(1, async (ns) => {
      const r = await ns.exec(["env", "CTKIT_LIBDIR=/nonexistent", CTKIT, ...tool]);
      assertEquals(r.code, 1);
      assertEquals(r.stdout, "");
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      assertEquals(lines.length, 1, r.stderr);
      assertMatch(
        lines[0],
        /^ctkit: cannot load lib[a-z_.0-9]+: install the Debian package [a-z0-9.-]+ \(apt-get install /,
      );
    });
  });
}
