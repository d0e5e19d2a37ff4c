"""engine/http.py against a raw-socket server: interim, unsolicited and close-delimited responses.

Issue 10 items 3 and 4: a `100 Continue`/`103 Early Hints` before the final
response, a duplicated response, or an unsolicited `408` on an idle keep-alive
connection must never count as a request; a body delimited by the close of the
connection (HTTP/1.0 without Content-Length, `Connection: close` without a
length) is a complete response, not a reset. The engine runs in this process
(`run_engine`), the server in a thread of it, both on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from stinger.core.records import Kind

from ..targets.conftest import run_engine

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
ANSWERS = {
    # mode: (bytes sent per request, close after answering)
    "continue": (b"HTTP/1.1 100 Continue\r\n\r\n" + OK, False),
    "early-hints": (b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + OK, False),
    "duplicate": (OK + OK, False),
    "http10-no-length": (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body", True),
    "close-no-length": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited body", True),
    "truncated": (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial", True),
}


class RawServer:
    """Answers each request on a connection as its mode says; `late-408` answers OK, then
    20 ms later sends an unsolicited 408 and closes (as servers do to idle keep-alive ones)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    self.requests += 1
                    try:
                        if self.mode == "late-408":
                            conn.sendall(OK)
                            time.sleep(0.02)
                            conn.sendall(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                                         b"Connection: close\r\n\r\n")
                            return
                        answer, close = ANSWERS[self.mode]
                        conn.sendall(answer)
                    except OSError:
                        return
                    if close:
                        return

    def close(self) -> None:
        self.sock.close()


def drive(mode: str, rate: float = 10, duration: str = "1s"):
    server = RawServer(mode)
    try:
        rec = run_engine({"target": {"url": f"http://127.0.0.1:{server.port}/"}, "server_time": None,
                          "load": {"rate": rate, "duration": duration, "workers": 1, "drain": "1s",
                                   "timeout": "2s"}})
    finally:
        server.close()
    return rec, server


@pytest.mark.parametrize("mode", ["continue", "early-hints"])
def test_interim_responses_are_skipped(mode):
    rec, server = drive(mode)
    kind, status = rec.column("kind"), rec.column("status")
    assert rec.total("scheduled") == 10 == len(kind) == server.requests
    assert (kind == Kind.OK).all() and (status == 200).all()


@pytest.mark.parametrize("mode", ["duplicate", "late-408"])
def test_a_response_no_request_waits_for_is_a_protocol_error_not_a_request(mode):
    # 200 ms between requests: the late 408 (20 ms after each answer) comes while the connection is idle
    rec, _server = drive(mode, rate=5, duration="2s")
    kind, status = rec.column("kind"), rec.column("status")
    assert rec.total("scheduled") == 10 == len(kind)          # one result per request, never two
    assert np.count_nonzero(kind == Kind.OK) == 10 and not np.isin(status, [408]).any()
    # each extra response counted as what it is (the last 408 may come after the run has ended)
    assert rec.total("unsolicited") in ((10,) if mode == "duplicate" else (9, 10))


@pytest.mark.parametrize("mode", ["http10-no-length", "close-no-length"])
def test_a_close_delimited_body_completes_the_response(mode):
    rec, server = drive(mode)
    kind, status = rec.column("kind"), rec.column("status")
    assert rec.total("scheduled") == 10 == len(kind) == server.requests
    assert (kind == Kind.OK).all() and (status == 200).all()
    assert rec.column("nbytes").min() > len(b"close-delimited body")


def test_a_body_cut_short_of_its_length_is_still_a_reset():
    rec, _ = drive("truncated")
    kind = rec.column("kind")
    assert len(kind) == 10 and (kind == Kind.RESET).all()
