// A dedicated thread that drains the event socket into a shared ring buffer.
// The kernel holds only as many events as the socket buffer takes (about 200
// with the default size); a burst from a flush or a batch load arrives faster
// than any hand-off between threads. So a worker does nothing but recv() calls
// straight into shared memory, at syscall speed, and the JS thread decodes from
// the ring when it gets to it: bursts are absorbed by the ring (16 MiB, tens of
// thousands of events) instead of overrunning the kernel.
//
// Waking a sleeping thread costs both sides (the worker, and the process whose
// change made the event): a blocking recv() per event was ~87 000 wake-ups per
// 100 000 flows. So the worker drains with MSG_DONTWAIT until the socket is
// empty, wakes the JS thread once per drained batch, and then naps briefly so
// the next batch is bigger; only a drain that finds nothing at all goes back
// to a blocking recv(). The nap is sized from the observed event rate and the
// socket's buffer so that what arrives meanwhile fills at most a quarter of it.
// ENOBUFS is seen by the worker itself (its errno is its own) and counted.
//
// A burst touches the ring's pages and they would stay resident (16 MiB after
// a 100 000-flow load); when the flow of events stops and the JS thread has
// read everything, the worker gives the pages it is not about to write back to
// the kernel (MADV_DONTNEED: they come back zeroed on the next write). Only the
// worker writes the ring, so it can do this without racing anyone.

/** Control words at the head of the shared buffer. */
const WRITE = 0, READ = 1, WAITING = 2, OVERRUNS = 3, FAILURES = 4, LAST_ERRNO = 5;
const CTL_BYTES = 64;
/** Largest datagram one receive takes; an event is a few hundred bytes. */
const MAX_DGRAM = 65536;
const WRAP = 0xffffffff;
/** Longest nap between drains (ms): what a batch of events may wait for the worker. */
const NAP_MAX_MS = 1;
/** Naps shorter than this are not worth it (timer slack is ~50 µs). */
const NAP_MIN_MS = 0.1;
/**
 * Socket buffer one event is reckoned to take (the skb's truesize: a few hundred bytes of
 * message in a 1 KiB allocation plus the skb itself), on the safe side.
 */
const EVENT_TRUESIZE = 2048;
/** The JS thread is woken at least every this many datagrams of one long drain. */
const WAKE_EVERY = 256;
/** Bytes written since the last release that make releasing the idle ring's pages worth a syscall. */
const RELEASE_AFTER = 1 << 20;

