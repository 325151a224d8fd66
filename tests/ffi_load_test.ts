// A missing C library is one line, never a stack trace: naming the Debian
// package for a system library, naming the file for one shipped with ctkit
// (CTKIT_LIBDIR, as the packaged file sets it).
import { deepStrictEqual as assertEquals, match as assertMatch, throws as assertThrows } from "node:assert";
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

Deno.test("lazy tables: a symbol is called cold, then its table is promoted to fast calls", async () => {
  const { lazyLibrary } = await import("../ffi/load.ts");
  const lib = lazyLibrary(
    "libc.so.6",
    "libc6",
    {
      labs: { parameters: ["i64"], result: "i64" },
      getpid_nb: { name: "getpid", parameters: [], result: "i32", nonblocking: true },
      maybe: { name: "ctkit_no_such_symbol", parameters: [], result: "void", optional: true },
    } as const,
  );
  const cold = lib().labs;
  assertEquals(cold(-7n), 7n);
  assertEquals(await lib().getpid_nb(), Deno.pid);
  // 64 calls through dlsym'd pointers, then the same object's methods are Deno.dlopen's fast symbols.
  for (let i = 1; i <= 64; i++) assertEquals(lib().labs(BigInt(-i)), BigInt(i));
  assertEquals(lib().labs === cold, false);
  assertEquals(lib().labs(-9n), 9n);
  assertEquals(cold(-11n), 11n); // a reference taken before still works
  for (let i = 0; i < 70; i++) await lib().getpid_nb();
  assertEquals(await lib().getpid_nb(), Deno.pid);
  assertEquals(lib().maybe, null);
});

Deno.test("lazy tables: a symbol the library lacks is a clear error, and the others keep working", async () => {
  const { lazyLibrary } = await import("../ffi/load.ts");
  const lib = lazyLibrary(
    "libc.so.6",
    "libc6",
    {
      labs: { parameters: ["i64"], result: "i64" },
      no_such: { name: "ctkit_no_such_symbol", parameters: [], result: "void" },
    } as const,
  );
  assertThrows(() => lib().no_such(), /libc\.so\.6: no symbol ctkit_no_such_symbol/);
  // Past the promotion threshold the table cannot be bound as a whole: the calls stay on the slow path.
  for (let i = 1; i <= 100; i++) assertEquals(lib().labs(BigInt(-i)), BigInt(i));
});
