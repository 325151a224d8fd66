#!/usr/bin/env python3
"""Traffic for the failover demo: an echo server and paced echo streams, and a
tiny FTP server with a client that opens the data connection on command.

Every report is one JSON object per line on stdout, so the orchestrator can
follow it while it runs. Only the standard library is used.
"""
import argparse
import ftplib
import json
import os
import selectors
import socket
import sys
import threading
import time

TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- echo server


def echo_server(args):
    """Echoes every byte back, on any number of connections."""
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", args.port))
    lsock.listen(256)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, None)
    emit({"event": "listening", "port": args.port})
    pending = {}
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is lsock:
                conn, _ = lsock.accept()
                conn.setblocking(False)
                pending[conn] = b""
                sel.register(conn, selectors.EVENT_READ, None)
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(sock)
                pending.pop(sock, None)
                sock.close()
                continue
            out = pending[sock] + data
            try:
                sent = sock.send(out)
            except BlockingIOError:
                sent = 0
            except OSError:
                sent = len(out)
            # Keep what the socket would not take; a stalled peer stops the echo, not the server.
            pending[sock] = out[sent:][-1 << 20:]


# ---------------------------------------------------------------- echo streams


class Stream:
    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.tx = 0
        self.rx = 0
        self.error = None
        self.last_rx = time.time()
        self.max_stall = 0.0
        self.stall_from = None
        self.backlog = b""


def open_stream(args, index):
    sock = socket.create_connection((args.host, args.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # A connection nobody acknowledges for this long is aborted by the kernel (ETIMEDOUT).
    sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, int(args.user_timeout * 1000))
    sock.setblocking(False)
    return Stream(index, sock)


def error_name(exc):
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, TimeoutError) or getattr(exc, "errno", None) == 110:
        return "timeout"
    return type(exc).__name__


def streams(args):
    """Opens N echo streams, each sending `chunk` bytes every `interval` seconds;
    reports received bytes every `report` seconds until stdin says stop (or closes)."""
    chunk = b"x" * args.chunk
    opened = [open_stream(args, i) for i in range(args.count)]
    sel = selectors.DefaultSelector()
    for s in opened:
        sel.register(s.sock, selectors.EVENT_READ, s)
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    emit({"event": "connected", "count": len(opened), "local": [s.sock.getsockname()[1] for s in opened]})
    next_send = time.time()
    next_report = time.time() + args.report
    stopping = False

    def fail(s, why):
        if s.error is None:
            s.error = why
            s.max_stall = max(s.max_stall, time.time() - s.last_rx)
            emit({"event": "stream-error", "stream": s.index, "error": why, "t": time.time()})
        try:
            sel.unregister(s.sock)
        except (KeyError, ValueError):
            pass
        s.sock.close()

    while not stopping:
        now = time.time()
        timeout = max(0.0, min(next_send, next_report) - now)
        for key, _ in sel.select(timeout):
            s = key.data
            if s is None:
                # Any line on stdin (or its end) stops the streams.
                sys.stdin.readline()
                stopping = True
                continue
            try:
                data = s.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                fail(s, error_name(e))
                continue
            if not data:
                fail(s, "closed")
                continue
            t = time.time()
            s.max_stall = max(s.max_stall, t - s.last_rx)
            s.last_rx = t
            s.rx += len(data)
        now = time.time()
        if now >= next_send:
            next_send = now + args.interval
            for s in opened:
                if s.error is not None:
                    continue
                out = s.backlog + chunk
                try:
                    n = s.sock.send(out)
                except BlockingIOError:
                    n = 0
                except OSError as e:
                    fail(s, error_name(e))
                    continue
                s.tx += n
                s.backlog = out[n:][-(1 << 20):]
        if now >= next_report:
            next_report = now + args.report
            emit({"event": "tick", "t": now, "rx": [s.rx for s in opened]})
    now = time.time()
    result = []
    for s in opened:
        stall = max(s.max_stall, now - s.last_rx) if s.error is None else s.max_stall
        result.append({"rx": s.rx, "tx": s.tx, "error": s.error, "max_stall": round(stall, 3)})
        if s.error is None:
            s.sock.close()
    emit({"event": "final", "t": now, "streams": result})


# ---------------------------------------------------------------- FTP


def ftp_server(args):
    """A minimal passive-mode FTP server: USER/PASS/TYPE/PWD/SYST/PASV/RETR/QUIT."""
    payload = bytes((i * 7) & 0xFF for i in range(args.size))
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", args.port))
    lsock.listen(16)
    emit({"event": "listening", "port": args.port})
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=ftp_session, args=(conn, payload), daemon=True).start()


