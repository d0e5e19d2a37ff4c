"""targets/http.py: URL parsing and the pre-built request bytes (no network)."""

from __future__ import annotations

import httptools
import pytest

from stinger.errors import TargetError, UsageError
from stinger.targets.base import Endpoint
from stinger.targets.http import RequestSpec, build_head, build_request
from stinger.targets.http import parse_endpoint as parse_target


# ----------------------------------------------------------------- parse_target
@pytest.mark.parametrize(
    "url, scheme, host, port, path",
    [
        ("http://127.0.0.1:8080/invocations", "http", "127.0.0.1", 8080, "/invocations"),
        ("http://example.com", "http", "example.com", 80, "/"),
        ("https://example.com", "https", "example.com", 443, "/"),
        ("https://example.com:8443/v1/models/m:predict", "https", "example.com", 8443, "/v1/models/m:predict"),
        ("http://h/a/b?x=1&y=two", "http", "h", 80, "/a/b?x=1&y=two"),
        ("http://h?q=1", "http", "h", 80, "/?q=1"),
        ("http://[::1]:9000/p", "http", "::1", 9000, "/p"),
        ("http://[::1]/", "http", "::1", 80, "/"),
        ("  http://localhost:81/x  ", "http", "localhost", 81, "/x"),
        ("HTTP://EXAMPLE.com/Path", "http", "example.com", 80, "/Path"),
        ("http://h/p#fragment", "http", "h", 80, "/p"),
    ],
)
def test_parse_target_good(url, scheme, host, port, path):
    t = parse_target(url)
    assert isinstance(t, Endpoint)
    assert (t.scheme, t.host, t.port, t.path) == (scheme, host, port, path)
    assert t.tls == (scheme == "https")
    assert t.url == url.strip()


@pytest.mark.parametrize(
    "url, host_header",
    [
        ("http://h/", "h"),
        ("http://h:80/", "h"),
        ("http://h:8080/", "h:8080"),
        ("https://h:443/", "h"),
        ("https://h:80/", "h:80"),
        ("http://[::1]/", "[::1]"),
        ("http://[::1]:8080/", "[::1]:8080"),
    ],
)
def test_host_header(url, host_header):
    assert parse_target(url).host_header == host_header


@pytest.mark.parametrize(
    "url, loopback",
    [("http://127.0.0.1/", True), ("http://127.1.2.3/", True), ("http://localhost/", True),
     ("http://[::1]/", True), ("http://10.0.0.1/", False), ("http://example.com/", False)],
)
def test_is_loopback(url, loopback):
    assert parse_target(url).is_loopback is loopback


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("notaurl", "http://"),
        ("127.0.0.1:8080/x", "http://"),
        ("ftp://example.com/file", "http://"),
        ("file:///etc/passwd", "http://"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://h:99999/", "malformed"),
        ("http://h:port/", "malformed"),
        ("http://[::1/", "malformed"),
    ],
)
def test_parse_target_malformed_is_one_line_target_error(url, fragment):
    with pytest.raises(TargetError) as info:
        parse_target(url)
    msg = str(info.value)
    assert fragment in msg
    assert "\n" not in msg and msg.strip() == msg
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


def test_parse_target_rejects_non_string():
    with pytest.raises(TargetError):
        parse_target(None)  # type: ignore[arg-type]


# ------------------------------------------------------------- request bytes
def parse_request(raw: bytes) -> dict:
    """Parse bytes as an HTTP/1.1 request with httptools: what a server would see."""
    out: dict = {"headers": [], "body": b"", "complete": False}

    class P:
        def on_url(self, url: bytes) -> None:
            out["url"] = url

        def on_header(self, name: bytes, value: bytes) -> None:
            out["headers"].append((name.decode("latin-1"), value.decode("latin-1")))

        def on_body(self, body: bytes) -> None:
            out["body"] += body

        def on_message_complete(self) -> None:
            out["complete"] = True

    parser = httptools.HttpRequestParser(P())
    parser.feed_data(raw)
    out["method"] = parser.get_method().decode()
    return out


