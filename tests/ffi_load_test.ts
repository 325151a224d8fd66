// A missing C library is one line, never a stack trace: naming the Debian
// package for a system library, naming the file for one shipped with ctkit
// (CTKIT_LIBDIR, as the packaged file sets it).
import { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert";
import { CTKIT, withNetns } from "./lib/netns.ts";

const SYSTEM_LIBMNL = "/usr/lib/x86_64-linux-gnu/libmnl.so.0";

function oneLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l !== "");
  assertEquals(lines.length, 1, stderr);
  return lines[0];
}

for (const tool of [["conntrack", "-L"], ["nfct", "list", "timeout"]]) {
  Deno.test(`missing system library: ctkit ${tool.join(" ")}`, async () => {
    await withNetns(1, async (ns) => {
      // The system's libmnl replaced by an empty file in a mount namespace of the command's own.
      const r = await ns.exec([
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        `mount --bind /dev/null ${SYSTEM_LIBMNL} && exec "$0" "$@"`,
        CTKIT,
        ...tool,
      ]);
      assertEquals(r.code, 1);
      assertEquals(r.stdout, "");
      assertEquals(
        oneLine(r.stderr),
        "ctkit: cannot load libmnl.so.0: install the Debian package libmnl0 (apt-get install libmnl0)",
      );
    });
  });

  Deno.test(`missing shipped library: ctkit ${tool.join(" ")}`, async () => {
    await withNetns(1, async (ns) => {
      const r = await ns.exec(["env", "CTKIT_LIBDIR=/nonexistent", CTKIT, ...tool]);
      assertEquals(r.code, 1);
      assertEquals(r.stdout, "");
      assertMatch(
        oneLine(r.stderr),
        /^ctkit: cannot load \/nonexistent\/libmnl\.so\.0: .*No such file or directory/,
      );
    });
  });
}
