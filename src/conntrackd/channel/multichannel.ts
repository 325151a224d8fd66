// The set of dedicated links (multichannel.c): up to four channels of one
// kind, one of them active. Only the active link transmits; a valid message
// received on a link makes it active; when the active link's interface loses
// UP or RUNNING the next link with UP or RUNNING takes over (sync-mode.c
// interface_handler / interface_candidate).
import type { SyncConfig } from "../config/types.ts";
import { type Channel, type ChannelOptions, openChannel } from "./channel.ts";
import { ErrorQueue } from "./error_queue.ts";
import { IFF_RUNNING, IFF_UP, interfaceName } from "./interface.ts";
import type { LinkFlags, LinkWatcher } from "./link_watch.ts";
import { formatChannelStats, formatLinkStats } from "./stats.ts";
import type { ReceiveVisitor } from "./transport.ts";

/** Log sink: the daemon's log with the reference's priority. */
export type ChannelLog = (priority: "notice" | "error", message: string) => void;

export interface MultiChannelOptions extends Omit<ChannelOptions, "errorQueue"> {
  log?: ChannelLog;
}

export class MultiChannel {
  private current: number;

  constructor(
    readonly channels: Channel[],
    initial: number,
    /** The one error queue all channels share (`errorq` in `-s queue`). */
    readonly errorQueue: ErrorQueue,
    private readonly log: ChannelLog = () => {},
  ) {
    if (channels.length === 0) throw new RangeError("no channels");
    this.current = initial >= 0 && initial < channels.length ? initial : 0;
  }

  /**
   * Opens every channel of the Sync block; the `Default` one (else the first)
   * is active. Throws ChannelOpenError after closing the ones already open.
   */
  static open(sync: SyncConfig, opts: MultiChannelOptions = {}): MultiChannel {
    const errorQueue = new ErrorQueue(sync.errorQueueLength);
    const channels: Channel[] = [];
    try {
      for (const cfg of sync.channels) channels.push(openChannel(cfg, { ...opts, errorQueue }));
    } catch (e) {
      for (const ch of channels) ch.close();
      throw e;
    }
    return new MultiChannel(channels, sync.defaultChannel, errorQueue, opts.log);
  }

  get activeIndex(): number {
    return this.current;
  }

  get active(): Channel {
    return this.channels[this.current];
  }

  /** Buffers a message on the active link. */
  send(message: Uint8Array): boolean {
    return this.active.send(message);
  }

  /** Bytes waiting in the active link's send buffer. */
  get pending(): number {
    return this.active.pending;
  }

  /** Writes out the active link's buffer. */
  flush(): boolean {
    return this.active.flush();
  }

  /** The sync layer accepted a message that arrived on channel `index`: transmit there from now on. */
  markReceived(index: number): void {
    if (index >= 0 && index < this.channels.length) this.current = index;
  }

  setActive(index: number): void {
    this.markReceived(index);
  }

  /** Every fd to poll, of all channels. */
  fds(): number[] {
    return this.channels.flatMap((ch) => ch.fds());
  }

  /** Which channel an fd belongs to; -1 if none. */
  channelOf(fd: number): number {
    return this.channels.findIndex((ch) => ch.fds().includes(fd));
  }

  /** Reads channel `index` without waiting; `visit` gets the data and the channel's index. */
  receive(index: number, visit: (data: Uint8Array, index: number) => void, limit: number): number {
    const v: ReceiveVisitor = (data) => visit(data, index);
    return this.channels[index].receive(v, limit);
  }

  /** After a link event: fail over when the active link's interface is not both UP and RUNNING. */
  checkActiveLink(links: LinkFlags): void {
    const flags = links.flags(this.active.ifindex) ?? 0;
    if ((flags & IFF_RUNNING) && (flags & IFF_UP)) return;
    const activeIfindex = this.active.ifindex;
    for (let i = 0; i < this.channels.length; i++) {
      const ifindex = this.channels[i].ifindex;
      if (ifindex === activeIfindex) continue;
      if ((links.flags(ifindex) ?? 0) & (IFF_RUNNING | IFF_UP)) {
        this.current = i;
        this.log(
          "notice",
          `device \`${interfaceName(ifindex) ?? this.channels[i].deviceName()}' becomes dedicated link`,
        );
        return;
      }
    }
    this.log("error", "no dedicated links available!");
  }

  /** Reads the link watcher's queued events, checking the active link after each datagram. */
  handleLinkEvents(watcher: LinkWatcher): number {
    return watcher.receive(() => this.checkActiveLink(watcher));
  }

  /** The active channel's block of `conntrackd -s`. */
  formatStats(): string {
    return formatChannelStats(this.active);
  }

  /** `conntrackd -s link`: every channel with its interface status and role. */
  formatLinkStats(links: LinkFlags): string {
    return this.channels.map((ch, i) => formatLinkStats(ch, links.flags(ch.ifindex) ?? 0, i === this.current))
      .join("");
  }

  close(): void {
    for (const ch of this.channels) ch.close();
  }
}