def header(parsed: dict, name: str) -> list[str]:
    return [v for k, v in parsed["headers"] if k.lower() == name.lower()]


def test_get_request_is_well_formed_with_host_and_port():
    t = parse_target("http://127.0.0.1:8080/predict?x=1")
    raw = build_request(build_head(t, RequestSpec()), None, "GET")
    assert raw.startswith(b"GET /predict?x=1 HTTP/1.1\r\n")
    assert raw.endswith(b"\r\n\r\n")
    p = parse_request(raw)
    assert p["complete"] and p["method"] == "GET" and p["url"] == b"/predict?x=1"
    assert header(p, "host") == ["127.0.0.1:8080"]
    assert header(p, "content-length") == []
    assert header(p, "user-agent") == ["stinger"]
    assert header(p, "connection") == []  # keep-alive is HTTP/1.1's default


def test_host_header_omits_default_port():
    raw = build_request(build_head(parse_target("http://example.com/"), RequestSpec()), None, "GET")
    assert header(parse_request(raw), "host") == ["example.com"]


def test_post_with_body_has_content_length_and_content_type():
    t = parse_target("http://127.0.0.1:9/inv")
    spec = RequestSpec(method="post", content_type="application/json")
    body = b'{"inputs": [1, 2, 3]}'
    raw = build_request(build_head(t, spec), body, "POST")
    p = parse_request(raw)
    assert p["complete"] and p["method"] == "POST"
    assert header(p, "content-length") == [str(len(body))]
    assert header(p, "content-type") == ["application/json"]
    assert p["body"] == body


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "post"])
def test_body_method_without_body_sends_content_length_zero(method):
    raw = build_request(build_head(parse_target("http://h/"), RequestSpec(method=method)), None, method)
    p = parse_request(raw)
    assert p["complete"]
    assert header(p, "content-length") == ["0"]
    assert p["body"] == b""


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
def test_bodyless_methods_without_body_send_no_content_length(method):
    raw = build_request(build_head(parse_target("http://h/"), RequestSpec(method=method)), b"", method)
    p = parse_request(raw)
    assert p["complete"] and p["method"] == method
    assert header(p, "content-length") == []


def test_get_with_body_still_declares_its_length():
    raw = build_request(build_head(parse_target("http://h/"), RequestSpec()), b"abc", "GET")
    p = parse_request(raw)
    assert header(p, "content-length") == ["3"] and p["body"] == b"abc"


def test_custom_headers_kept_and_content_type_header_overrides_default():
    spec = RequestSpec(method="POST", content_type="application/json",
                       headers=(("Content-Type", "text/csv"), ("Authorization", "Bearer T"), ("X-Trace", "1")))
    p = parse_request(build_request(build_head(parse_target("http://h:81/"), spec), b"a,b", "POST"))
    assert header(p, "content-type") == ["text/csv"]
    assert header(p, "authorization") == ["Bearer T"]
    assert header(p, "x-trace") == ["1"]


def test_content_type_override_is_case_insensitive():
    spec = RequestSpec(content_type="application/json", headers=(("CONTENT-TYPE", "text/plain"),))
    p = parse_request(build_request(build_head(parse_target("http://h/"), spec), b"x", "POST"))
    assert header(p, "content-type") == ["text/plain"]


def test_user_agent_can_be_overridden():
    spec = RequestSpec(headers=(("User-Agent", "mine/1.0"),))
    p = parse_request(build_request(build_head(parse_target("http://h/"), spec), None, "GET"))
    assert header(p, "user-agent") == ["mine/1.0"]


