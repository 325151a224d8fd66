#!/usr/bin/env python3
"""Deterministic loopback traffic for the conntrack differential tests.

Run inside a test network namespace (`ip netns exec NS python3 traffic.py ...`).
Every flow uses fixed addresses and ports so that two namespaces fed the same
commands end up with identical conntrack tables.

  tcp SRC SPORT DST DPORT [LADDR LPORT]  (server on LADDR:LPORT, for DNAT) handshake, one byte each way, close (-> TIME_WAIT)
  udp SRC SPORT DST DPORT [reply] one datagram (optionally answered -> SEEN_REPLY)
  ping SRC DST ID                ICMP echo request with a fixed id (kernel answers)
  ping6 SRC DST ID               ICMPv6 echo request with a fixed id
  ftp SRC SPORT DST DATAPORT     control connection to DST:21 answering PASV with DATAPORT
  raw SRC DST PROTO              one raw IP datagram of protocol PROTO (no reply)
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


def family(addr: str) -> int:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def tcp(src, sport, dst, dport, laddr=None, lport=None):
    fam = family(dst)
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((laddr or dst, int(lport or dport)))
    srv.listen()
    cli = socket.socket(fam, socket.SOCK_STREAM)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    cli.bind((src, int(sport)))
    cli.connect((dst, int(dport)))
    acc, _ = srv.accept()
    cli.sendall(b"x")
    acc.recv(1)
    acc.sendall(b"y")
    cli.recv(1)
    cli.close()
    acc.recv(1)
    acc.close()
    srv.close()
    time.sleep(0.05)


def udp(src, sport, dst, dport, reply=None):
    fam = family(dst)
    srv = socket.socket(fam, socket.SOCK_DGRAM)
    if reply:
        srv.bind((dst, int(dport)))
    cli = socket.socket(fam, socket.SOCK_DGRAM)
    cli.bind((src, int(sport)))
    cli.sendto(b"x", (dst, int(dport)))
    if reply:
        data, peer = srv.recvfrom(10)
        srv.sendto(b"y", peer)
        cli.recv(10)
    time.sleep(0.05)


def ping(src, dst, ident, v6=False):
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.bind((src, 0))
        # the kernel computes the ICMPv6 checksum for raw ICMPv6 sockets
        pkt = struct.pack("!BBHHH", 128, 0, 0, int(ident), 1) + b"ctkit"
        s.sendto(pkt, (dst, 0))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.bind((src, 0))
        hdr = struct.pack("!BBHHH", 8, 0, 0, int(ident), 1) + b"ctkit"
        pkt = hdr[:2] + struct.pack("!H", csum(hdr)) + hdr[4:]
        s.sendto(pkt, (dst, 0))
    s.settimeout(2)
    try:
        s.recv(200)
    except OSError:
        pass
    time.sleep(0.05)


def ftp(src, sport, dst, dataport):
    port = int(dataport)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((dst, 21))
    srv.listen()
    cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    cli.bind((src, int(sport)))
    cli.connect((dst, 21))
    acc, _ = srv.accept()
    acc.sendall(b"220 ctkit test\r\n")
    cli.recv(100)
    cli.sendall(b"PASV\r\n")
    acc.recv(100)
    h = dst.replace(".", ",")
    acc.sendall(b"227 Entering Passive Mode (%s,%d,%d).\r\n" % (h.encode(), port >> 8, port & 255))
    cli.recv(100)
    time.sleep(0.05)
    cli.close()
    acc.close()
    srv.close()
    time.sleep(0.05)


def raw(src, dst, proto):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, int(proto))
    s.bind((src, 0))
    s.sendto(b"ctkit-raw", (dst, 0))
    time.sleep(0.05)


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "tcp":
        tcp(*args)
    elif cmd == "udp":
        udp(*args)
    elif cmd == "ping":
        ping(*args)
    elif cmd == "ping6":
        ping(*args, v6=True)
    elif cmd == "ftp":
        ftp(*args)
    elif cmd == "raw":
        raw(*args)
    else:
        sys.exit("unknown traffic kind " + cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
