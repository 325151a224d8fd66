// TCP channel (tcp.c). The server socket listens on the local address and Port
// (backlog 1, keepalive) and keeps one accepted peer: a new incoming connection
// replaces it. The client socket connects to the peer's address and Port; while
// disconnected, each send retries connect() at most once a second and fails
// (the channel queues the data in its error queue); a reset connection is
// replaced by a fresh socket. Reads are reassembled into whole messages.
import { errno } from "../../../ffi/libc.ts";
import {
  EAGAIN,
  EALREADY,
  ECONNREFUSED,
  ECONNRESET,
  EINPROGRESS,
  EINTR,
  EISCONN,
  ENOTCONN,
  EPIPE,
  libcSocket,
  MSG_NOSIGNAL,
  SO_KEEPALIVE,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../../../ffi/libc_socket.ts";
import type { ChannelConfig } from "../config/types.ts";
import { readyFds } from "./poll.ts";
import { type Family, sockaddr } from "./sockaddr.ts";
import {
  bindSocket,
  closeSocket,
  connectSocket,
  listenSocket,
  setIntOption,
  SocketCallError,
  withSocket,
} from "./socket.ts";
import { TrafficStats } from "./stats.ts";
import { StreamDeframer } from "./stream.ts";
import type { ReceiveVisitor, Transport } from "./transport.ts";
import { channelFamily, openReceiver, openSender } from "./udp.ts";

/** Minimum time between two connect() attempts of a disconnected client (TCP_CONNECT_TIMEOUT). */
export const CONNECT_INTERVAL_MS = 1000;

export class TcpTransport implements Transport {
  readonly kind = "tcp";
  readonly reliable = true;
  readonly sent = new TrafficStats();
  readonly received = new TrafficStats();
  private clientFd: number;
  private clientConnected: boolean;
  private lastConnect = -Infinity;
  /** Tail of a partially written buffer: it goes out before anything else. */
  private unsent: Uint8Array | null = null;
  private peerFd = -1;
  private readonly deframer = new StreamDeframer();

  private constructor(
    private readonly family: Family,
    private readonly cfg: ChannelConfig,
    private readonly dest: Uint8Array,
    client: { fd: number; connected: boolean; size: number },
    private readonly listenFd: number,
    readonly headerSize: number,
    readonly receiveBufferSize: number,
    private readonly now: () => number,
  ) {
    this.clientFd = client.fd;
    this.clientConnected = client.connected;
    this.sendBufferSize = client.size;
  }

  readonly sendBufferSize: number;

  /** Opens the client (starting a connect) and the listener; throws SocketCallError. */
  static open(
    cfg: ChannelConfig,
    ifindex: number,
    now: () => number = performance.now.bind(performance),
  ): TcpTransport {
    const family = channelFamily(cfg);
    // The reference leaves the client's scope id unset; a link-local peer needs it.
    const dest = sockaddr(family, cfg.destination, cfg.port, ifindex);
    const client = TcpTransport.openClient(family, cfg, dest);
    try {
      const server = openReceiver(family, cfg, SOCK_STREAM);
      withSocket(server.fd, (fd) => {
        setIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        bindSocket(fd, sockaddr(family, cfg.address, cfg.port, ifindex));
        listenSocket(fd, 1);
      });
      const headerSize = (family === "ipv4" ? 20 : 40) + 20;
      return new TcpTransport(family, cfg, dest, client, server.fd, headerSize, server.size, now);
    } catch (e) {
      closeSocket(client.fd);
      throw e;
    }
  }

  /** A client socket with its first connect() under way (tcp_client_init). */
  private static openClient(
    family: Family,
    cfg: ChannelConfig,
    dest: Uint8Array,
  ): { fd: number; connected: boolean; size: number } {
    const { fd, size } = openSender(family, cfg, SOCK_STREAM);
    const e = connectSocket(fd, dest);
    if (e !== 0 && e !== EINPROGRESS && e !== ECONNREFUSED) {
      closeSocket(fd);
      throw new SocketCallError(e, "connect");
    }
    return { fd, connected: e === 0, size };
  }

  fds(): number[] {
    return this.peerFd >= 0 ? [this.listenFd, this.peerFd] : [this.listenFd];
  }

  send(data: Uint8Array): boolean {
    if (!this.clientConnected && !this.connect()) return false;
    if (this.unsent !== null) {
      const rest = this.unsent;
      this.unsent = null;
      if (!this.write(rest) || this.unsent !== null) return false;
    }
    return this.write(data);
  }

  /** One rate-limited connect() attempt; true once connected. */
  private connect(): boolean {
    const t = this.now();
    if (t - this.lastConnect < CONNECT_INTERVAL_MS) return false;
    this.lastConnect = t;
    if (this.clientFd < 0) {
      this.reopenClient();
      return this.clientConnected;
    }
    const e = connectSocket(this.clientFd, this.dest);
    if (e === 0 || e === EISCONN) {
      this.clientConnected = true;
      return true;
    }
    // Still in progress is no error; a refusal or anything else is.
    if (e !== EINPROGRESS && e !== EALREADY) this.sent.errors++;
    return false;
  }

  private write(data: Uint8Array): boolean {
    for (;;) {
      const n = Number(libcSocket().sendto(this.clientFd, data, BigInt(data.length), MSG_NOSIGNAL, null, 0));
      if (n >= 0) {
        this.sent.count(n);
        if (n < data.length) this.unsent = data.slice(n);
        return true;
      }
      const e = errno();
      if (e === EINTR) continue;
      this.sent.errors++;
      if (e === EPIPE || e === ECONNRESET) this.reopenClient();
      return false;
    }
  }

  /** The peer went away: a new socket, connecting again (the reference ignores a failure here). */
  private reopenClient(): void {
    closeSocket(this.clientFd);
    this.unsent = null;
    this.clientConnected = false;
    try {
      const client = TcpTransport.openClient(this.family, this.cfg, this.dest);
      this.clientFd = client.fd;
      this.clientConnected = client.connected;
    } catch {
      this.clientFd = -1;
    }
  }

  receive(visit: ReceiveVisitor, limit: number): number {
    if (readyFds([this.listenFd]).length > 0) this.accept();
    let reads = 0;
    while (this.peerFd >= 0 && reads < limit) {
      const space = this.deframer.space();
      const n = Number(libcSocket().recvfrom(this.peerFd, space, BigInt(space.length), 0, null, null));
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e === ENOTCONN) this.dropPeer();
        else if (e !== EAGAIN) this.received.errors++;
        break;
      }
      // The reference counts the end of the connection as a received packet of 0 bytes.
      this.received.count(n);
      if (n === 0) {
        this.dropPeer();
        break;
      }
      reads++;
      this.deframer.push(n, visit);
    }
    return reads;
  }

  /** A connection is waiting: it replaces the current peer, if any (tcp_accept). */
  private accept(): void {
    this.dropPeer();
    const fd = libcSocket().accept4(this.listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) this.peerFd = fd;
  }

  private dropPeer(): void {
    closeSocket(this.peerFd);
    this.peerFd = -1;
    this.deframer.reset();
  }

  connectionStates(): { server: boolean; client: boolean } {
    return { server: this.peerFd >= 0, client: this.clientConnected };
  }

  get sockets(): { client: number; server: number; peer: number } {
    return { client: this.clientFd, server: this.listenFd, peer: this.peerFd };
  }

  close(): void {
    closeSocket(this.clientFd);
    closeSocket(this.listenFd);
    closeSocket(this.peerFd);
    this.clientFd = this.peerFd = -1;
  }
}