def ftp_session(conn, payload):
    f = conn.makefile("rb")

    def reply(text):
        conn.sendall((text + "\r\n").encode())

    reply("220 ctkit demo FTP server")
    data_listener = None
    try:
        for raw in f:
            line = raw.decode(errors="replace").strip()
            cmd, _, arg = line.partition(" ")
            cmd = cmd.upper()
            if cmd == "USER":
                reply("331 Password required")
            elif cmd == "PASS":
                reply("230 Logged in")
            elif cmd in ("TYPE", "MODE", "STRU"):
                reply("200 OK")
            elif cmd == "SYST":
                reply("215 UNIX Type: L8")
            elif cmd == "PWD":
                reply('257 "/"')
            elif cmd == "PASV":
                if data_listener:
                    data_listener.close()
                data_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                data_listener.bind((conn.getsockname()[0], 0))
                data_listener.listen(1)
                host, port = data_listener.getsockname()
                emit({"event": "pasv", "port": port})
                reply("227 Entering Passive Mode (%s,%d,%d)" % (host.replace(".", ","), port >> 8, port & 0xFF))
            elif cmd == "RETR":
                if not data_listener:
                    reply("425 Use PASV first")
                    continue
                reply("150 Opening BINARY mode data connection (%d bytes)" % len(payload))
                data_listener.settimeout(60)
                try:
                    dconn, peer = data_listener.accept()
                except socket.timeout:
                    reply("425 No data connection")
                    continue
                finally:
                    data_listener.close()
                    data_listener = None
                emit({"event": "data-accepted", "peer": "%s:%d" % peer})
                dconn.sendall(payload)
                dconn.close()
                reply("226 Transfer complete")
            elif cmd == "QUIT":
                reply("221 Bye")
                break
            else:
                reply("502 Not implemented")
    except OSError:
        pass
    finally:
        conn.close()


def ftp_client(args):
    """Logs in and asks for passive mode, then waits for `go` on stdin before it
    opens the data connection to the announced port and downloads the file."""
    ftp = ftplib.FTP()
    ftp.connect(args.host, 21, timeout=10)
    ftp.login("demo", "demo")
    ftp.voidcmd("TYPE I")
    host, port = ftp.makepasv()
    emit({"event": "pasv", "host": host, "port": port, "local": ftp.sock.getsockname()[1]})
    sys.stdin.readline()
    t0 = time.time()
    try:
        data = socket.create_connection((host, port), timeout=args.connect_timeout)
    except OSError as e:
        why = "timeout" if isinstance(e, socket.timeout) else error_name(e)
        emit({"event": "error", "stage": "data-connect", "error": why, "t": time.time()})
        return
    emit({"event": "data-connected", "t": time.time(), "ms": round((time.time() - t0) * 1000, 1)})
    got = 0
    try:
        ftp.sock.settimeout(args.connect_timeout)
        ftp.putcmd("RETR demo.bin")
        resp = ftp.getresp()
        data.settimeout(args.connect_timeout)
        while True:
            b = data.recv(65536)
            if not b:
                break
            got += len(b)
        data.close()
        resp = ftp.voidresp()
        emit({"event": "done", "bytes": got, "reply": resp, "t": time.time()})
        ftp.quit()
    except (OSError, ftplib.Error) as e:
        emit({"event": "error", "stage": "transfer", "error": str(e) or error_name(e), "bytes": got, "t": time.time()})


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("echo-server")
    s.add_argument("--port", type=int, default=5001)
    s = sub.add_parser("streams")
    s.add_argument("--host", required=True)
    s.add_argument("--port", type=int, default=5001)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--chunk", type=int, default=1024)
    s.add_argument("--interval", type=float, default=0.01)
    s.add_argument("--report", type=float, default=0.25)
    s.add_argument("--user-timeout", type=float, default=15)
    s = sub.add_parser("ftp-server")
    s.add_argument("--port", type=int, default=21)
    s.add_argument("--size", type=int, default=1 << 20)
    s = sub.add_parser("ftp-client")
    s.add_argument("--host", required=True)
    s.add_argument("--connect-timeout", type=float, default=8)
    args = p.parse_args()
    {"echo-server": echo_server, "streams": streams, "ftp-server": ftp_server, "ftp-client": ftp_client}[args.cmd](args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        os._exit(130)
