"""The fault server (`stinger.testing.faults`): each mode fails as documented and counts it."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys

import pytest

from stinger.testing.faults import MODES, FaultServer


def _get(port: int, host: str = "127.0.0.1", n: int = 1) -> list[tuple[int, bytes]]:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    out = []
    for _ in range(n):
        conn.request("GET", "/")
        r = conn.getresponse()
        out.append((r.status, r.read()))
    conn.close()
    return out


def test_ok_and_counts_on_stop():
    with FaultServer("ok") as s:
        assert _get(s.port, n=3) == [(200, b"ok")] * 3
    assert s.counts == {"mode": "ok", "requests": 3, "extra": 0, "status": {"200": 3}}


def test_burst5xx_answers_503_in_bursts_of_ten_and_counts_them():
    with FaultServer("burst5xx") as s:
        statuses = [st for st, _ in _get(s.port, n=25)]
    assert statuses == [200] * 10 + [503] * 10 + [200] * 5
    assert s.counts["status"] == {"200": 15, "503": 10}


@pytest.mark.parametrize("mode", ["continue", "http10-no-length", "close-no-length", "http10-split-head"])
def test_modes_a_client_reads_as_one_good_answer(mode):
    with FaultServer(mode) as s:
        [(status, body)] = _get(s.port)
    assert status == 200 and body in (b"ok", b"close-delimited body")
    assert s.counts["requests"] == 1 and s.counts["status"] == {"200": 1}


def _head_of(port: int, limit: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data and len(data) < limit:
            data += c.recv(1 << 20)
    return data


def test_huge_and_endless_headers():
    from stinger.testing.faults import HUGE_HEADER

    with FaultServer("huge-header") as s:
        head = _head_of(s.port, 2 * HUGE_HEADER)
    assert head.index(b"\r\n\r\n") > HUGE_HEADER and s.counts["status"] == {"200": 1}
    with FaultServer("endless-header") as s:
        head = _head_of(s.port, 4 << 20)
    assert len(head) >= 4 << 20 and b"\r\n\r\n" not in head


def test_early_hints_come_before_the_answer():
    with FaultServer("early-hints") as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b"ok"):
                data += c.recv(65536)
    assert data.startswith(b"HTTP/1.1 103 Early Hints\r\n") and b"HTTP/1.1 200 OK" in data


def test_duplicate_and_late_408_send_a_response_nobody_asked_for():
    for mode, extra_status in (("duplicate", b"HTTP/1.1 200"), ("late-408", b"HTTP/1.1 408")):
        with FaultServer(mode) as s:
            with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while data.count(b"HTTP/1.1") < 2:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        assert data.count(b"HTTP/1.1") == 2 and data.rindex(extra_status) > 0, (mode, data)
        assert s.counts["extra"] == 1


def test_reset_and_garbage_and_stall():
    with FaultServer("reset") as s:
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            _get(s.port)
    with FaultServer("garbage") as s:
        with pytest.raises(http.client.HTTPException):
            _get(s.port)
    with FaultServer("stall") as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=0.3) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(TimeoutError):
                c.recv(10)
    assert s.counts["requests"] == 1 and s.counts["status"] == {}


def test_ipv6_when_the_machine_has_it():
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with FaultServer("ok", ipv6=True) as s:
        assert s.url.startswith("http://[::1]:")
        assert _get(s.port, host="::1") == [(200, b"ok")]


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        FaultServer("nope")
    assert "endless" in MODES


def test_unsolicited_responses_reach_summary_json_and_the_terminal(tmp_path):
    # a duplicated response is the endpoint's protocol error: counted as `unsolicited`
    # (as many as the server sent), never as a request, and said so where a user looks
    with FaultServer("duplicate") as s:
        r = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", s.url, "--rate", "20",
                            "--duration", "1s", "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    [run_dir] = list(tmp_path.iterdir())
    v = json.loads((run_dir / "summary.json").read_text())["variants"]["default"]
    assert v["requests"]["scheduled"] == v["requests"]["ok"] == 20 and v["requests"]["unaccounted"] == 0
    assert v["unsolicited"] == s.counts["extra"] == 20
    assert "20 responses arrived with no request waiting" in " ".join((r.stdout + r.stderr).split())
