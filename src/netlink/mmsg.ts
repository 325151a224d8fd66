// A recvmmsg() batch: fixed slots plus the mmsghdr/iovec arrays that point into
// them, built once. Layouts are those of LP64 Linux (x86_64, arm64).
const MMSGHDR = 64; // struct msghdr (56 bytes) + msg_len (4) + padding
const IOVEC = 16;
const MSG_TRUNC = 0x20;

export class MmsgBatch {
  readonly data: Uint8Array;
  readonly view: DataView;
  readonly hdrs: Uint8Array;
  private readonly hdrView: DataView;
  private readonly iovs: Uint8Array;
  private readonly slots: Uint8Array[] = [];
  private readonly slotViews: DataView[] = [];

  constructor(readonly count: number, readonly slotSize: number) {
    this.data = new Uint8Array(count * slotSize);
    this.view = new DataView(this.data.buffer);
    this.hdrs = new Uint8Array(count * MMSGHDR);
    this.hdrView = new DataView(this.hdrs.buffer);
    this.iovs = new Uint8Array(count * IOVEC);
    const iovView = new DataView(this.iovs.buffer);
    // The arrays keep these buffers alive; their backing stores never move.
    const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.data)));
    const iovBase = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.iovs)));
    for (let i = 0; i < count; i++) {
      iovView.setBigUint64(i * IOVEC, base + BigInt(i * slotSize), true);
      iovView.setBigUint64(i * IOVEC + 8, BigInt(slotSize), true);
      this.hdrView.setBigUint64(i * MMSGHDR + 16, iovBase + BigInt(i * IOVEC), true); // msg_iov
      this.hdrView.setBigUint64(i * MMSGHDR + 24, 1n, true); // msg_iovlen
      this.slots.push(this.data.subarray(i * slotSize, (i + 1) * slotSize));
      this.slotViews.push(new DataView(this.data.buffer, i * slotSize, slotSize));
    }
  }

  offset(i: number): number {
    return i * this.slotSize;
  }
  slot(i: number): Uint8Array {
    return this.slots[i];
  }
  slotView(i: number): DataView {
    return this.slotViews[i];
  }
  /** Bytes received into slot i by the last call. */
  length(i: number): number {
    return this.hdrView.getUint32(i * MMSGHDR + 56, true);
  }
  setLength(i: number, n: number): void {
    this.hdrView.setUint32(i * MMSGHDR + 56, n, true);
  }
  truncated(i: number): boolean {
    return (this.hdrView.getInt32(i * MMSGHDR + 48, true) & MSG_TRUNC) !== 0;
  }
}