// The worker is plain JavaScript with no imports, so it runs from a data: URL
// whatever the program is packaged as (module graph, bundle or compiled binary).
const WORKER_SOURCE = `
const MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, EINTR = 4, EAGAIN = 11, ENOBUFS = 105;
const SOL_SOCKET = 1, SO_RCVBUF = 8;
// NAP: a word nobody notifies; the worker waits on it to sleep for a set time.
const WRITE = 0, READ = 1, WAITING = 2, OVERRUNS = 3, FAILURES = 4, LAST_ERRNO = 5, NAP = 6;
const CTL_BYTES = ${CTL_BYTES}, MAX_DGRAM = ${MAX_DGRAM}, WRAP = ${WRAP};
const NAP_MAX_MS = ${NAP_MAX_MS}, NAP_MIN_MS = ${NAP_MIN_MS}, EVENT_TRUESIZE = ${EVENT_TRUESIZE};
const WAKE_EVERY = ${WAKE_EVERY}, RELEASE_AFTER = ${RELEASE_AFTER}, MADV_DONTNEED = 4, PAGE = 4096n;
self.onmessage = (e) => {
  const { sab, fd, size } = e.data;
  const lib = Deno.dlopen("libc.so.6", {
    recv: { parameters: ["i32", "pointer", "usize", "i32"], result: "isize" },
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
    madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  }).symbols;
  const ctl = new Int32Array(sab, 0, 16);
  const data = new Uint8Array(sab, CTL_BYTES, size);
  const view = new DataView(sab, CTL_BYTES, size);
  const base = Deno.UnsafePointer.of(data);
  const maxDgram = BigInt(MAX_DGRAM);
  const need = MAX_DGRAM + 8;
  const opt = new Int32Array(1), optLen = new Uint32Array([4]);
  /** Events the socket buffer takes with room to spare (re-read: the buffer grows on overruns). */
  const budget = () => {
    optLen[0] = 4;
    if (lib.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, opt, optLen) !== 0) return 0;
    return opt[0] / 4 / EVENT_TRUESIZE;
  };
  let w = Atomics.load(ctl, WRITE);
  // Gives back the pages of [from, to) (ring offsets) that lie wholly inside it.
  const baseAddr = BigInt(Deno.UnsafePointer.value(base));
  const release = (from, to) => {
    const start = (baseAddr + BigInt(from) + PAGE - 1n) / PAGE * PAGE;
    const end = (baseAddr + BigInt(to)) / PAGE * PAGE;
    if (end > start) lib.madvise(Deno.UnsafePointer.create(start), end - start, MADV_DONTNEED);
  };
  let written = 0;
  // The ring is idle: once the JS thread has read it to the end, give back all but the next
  // write's room (at w, or at 0 after a wrap). False while that is still to come.
  const releaseIdle = () => {
    if (written < RELEASE_AFTER) return true;
    if (Atomics.load(ctl, READ) !== w) return false;
    written = 0;
    release(need, w);
    release(Math.min(size, w + need), size);
    return true;
  };
  const wake = () => {
    if (Atomics.compareExchange(ctl, WAITING, 1, 0) === 1) self.postMessage(0);
  };
  // draining: the last receive found data, so the next one does not block.
  let draining = false, batch = 0, since = 0, rate = 0;
  for (;;) {
    // Room for a whole datagram, contiguous; wrap to the start when the end is too short.
    for (;;) {
      const r = Atomics.load(ctl, READ);
      if (w >= r) {
        if (size - w >= need) break;
        if (r > need) {
          view.setUint32(w, WRAP, true);
          w = 0;
          Atomics.store(ctl, WRITE, 0);
          continue;
        }
      } else if (r - w > need) break;
      wake();
      Atomics.wait(ctl, READ, r, 50);
    }
    const flags = draining ? MSG_TRUNC | MSG_DONTWAIT : MSG_TRUNC;
    const n = Number(lib.recv(fd, Deno.UnsafePointer.offset(base, w + 4), maxDgram, flags));
    if (n < 0) {
      const err = new Deno.UnsafePointerView(lib.__errno_location()).getInt32(0);
      if (err === EINTR) continue;
      if (err === EAGAIN) {
        wake();
        if (batch === 0) {
          // A nap brought nothing: the flow of events stopped, block until the next; but first
          // (napping on, so the socket is still drained) wait for the pages to be read and released.
          if (!releaseIdle()) {
            Atomics.wait(ctl, NAP, 0, NAP_MAX_MS);
            continue;
          }
          draining = false;
          rate = 0;
          continue;
        }
        // Events per ms over the nap and drain just done; the first batch after blocking says little.
        const now = performance.now();
        rate = since ? Math.max(batch / Math.max(now - since, 0.01), rate / 2) : 0;
        batch = 0;
        let nap = NAP_MAX_MS;
        if (rate > 0) nap = Math.min(NAP_MAX_MS, budget() / rate);
        else nap = Math.min(NAP_MAX_MS, budget() / 1000);
        if (nap >= NAP_MIN_MS) Atomics.wait(ctl, NAP, 0, nap);
        since = now;
        continue;
      }
      if (err === ENOBUFS) Atomics.add(ctl, OVERRUNS, 1);
      else {
        Atomics.add(ctl, FAILURES, 1);
        Atomics.store(ctl, LAST_ERRNO, err);
        if (err === 9) return; // EBADF: the socket is gone
      }
      wake();
      continue;
    }
    if (!draining) {
      // Woken by the first event after a quiet spell.
      draining = true;
      since = 0;
    }
    batch++;
    if (n > MAX_DGRAM) {
      Atomics.add(ctl, FAILURES, 1);
      continue;
    }
    view.setUint32(w, n, true);
    written += 4 + n;
    w += 4 + ((n + 3) & ~3);
    Atomics.store(ctl, WRITE, w);
    if (batch % WAKE_EVERY === 0) wake();
  }
};
`;

