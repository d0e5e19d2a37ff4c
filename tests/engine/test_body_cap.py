"""A kept response body is capped (issue 10 item 7): an endless chunked body must not fill
memory; past `load.max_body` the response is `body_too_large` and the connection closed."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from stinger.orchestrate.run import run_spec
from stinger.spec import parse_spec

_CHUNK = b"x" * 65536
_FRAME = b"%x\r\n" % len(_CHUNK) + _CHUNK + b"\r\n"


def _serve_endless(conn: socket.socket, stop: threading.Event) -> None:
    with conn:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            deadline = time.monotonic() + 10   # bounded even if nobody closes
            while not stop.is_set() and time.monotonic() < deadline:
                conn.sendall(_FRAME)
        except OSError:
            pass


@pytest.fixture
def endless_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=_serve_endless, args=(conn, stop), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/"
    stop.set()
    t.join(5)
    srv.close()


def test_endless_chunked_body_with_a_check_is_body_too_large(endless_server):
    data = {"target": {"url": endless_server}, "check": {"regex": "never"},
            "load": {"workers": 1, "rate": 10, "duration": "1s", "timeout": "20s", "max_body": "1MB"}}
    t = time.monotonic()
    report = run_spec(parse_spec(data), quiet=True, write=False)
    elapsed = time.monotonic() - t
    v = report.summary["variants"]["default"]
    r = v["requests"]
    assert r["scheduled"] == 10 and r["unaccounted"] == 0 and r["in_flight"] == 0, r
    assert v["errors"]["body_too_large"] == 10, v["errors"]
    assert elapsed < 15   # not the 20 s timeout: the cap ends each response


def _max_body(load: dict) -> int:
    return parse_spec({"target": {"url": "http://127.0.0.1:1/"}, "load": {"rate": 1, "duration": "1s", **load}}).load.max_body


def test_max_body_accepts_sizes():
    assert _max_body({"max_body": "16MB"}) == 16_000_000
    assert _max_body({"max_body": "512KiB"}) == 512 * 1024
    assert _max_body({"max_body": 1000}) == 1000
    assert _max_body({}) == 16 * 1024 * 1024
    with pytest.raises(Exception, match="size"):
        _max_body({"max_body": "lots"})
