#!/usr/bin/env python3
"""Someone else on a dedicated sync link, for tests/sync_auth_test.ts.

Run inside a test network namespace (`ip netns exec NS python3 intruder.py ...`).
Datagrams are read from stdin, one hex string a line.

  udp SRC DST PORT            send each datagram from SRC (an address of this host) to DST:PORT
  spoof SRC DST PORT IFACE    the same from a raw socket, SRC being any address (the peer's)
  tcp DST PORT                connect to DST:PORT and write the datagrams as one stream
  capture IFACE SRC PORT FILE record the UDP payloads SRC sends to PORT seen on IFACE, one hex
                              line each, in FILE (FILE.ready appears once listening)
"""
import socket
import struct
import sys
import time


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def datagrams():
    for line in sys.stdin:
        line = line.strip()
        if line:
            yield bytes.fromhex(line)


def udp(src, dst, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    for d in datagrams():
        s.sendto(d, (dst, int(port)))
        time.sleep(0.002)


def spoof(src, dst, port, iface):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    saddr, daddr = socket.inet_aton(src), socket.inet_aton(dst)
    for n, d in enumerate(datagrams()):
        sport = 40000 + n % 1000
        ulen = 8 + len(d)
        pseudo = saddr + daddr + struct.pack("!BBH", 0, socket.IPPROTO_UDP, ulen)
        uh = struct.pack("!HHHH", sport, int(port), ulen, 0)
        uc = csum(pseudo + uh + d) or 0xFFFF
        uh = struct.pack("!HHHH", sport, int(port), ulen, uc)
        ih = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, n & 0xFFFF, 0, 64, socket.IPPROTO_UDP, 0, saddr, daddr)
        ih = ih[:10] + struct.pack("!H", csum(ih)) + ih[12:]
        s.sendto(ih + uh + d, (dst, 0))
        time.sleep(0.002)


def tcp(dst, port):
    s = socket.create_connection((dst, int(port)), timeout=5)
    for d in datagrams():
        s.sendall(d)
        time.sleep(0.002)
    time.sleep(0.5)
    s.close()


def capture(iface, src, port, path):
    # ETH_P_ALL: on a bridge port the bridge takes IP frames before protocol taps see them
    ETH_P_ALL = 0x0003
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    want = socket.inet_aton(src)
    f = open(path, "a")
    open(path + ".ready", "w").close()
    while True:
        frame, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        if len(ip) < 20 or ip[9] != socket.IPPROTO_UDP or ip[12:16] != want:
            continue
        ihl = (ip[0] & 0x0F) * 4
        udp_ = ip[ihl:]
        if len(udp_) < 8 or struct.unpack("!H", udp_[2:4])[0] != int(port):
            continue
        ulen = struct.unpack("!H", udp_[4:6])[0]
        f.write(udp_[8:ulen].hex() + "\n")
        f.flush()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"udp": udp, "spoof": spoof, "tcp": tcp, "capture": capture}[cmd](*args)
