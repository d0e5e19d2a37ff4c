"""A fault server: an HTTP endpoint that fails in one known way, and counts what it did.

Ground truth for how stinger classifies a failing endpoint (issue 10's fault
table, `bench/faults.py`). One mode per process, on 127.0.0.1 (or ``::1`` with
``--ipv6``), optionally behind TLS with a self-signed certificate:

==================  ============================================================
ok                  200 with a Content-Length (the control)
reset               reads the request, closes with a TCP RST (SO_LINGER 0)
stall               reads the request, never answers
drip                sends the head, then one body byte every 100 ms (64 bytes)
garbage             answers bytes that are not HTTP
burst5xx            bursts of 10: requests 11-20, 31-40, ... get 503
continue            ``100 Continue`` then the 200
early-hints         ``103 Early Hints`` then the 200
duplicate           every answer twice (the second: no request waits for it)
late-408            the 200, then 20 ms later an unsolicited 408 and a close
http10-no-length    HTTP/1.0, no Content-Length, body ends at the close
close-no-length     HTTP/1.1 ``Connection: close``, no length, body ends at the close
endless             a chunked body that never ends (bounded: 10 s)
huge-header         a 200 whose head holds a 10 MB header, then a 2-byte body
endless-header      a head that never ends: one header value, 64 KiB at a time (bounded: 10 s)
http10-split-head   HTTP/1.0, no length: the head in two writes 50 ms apart, the body, the close
==================  ============================================================

It counts requests read, responses by status, and extra responses no request
asked for, and prints them as one ``COUNTS {json}`` line when stopped (SIGTERM
or SIGINT). Run: ``python -m stinger.testing.faults MODE [--port 0] [--ipv6]
[--cert C --key K]``; it prints ``listening on http://HOST:PORT`` once ready.
From Python use `FaultServer` (a subprocess, stopped by its PID).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

__all__ = ["MODES", "FaultServer", "main"]

MODES = ("ok", "reset", "stall", "drip", "garbage", "burst5xx", "continue", "early-hints", "duplicate",
         "late-408", "http10-no-length", "close-no-length", "endless", "huge-header", "endless-header",
         "http10-split-head")
HUGE_HEADER = 10 * 1024 * 1024
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_READY = "listening on "


class _State:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.lock = threading.Lock()
        self.requests = 0
        self.status: Counter[int] = Counter()
        self.extra = 0
        self.stop = threading.Event()

    def count(self, status: int | None = None, extra: int = 0) -> int:
        with self.lock:
            if status is None:
                self.requests += 1
                return self.requests
            self.status[status] += 1
            self.extra += extra
            return 0

    def report(self) -> dict:
        with self.lock:
            return {"mode": self.mode, "requests": self.requests, "extra": self.extra,
                    "status": {str(k): v for k, v in sorted(self.status.items())}}


def _answer(conn: socket.socket, st: _State) -> bool:
    """Answer one request as the mode says; False: the connection is done."""
    mode = st.mode
    k = st.count()
    if mode == "reset":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    if mode == "stall":
        while not st.stop.is_set() and conn.recv(65536):
            pass
        return False
    if mode == "drip":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n")
        for _ in range(64):
            if st.stop.wait(0.1):
                return False
            conn.sendall(b"x")
        st.count(200)
        return True
    if mode == "garbage":
        conn.sendall(b"\x00\x01 THIS IS NOT HTTP AT ALL \xff\xfe\r\n\r\n")
        st.stop.wait(0.2)
        return False
    if mode == "burst5xx":
        if (k - 1) // 10 % 2 == 1:
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
            st.count(503)
        else:
            conn.sendall(OK)
            st.count(200)
        return True
    if mode in ("continue", "early-hints"):
        interim = (b"HTTP/1.1 100 Continue\r\n\r\n" if mode == "continue"
                   else b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        conn.sendall(interim + OK)
        st.count(200)
        return True
    if mode == "duplicate":
        conn.sendall(OK + OK)
        st.count(200)
        st.count(200, extra=1)
        return True
    if mode == "late-408":
        conn.sendall(OK)
        st.count(200)
        time.sleep(0.02)
        conn.sendall(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        st.count(408, extra=1)
        return False
    if mode == "http10-no-length":
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body")
        st.count(200)
        return False
    if mode == "close-no-length":
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited body")
        st.count(200)
        return False
    if mode == "endless":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        frame = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        deadline = time.monotonic() + 10
        while not st.stop.is_set() and time.monotonic() < deadline:
            conn.sendall(frame)
        return False
    if mode == "huge-header":
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * HUGE_HEADER + b"\r\nContent-Length: 2\r\n\r\nok")
        st.count(200)
        return True
    if mode == "endless-header":
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        piece = b"a" * 0x10000
        deadline = time.monotonic() + 10
        while not st.stop.is_set() and time.monotonic() < deadline:
            conn.sendall(piece)
        return False
    if mode == "http10-split-head":
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-")
        time.sleep(0.05)   # the client reads the first part alone
        conn.sendall(b"Type: text/plain\r\n\r\n")
        time.sleep(0.05)
        conn.sendall(b"close-delimited body")
        st.count(200)
        return False
    conn.sendall(OK)
    st.count(200)
    return True


def _serve(conn: socket.socket, st: _State) -> None:
    buf = b""
    with conn:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not st.stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:   # requests without bodies (stinger's GETs)
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    if not _answer(conn, st):
                        return
        except (OSError, ValueError):
            return


def serve(mode: str, *, port: int = 0, ipv6: bool = False, cert: str | None = None, key: str | None = None,
          parent_pid: int | None = None) -> None:
    st = _State(mode)
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    host = "::1" if ipv6 else "127.0.0.1"
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1024)
    srv.settimeout(0.2)
    ctx = None
    if cert:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: st.stop.set())
    shown = f"[{host}]" if ipv6 else host
    print(f"{_READY}{'https' if ctx else 'http'}://{shown}:{srv.getsockname()[1]}", flush=True)
    while not st.stop.is_set():
        if parent_pid is not None and os.getppid() != parent_pid:
            break
        try:
            conn, _ = srv.accept()
        except TimeoutError:
            continue
        except OSError:
            break
        conn.settimeout(None)
        if ctx is not None:
            try:
                conn.settimeout(5)
                conn = ctx.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            except OSError:   # the client refused our certificate: what the tls mode is for
                conn.close()
                continue
        threading.Thread(target=_serve, args=(conn, st), daemon=True).start()
    st.stop.set()
    srv.close()
    print("COUNTS " + json.dumps(st.report()), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m stinger.testing.faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=MODES)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ipv6", action="store_true", help="listen on ::1 instead of 127.0.0.1")
    ap.add_argument("--cert", help="serve TLS with this certificate (PEM)")
    ap.add_argument("--key", help="the certificate's key (PEM)")
    ap.add_argument("--parent-pid", type=int, default=None)
    a = ap.parse_args(argv)
    serve(a.mode, port=a.port, ipv6=a.ipv6, cert=a.cert, key=a.key, parent_pid=a.parent_pid)


def self_signed(directory: str) -> tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1 (needs `cryptography`): (cert path, key path)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


class FaultServer:
    """``with FaultServer("reset") as s: ... s.url ...``; `stop()` returns the server's counts
    (None when it was killed outright: `kill()`)."""

    def __init__(self, mode: str, *, port: int = 0, ipv6: bool = False, cert: str | None = None,
                 key: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.mode, self.port, self.ipv6, self.cert, self.key = mode, port, ipv6, cert, key
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.counts: dict | None = None

    def start(self) -> FaultServer:
        cmd = [sys.executable, "-m", "stinger.testing.faults", self.mode, "--port", str(self.port),
               "--parent-pid", str(os.getpid())]
        if self.ipv6:
            cmd.append("--ipv6")
        if self.cert:
            cmd += ["--cert", self.cert, "--key", str(self.key)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith(_READY):
            self.kill()
            raise RuntimeError(f"fault server {self.mode} did not start: {line!r}")
        self.url = line[len(_READY):].strip() + "/"
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])
        return self

    def stop(self, timeout: float = 10.0) -> dict | None:
        proc = self.proc
        if proc is None:
            return self.counts
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=timeout)
        self.proc = None
        for line in (out or "").splitlines():
            if line.startswith("COUNTS "):
                self.counts = json.loads(line[len("COUNTS "):])
        return self.counts

    def kill(self) -> None:
        """SIGKILL (a crash): no counts."""
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
            self.proc = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


if __name__ == "__main__":
    main()
