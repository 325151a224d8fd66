// The daemon's malloc trim: memory freed into malloc's arenas (here ArrayBuffer
// backing stores, which V8 takes from malloc) stays resident until the trim
// gives it back. Runs in a child with --expose-gc so the buffers are really freed.
import { ok as assert } from "node:assert";

const CHILD = `
import { trimMallocHeap } from ${
  JSON.stringify(new URL("../src/conntrackd/daemon/heap_trim.ts", import.meta.url).href)
};
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))[1]);
let held = [];
for (let i = 0; i < 2000; i++) held.push(new Uint8Array(64 * 1024).fill(1));
held = [];
globalThis.gc();
await new Promise((r) => setTimeout(r, 100));
const freed = anon();
await trimMallocHeap();
console.log(JSON.stringify({ freed, trimmed: anon() }));
`;

Deno.test("malloc trim: 128 MB freed into malloc's heap is resident before the trim and gone after", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/child.ts`;
    await Deno.writeTextFile(file, CHILD);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", "--quiet", "--v8-flags=--expose-gc", file],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert(out.success);
    const { freed, trimmed } = JSON.parse(new TextDecoder().decode(out.stdout));
    // 2000 x 64 KiB = 125 MiB, each buffer below the mmap threshold, so in the heap.
    assert(freed > 100_000, `RssAnon after free ${freed} kB`);
    assert(freed - trimmed > 90_000, `RssAnon ${freed} kB -> ${trimmed} kB`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
