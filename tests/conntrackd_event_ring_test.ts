// The event ring on a local datagram socket (the ring only needs an fd to
// recv() from): every datagram arrives intact and in order, and once a burst
// has been read and the socket stays quiet the worker gives the touched pages
// back to the kernel, without harming the datagrams that come after.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { EventRing } from "../src/conntrackd/ctnl/event_ring.ts";

const AF_UNIX = 1, SOCK_DGRAM = 2, MSG_DONTWAIT = 0x40, EAGAIN = 11, SHUT_RDWR = 2;
const PAGE = 4096;

const libc = Deno.dlopen("libc.so.6", {
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
}).symbols;

const errno = () => new Deno.UnsafePointerView(libc.__errno_location()!).getInt32(0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident pages of the ring's shared memory (mincore over its whole mapping, page-aligned). */
function residentPages(sab: SharedArrayBuffer): number {
  const addr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(new Uint8Array(sab))!));
  const start = addr / BigInt(PAGE) * BigInt(PAGE);
  const len = Number(addr - start) + sab.byteLength;
  const pages = Math.ceil(len / PAGE);
  const vec = new Uint8Array(pages);
  assertEquals(libc.mincore(Deno.UnsafePointer.create(start), BigInt(len), vec), 0);
  return vec.reduce((n, b) => n + (b & 1), 0);
}

/** Datagram i: its index, then a pattern derived from it. */
function datagram(i: number, size: number): Uint8Array {
  const d = new Uint8Array(size);
  new DataView(d.buffer).setUint32(0, i, true);
  for (let k = 4; k < size; k++) d[k] = (i * 31 + k) & 255;
  return d;
}

/**
 * Sends without yielding to the event loop: the worker drains the socket into the ring on its
 * own thread meanwhile, but nothing is read out of the ring until the burst is over.
 */
function sendAll(fd: number, from: number, count: number, size: number): void {
  for (let i = from; i < from + count;) {
    const d = datagram(i, size);
    if (Number(libc.send(fd, d, BigInt(size), MSG_DONTWAIT)) === size) i++;
    else if (errno() !== EAGAIN) throw new Error(`send: errno ${errno()}`);
  }
}

Deno.test("event ring: a burst arrives intact, its pages are released when idle, later datagrams are intact", async () => {
  const fds = new Int32Array(2);
  assertEquals(libc.socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
  const ring = new EventRing(fds[0]);
  const sab = (ring as unknown as { sab: SharedArrayBuffer }).sab;
  const SIZE = 1000, BURST = 4000; // ~4 MB written into the ring
  let next = 0, bad = 0, holding = -1;
  const sink = {
    datagram(buf: Uint8Array, view: DataView, len: number) {
      const i = view.getUint32(0, true);
      if (i !== next || len !== SIZE) bad++;
      else {
        for (let k = 4; k < len; k++) {
          if (buf[k] !== ((i * 31 + k) & 255)) {
            bad++;
            break;
          }
        }
      }
      next = i + 1;
      // The ring's read position is published after this returns: the worker cannot release yet.
      if (next === BURST) holding = residentPages(sab);
    },
    overrun() {},
    failed(e: number) {
      throw new Error(`ring failed: errno ${e}`);
    },
  };
  const running = ring.run(sink, () => new Promise((r) => setTimeout(r, 0)));
  try {
    sendAll(fds[1], 0, BURST, SIZE);
    while (next < BURST) await sleep(5);
    assertEquals(bad, 0);
    // Every datagram the burst wrote is still resident while the last one is being read.
    assert(holding * PAGE >= BURST * SIZE, `${holding} pages resident while reading`);
    // Quiet now: the worker naps, finds nothing, and gives the pages back (it keeps room for one write).
    let idle = holding;
    for (let t = 0; t < 100 && idle > 64; t++) {
      await sleep(10);
      idle = residentPages(sab);
    }
    assert(idle <= 64, `${idle} pages still resident when idle (were ${holding})`);
    // The released pages come back zeroed and are written again: the next burst is intact too.
    sendAll(fds[1], BURST, BURST, SIZE);
    while (next < 2 * BURST) await sleep(5);
    assertEquals(bad, 0);
  } finally {
    ring.close();
    // Wakes the worker's blocking recv() so its thread can end.
    libc.shutdown(fds[0], SHUT_RDWR);
    await running;
    libc.close(fds[1]);
    libc.close(fds[0]);
  }
});
