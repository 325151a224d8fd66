// Multicast channel (mcast.c): the server socket joins `IPv4_address` (the
// group) on the interface given by `IPv4_interface` (IPv6: the index of
// `Interface`) and receives on port `Group`; the client sends to the group with
// loopback off, leaving from that interface. TTL/hops stay at the kernel's 1.
import {
  IP_ADD_MEMBERSHIP,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_JOIN_GROUP,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
} from "../../../ffi/libc_socket.ts";
import type { ChannelConfig } from "../config/types.ts";
import { DatagramReader, sendDatagram } from "./datagram.ts";
import { addressBytes, sockaddr } from "./sockaddr.ts";
import { bindSocket, closeSocket, setIntOption, setOption, withSocket } from "./socket.ts";
import { TrafficStats } from "./stats.ts";
import type { ReceiveVisitor, Transport } from "./transport.ts";
import { channelFamily, openReceiver, openSender } from "./udp.ts";

export class MulticastTransport implements Transport {
  readonly kind = "multicast";
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

  /** Opens both sockets; throws SocketCallError. */
  static open(cfg: ChannelConfig, ifindex: number): MulticastTransport {
    const family = channelFamily(cfg);
    const v4 = family === "ipv4";
    const group = addressBytes(family, cfg.address);
    const client = openSender(family, cfg);
    try {
      withSocket(client.fd, (fd) => {
        if (v4) {
          setIntOption(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
          setOption(fd, IPPROTO_IP, IP_MULTICAST_IF, addressBytes("ipv4", cfg.ipv4Interface));
        } else {
          setIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
          setIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex);
        }
      });
      const server = openReceiver(family, cfg);
      withSocket(server.fd, (fd) => {
        // Bound to the group, not the wildcard (upstream fix after 1.4.7, netfilter bug 1819):
        // unicast datagrams and other groups on this port are not sync traffic.
        bindSocket(fd, sockaddr(family, cfg.address, cfg.port, ifindex));
        if (v4) {
          const mreq = new Uint8Array(8);
          mreq.set(group, 0);
          mreq.set(addressBytes("ipv4", cfg.ipv4Interface), 4);
          setOption(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq);
        } else {
          const mreq = new Uint8Array(20);
          mreq.set(group, 0);
          new DataView(mreq.buffer).setUint32(16, ifindex, true);
          setOption(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq);
        }
      });
      const dest = sockaddr(family, cfg.address, cfg.port);
      const headerSize = (v4 ? 20 : 40) + 8;
      return new MulticastTransport(client.fd, server.fd, dest, headerSize, client.size, server.size);
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

  get sockets(): { client: number; server: number } {
    return { client: this.clientFd, server: this.serverFd };
  }

  close(): void {
    closeSocket(this.clientFd);
    closeSocket(this.serverFd);
  }
}