def test_hop_by_hop_headers_from_the_user_are_dropped():
    spec = RequestSpec(method="POST", headers=(
        ("Content-Length", "999"), ("Transfer-Encoding", "chunked"), ("Connection", "close"), ("X-Kept", "yes")))
    raw = build_request(build_head(parse_target("http://h:8080/"), spec), b"hello", "POST")
    p = parse_request(raw)
    assert p["complete"] and p["body"] == b"hello"
    assert header(p, "content-length") == ["5"]
    assert header(p, "transfer-encoding") == []
    assert header(p, "connection") == []
    assert header(p, "host") == ["h:8080"]
    assert header(p, "x-kept") == ["yes"]


def test_the_user_s_host_header_replaces_the_default_one():
    """KServe's virtual-host routing: `-H 'Host: model.ns.example.com'` to the ingress's address;
    exactly one Host header on the wire, the user's (the first one when given twice)."""
    spec = RequestSpec(headers=(("host", "sklearn-iris.default.example.com"), ("Host", "second"), ("X-A", "1")))
    raw = build_request(build_head(parse_target("http://127.0.0.1:8080/v1/models/m:predict"), spec), None, "GET")
    p = parse_request(raw)
    assert p["complete"]
    assert header(p, "host") == ["sklearn-iris.default.example.com"]
    assert raw.lower().count(b"\r\nhost:") == 1
    assert header(p, "x-a") == ["1"]


# ------------------------------------------------------- URLs as browsers send them
@pytest.mark.parametrize("url, host, path", [
    ("http://127.0.0.1:8080/v1/models/😀/predict", "127.0.0.1", "/v1/models/%F0%9F%98%80/predict"),
    ("http://h/caf\u00e9?q=na\u00efve", "h", "/caf%C3%A9?q=na%C3%AFve"),       # Latin-1 too: UTF-8, as browsers
    ("http://h/a b/\"x\"<y>`{z}|^\\", "h", "/a%20b/%22x%22%3Cy%3E%60%7Bz%7D%7C%5E%5C"),
    ("http://h/%41%2F?x=%E2%82%AC&y=%zz", "h", "/%41%2F?x=%E2%82%AC&y=%25zz"),  # escapes kept, a lone % encoded
    ("http://h/m:predict;v=1?a=[1]&b=$,@!*'()+~", "h", "/m:predict;v=1?a=[1]&b=$,@!*'()+~"),   # reserved: kept
    ("http://b\u00fccher.example/x", "xn--bcher-kva.example", "/x"),                     # IDNA host
    ("https://\u4f8b\u3048.jp:8443/", "xn--r8jz45g.jp", "/"),
])
def test_urls_are_encoded_once_as_browsers_do(url, host, path):
    ep = parse_target(url)
    assert (ep.host, ep.path, ep.url) == (host, path, url)
    head = build_head(ep, RequestSpec())   # Latin-1 on the wire: no character left that it cannot hold
    assert head.isascii() and parse_request(build_request(head, None, "GET"))["complete"]


@pytest.mark.parametrize("url", ["http://exa mple.com/", "http://a\u200b\u0000b/", "http://-\u00e9-.example/"])
def test_a_host_that_has_no_ascii_form_is_a_target_error(url):
    with pytest.raises(TargetError, match="not a valid host name"):
        parse_target(url)


def test_keep_alive_false_asks_to_close():
    p = parse_request(build_request(build_head(parse_target("http://h/"), RequestSpec(keep_alive=False)), None, "GET"))
    assert header(p, "connection") == ["close"]


def test_ipv6_host_header_is_bracketed():
    p = parse_request(build_request(build_head(parse_target("http://[::1]:8080/x"), RequestSpec()), None, "GET"))
    assert header(p, "host") == ["[::1]:8080"]


def test_head_is_reusable_for_many_bodies():
    head = build_head(parse_target("http://h/"), RequestSpec(method="POST", content_type="application/json"))
    for body in (b"{}", b'{"a": 1}', b"x" * 10_000):
        p = parse_request(build_request(head, body, "POST"))
        assert p["complete"] and p["body"] == body
        assert header(p, "content-length") == [str(len(body))]
