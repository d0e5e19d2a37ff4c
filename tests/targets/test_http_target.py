"""targets/http.py: the http target's config and bytes, and the engine sending them to a real server."""

from __future__ import annotations

import numpy as np
import pytest

from stinger.core.records import Kind
from stinger.errors import TargetError
from stinger.spec import parse_spec
from stinger.targets.base import CARRIERS, NEVER_EXPIRES, PAIRS, REGISTRY, ComposedTarget, Target, build_target
from stinger.targets.http import HttpCarrier, parse_endpoint
from stinger.testing.servers import RefServer

from .conftest import run_engine
from .test_http import header, parse_request


def http_target(**fields) -> ComposedTarget:
    spec = parse_spec({"target": fields, "load": {"rate": 1, "duration": 1}})
    return build_target(spec.target)


def test_plain_over_http_is_the_default_pair_and_http_a_registered_carrier():
    assert REGISTRY["http"] == "plain@http" == REGISTRY["plain"]
    assert CARRIERS["http"] == "stinger.targets.http:HttpCarrier" and PAIRS["plain@http"] == "stinger.targets.http:Config"
    t = http_target(url="http://127.0.0.1:9/inv")
    assert t.config.tag == "plain@http" and isinstance(t, Target) and isinstance(t.carrier, HttpCarrier)
    assert t.request == t.carrier.request   # plain: the carrier's own method, no call added on the build path
    assert not hasattr(t, "connect")   # plain HTTP connects over TCP, the engine's way


def test_urls_are_endpoints_in_order_and_insecure_reaches_them():
    t = http_target(url="https://a:8443/x", urls=["https://b/y?q=1"], insecure=True)
    a, b = t.endpoints()
    assert (a.host, a.port, a.path, a.tls) == ("a", 8443, "/x", True)
    assert (b.host, b.port, b.path) == ("b", 443, "/y?q=1")
    assert not a.verify and not b.verify
    assert parse_endpoint("https://a/").verify


def test_request_bytes_never_expire_and_carry_method_headers_and_content_type():
    t = http_target(url="http://h:81/inv", method="post", headers={"Authorization": "Bearer x"})
    [ep] = t.endpoints()
    raw, expiry = t.request(ep, b'{"x":1}', 123.0, content_type="application/json")
    assert expiry == NEVER_EXPIRES
    p = parse_request(raw)
    assert p["method"] == "POST" and p["url"] == b"/inv" and p["body"] == b'{"x":1}' and p["complete"]
    assert header(p, "host") == ["h:81"] and header(p, "authorization") == ["Bearer x"]
    assert header(p, "content-type") == ["application/json"] and header(p, "content-length") == ["7"]
    # a content type the user set as a header wins over the payload's
    t2 = http_target(url="http://h/", method="POST", headers={"Content-Type": "text/plain"})
    p2 = parse_request(t2.request(t2.endpoints()[0], b"a", 0.0, content_type="application/json")[0])
    assert header(p2, "content-type") == ["text/plain"]


def test_head_requests_are_announced_to_the_engine():
    assert http_target(url="http://h/", method="HEAD").needs().head
    assert not http_target(url="http://h/").needs().head


def test_a_malformed_url_is_a_target_error_when_the_endpoints_are_parsed():
    with pytest.raises(TargetError):
        http_target(url="ftp://h/").endpoints()


def test_engine_sends_the_http_target_s_bytes_to_a_real_server():
    with RefServer("delay", delay_ms=5.0) as server:
        rec = run_engine({"target": {"url": server.url + "/inv", "method": "POST"},
                          "payload": {"body": '{"a": 1}', "content_type": "application/json"},
                          "load": {"rate": 40, "duration": "0.5s", "workers": 1}})
    status, kind = rec.column("status"), rec.column("kind")
    assert len(status) == 20 == rec.total("scheduled")
    assert (status == 200).all() and (kind == Kind.OK).all()
    assert np.min(rec.column("done") - rec.column("sent")) >= 0.005   # the server's own delay
    pool = rec.engine.pools[0][0]
    assert pool.cache[0] is not None and b"POST /inv HTTP/1.1" in pool.cache[0]
    assert rec.total("bytes_out") == 20 * len(pool.cache[0])


def test_a_host_header_given_with_dash_h_is_the_one_sent(tmp_path):
    """KServe's virtual-host routing (issue 15 item 4): `-H 'Host: m.ns.example.com'` to the ingress's
    address must arrive as the one Host header (it was dropped, the server saw 127.0.0.1:PORT)."""
    import socket
    import subprocess
    import sys
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    heads: list[bytes] = []

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            buf = b""
            while len(heads) < 3:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    heads.append(head)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url",
                            f"http://127.0.0.1:{srv.getsockname()[1]}/v1/models/iris:predict",
                            "-H", "Host: sklearn-iris.default.example.com", "--rate", "3", "--duration", "1s",
                            "--workers", "1", "--quiet", "--out", str(tmp_path)], capture_output=True, text=True,
                           timeout=60)
        t.join(10)
    finally:
        srv.close()
    assert p.returncode == 0, p.stderr
    assert len(heads) == 3
    for head in heads:
        hosts = [line for line in head.split(b"\r\n")[1:] if line.lower().startswith(b"host:")]
        assert hosts == [b"Host: sklearn-iris.default.example.com"], head