export interface RingSink {
  /** One received datagram (a copy the callee may keep views on until it returns). */
  datagram(buf: Uint8Array, view: DataView, len: number): void;
  overrun(): void;
  failed(errno: number): void;
}

export class EventRing {
  private readonly sab: SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private readonly view: DataView;
  private readonly data: Uint8Array;
  private readonly worker: Worker;
  private readonly scratch = new Uint8Array(MAX_DGRAM);
  private readonly scratchView = new DataView(this.scratch.buffer);
  private signalled = false;
  private wakeUp: (() => void) | null = null;
  private seenOverruns = 0;
  private seenFailures = 0;
  closed = false;

  constructor(fd: number, private readonly size = 16 << 20) {
    this.sab = new SharedArrayBuffer(CTL_BYTES + size);
    this.ctl = new Int32Array(this.sab, 0, 16);
    this.view = new DataView(this.sab, CTL_BYTES, size);
    this.data = new Uint8Array(this.sab, CTL_BYTES, size);
    this.worker = new Worker(`data:application/javascript,${encodeURIComponent(WORKER_SOURCE)}`, {
      type: "module",
    });
    this.worker.onmessage = () => {
      this.signalled = true;
      const w = this.wakeUp;
      this.wakeUp = null;
      w?.();
    };
    this.worker.postMessage({ sab: this.sab, fd, size });
  }

  private nextSignal(): Promise<void> {
    if (this.signalled) {
      this.signalled = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.wakeUp = resolve);
  }

  /** Bytes waiting in the ring (for `-s`-style diagnostics and tests). */
  get backlog(): number {
    const w = Atomics.load(this.ctl, WRITE), r = Atomics.load(this.ctl, READ);
    return w >= r ? w - r : this.size - r + w;
  }

  /**
   * Hands every datagram to `sink` as it arrives, until closed. After `sliceMs`
   * of continuous work it lets the event loop run other tasks.
   */
  async run(sink: RingSink, yieldToLoop: () => Promise<void>, sliceMs = 20): Promise<void> {
    const ctl = this.ctl;
    while (!this.closed) {
      const overruns = Atomics.load(ctl, OVERRUNS);
      for (; this.seenOverruns < overruns; this.seenOverruns++) sink.overrun();
      const failures = Atomics.load(ctl, FAILURES);
      if (failures !== this.seenFailures) {
        this.seenFailures = failures;
        sink.failed(Atomics.load(ctl, LAST_ERRNO));
      }
      let r = Atomics.load(ctl, READ);
      if (r === Atomics.load(ctl, WRITE)) {
        this.signalled = false;
        Atomics.store(ctl, WAITING, 1);
        // The worker checks WAITING after publishing: either it saw the flag or we see its data.
        if (r === Atomics.load(ctl, WRITE) && overruns === Atomics.load(ctl, OVERRUNS)) {
          await this.nextSignal();
        }
        Atomics.store(ctl, WAITING, 0);
        continue;
      }
      const start = performance.now();
      let w = Atomics.load(ctl, WRITE);
      // The clock is read every few datagrams (a read costs as much as a small event's dispatch).
      let sinceClock = 0;
      while (r !== w) {
        const len = this.view.getUint32(r, true);
        if (len === WRAP) {
          r = 0;
          continue;
        }
        // Decoders keep views and build strings: give them private memory, not shared.
        this.scratch.set(this.data.subarray(r + 4, r + 4 + len));
        r += 4 + ((len + 3) & ~3);
        sink.datagram(this.scratch, this.scratchView, len);
        if (r === w) {
          Atomics.store(ctl, READ, r);
          Atomics.notify(ctl, READ);
          w = Atomics.load(ctl, WRITE);
        }
        if (++sinceClock === 16) {
          sinceClock = 0;
          if (performance.now() - start > sliceMs) break;
        }
      }
      Atomics.store(ctl, READ, r);
      Atomics.notify(ctl, READ);
      if (performance.now() - start > sliceMs) await yieldToLoop();
    }
  }

  /**
   * Stops handing out datagrams and ends the worker. A worker blocked in recv()
   * stays there until the socket wakes it (shutdown() or the next datagram).
   */
  close(): void {
    this.closed = true;
    this.worker.terminate();
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }
}
