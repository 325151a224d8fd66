// UDP unicast channel (udp.c): the server socket is bound to the local
// address and Port and receives; the client socket sends from an ephemeral port
// to the peer's address and the same Port. No check of who sent a datagram.
import {
  SO_NO_CHECK,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_REUSEADDR,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../../../ffi/libc_socket.ts";
import type { ChannelConfig } from "../config/types.ts";
import { DatagramReader, sendDatagram } from "./datagram.ts";
import { type Family, familyNumber, sockaddr } from "./sockaddr.ts";
import {
  bindSocket,
  closeSocket,
  forceBufferSize,
  openSocket,
  setIntOption,
  SocketCallError,
  withSocket,
} from "./socket.ts";
import { TrafficStats } from "./stats.ts";
import type { ReceiveVisitor, Transport } from "./transport.ts";

const EAFNOSUPPORT = 97;

/** The channel's family; the reference calls socket(0, ...) without one, failing with EAFNOSUPPORT. */
export function channelFamily(cfg: ChannelConfig): Family {
  if (cfg.family === null) throw new SocketCallError(EAFNOSUPPORT, "socket");
  return cfg.family;
}

/** Client socket set-up shared by UDP and multicast: checksum switch and send buffer. */
export function openSender(
  family: Family,
  cfg: ChannelConfig,
  type = SOCK_DGRAM,
): { fd: number; size: number } {
  let size = 0;
  const fd = withSocket(openSocket(familyNumber(family), type), (fd) => {
    // `Checksum off` sets SO_NO_CHECK; the reference always writes the option.
    setIntOption(fd, SOL_SOCKET, SO_NO_CHECK, cfg.checksum ? 0 : 1);
    size = forceBufferSize(fd, SO_SNDBUFFORCE, SO_SNDBUF, cfg.sndSocketBuffer);
  });
  return { fd, size };
}

/** Server socket set-up shared by UDP, multicast and TCP: SO_REUSEADDR and receive buffer, not yet bound. */
export function openReceiver(
  family: Family,
  cfg: ChannelConfig,
  type = SOCK_DGRAM,
): { fd: number; size: number } {
  let size = 0;
  const fd = withSocket(openSocket(familyNumber(family), type), (fd) => {
    setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    size = forceBufferSize(fd, SO_RCVBUFFORCE, SO_RCVBUF, cfg.rcvSocketBuffer);
  });
  return { fd, size };
}

export class UdpTransport implements Transport {
  readonly kind = "udp";
  readonly reliable = false;
  readonly sent = new TrafficStats();
  readonly received = new TrafficStats();
  private readonly reader: DatagramReader;

  private constructor(
    private readonly clientFd: number,
    private readonly serverFd: number,
    private readonly dest: Uint8Array,
    readonly headerSize: number,
    readonly sendBufferSize: number,
    readonly receiveBufferSize: number,
  ) {
    this.reader = new DatagramReader(serverFd, this.received);
  }

  /** Opens both sockets; throws SocketCallError. `ifindex` is the IPv6 scope of both ends. */
  static open(cfg: ChannelConfig, ifindex: number): UdpTransport {
    const family = channelFamily(cfg);
    const client = openSender(family, cfg);
    try {
      const dest = sockaddr(family, cfg.destination, cfg.port, ifindex);
      const server = openReceiver(family, cfg);
      withSocket(server.fd, (fd) => bindSocket(fd, sockaddr(family, cfg.address, cfg.port, ifindex)));
      const headerSize = (family === "ipv4" ? 20 : 40) + 8;
      return new UdpTransport(client.fd, server.fd, dest, headerSize, client.size, server.size);
    } catch (e) {
      closeSocket(client.fd);
      throw e;
    }
  }

  fds(): number[] {
    return [this.serverFd];
  }

  send(data: Uint8Array): boolean {
    return sendDatagram(this.clientFd, data, this.dest, this.sent);
  }

  receive(visit: ReceiveVisitor, limit: number): number {
    return this.reader.read(visit, limit);
  }

  connectionStates(): null {
    return null;
  }

  /** The sockets, for tests and diagnostics. */
  get sockets(): { client: number; server: number } {
    return { client: this.clientFd, server: this.serverFd };
  }

  close(): void {
    closeSocket(this.clientFd);
    closeSocket(this.serverFd);
  }
}
