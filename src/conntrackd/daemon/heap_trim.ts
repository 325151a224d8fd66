// Gives memory that malloc holds but no longer uses back to the kernel.
// V8 compiles on background threads and Deno's threads keep one malloc arena
// each; what a compile or a burst of work freed stays in those arenas as
// resident memory (about 7 MB of an idle daemon's 32 MB RssAnon) until
// malloc_trim() returns it. A trim costs well under a millisecond and runs
// on the blocking pool, so doing it every few seconds costs nothing measurable.
import { libcMalloc } from "../../../ffi/libc_process.ts";

/** After start-up: as the warm-up's background compiles end, and once surely after. */
const EARLY_TRIMS_MS = [200, 1000];
const TRIM_EVERY_MS = 5000;

let unavailable = false;

/** Trims malloc's free memory now; a libc without malloc_trim (not glibc) is left alone. */
export async function trimMallocHeap(): Promise<void> {
  if (unavailable) return;
  try {
    await libcMalloc().malloc_trim(0n);
  } catch {
    unavailable = true;
  }
}

/** Trims after start-up and then periodically; the timers never keep the process alive. */
export function startHeapTrimming(): void {
  let busy = false;
  const trim = async () => {
    if (busy) return;
    busy = true;
    await trimMallocHeap();
    busy = false;
  };
  for (const ms of EARLY_TRIMS_MS) Deno.unrefTimer(setTimeout(trim, ms));
  Deno.unrefTimer(setInterval(trim, TRIM_EVERY_MS));
}
