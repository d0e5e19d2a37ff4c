"""The HTTP/1.1 wire: targets, pre-built request bytes, and the connection protocol.

This is the hot path. A connection is a callback-style `asyncio.Protocol`
feeding an `httptools` response parser; nothing here awaits, allocates a
per-request object, or builds a request from parts at send time: the bytes of
every (target, payload) request are built once and reused. What happens with a
finished response (timing, pooling, the next request) belongs to the engine
(`engine.loop`), which the connection calls back through a single method.

Timing stamps use `time.perf_counter()`: CLOCK_MONOTONIC on Linux, shared by
every process on the machine, so worker processes agree on the run clock.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httptools

from stinger.errors import TargetError

if TYPE_CHECKING:  # pragma: no cover
    from stinger.engine.loop import Engine

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "host"}


@dataclass(frozen=True, slots=True)
class Target:
    """Where one variant's requests go: a parsed absolute http(s) URL."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # path + query, as sent on the request line

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        default = _DEFAULT_PORTS[self.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_target(url: str) -> Target:
    """Parse and check an absolute http(s) URL; a malformed one is the user's mistake."""
    if not isinstance(url, str) or not url.strip():
        raise TargetError("URL is empty; expected an absolute URL such as http://127.0.0.1:8080/invocations")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"malformed URL {url!r}: {exc}") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise TargetError(f"URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise TargetError(f"URL {url!r} has no host; expected e.g. http://127.0.0.1:8080/path")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        url=url,
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or _DEFAULT_PORTS[parts.scheme],
        path=path,
    )


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """Method, headers and default content type shared by every request of a variant."""

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None
    keep_alive: bool = True


def build_head(target: Target, spec: RequestSpec) -> bytes:
    """Request line and headers up to (not including) Content-Length and the blank line."""
    method = spec.method.upper()
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    names = set()
    for name, value in spec.headers:
        if name.lower() in _HOP_BY_HOP:
            continue
        names.add(name.lower())
        lines.append(f"{name}: {value}")
    if spec.content_type and "content-type" not in names:
        lines.append(f"Content-Type: {spec.content_type}")
    if "user-agent" not in names:
        lines.append("User-Agent: stinger")
    if not spec.keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def build_request(head: bytes, body: bytes | None, method: str) -> bytes:
    """The full request bytes: head, Content-Length when there is a body (or the
    method normally carries one), blank line, body."""
    if body:
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    if method.upper() in ("POST", "PUT", "PATCH"):
        return head + b"Content-Length: 0\r\n\r\n"
    return head + b"\r\n"


def make_ssl_context(verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def resolve(target: Target) -> tuple[int, str]:
    """Resolve once, before the run: (address family, address). Failure is measured
    later as connect errors, not raised here."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError:
        return socket.AF_INET, target.host
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr[0]


@dataclass(slots=True)
class Pool:
    """Connections to one target inside one worker process."""

    index: int
    target: Target
    address: str
    ssl: ssl.SSLContext | None
    head: bytes
    method: str
    is_head: bool
    idle: list = field(default_factory=list)


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying at most one request at a time.

    The fields are the state of the request in flight; the engine reads them in
    `Engine.finish`. `first_byte` is 0.0 until the first response byte of the
    current request arrives.
    """

    __slots__ = (
        "engine", "pool", "transport", "parser", "busy", "connected",
        "intended", "sent", "first_byte", "deadline", "variant", "payload", "user", "queued",
        "nbytes", "status", "keep", "body", "st_value", "want_body",
    )

    def __init__(self, engine: "Engine", pool: Pool, want_body: bool) -> None:
        self.engine = engine
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.busy = False
        self.connected = False
        self.intended = 0.0
        self.sent = float("nan")
        self.first_byte = 0.0
        self.deadline = 0.0
        self.variant = 0
        self.payload = 0
        self.user = -1
        self.queued = 0
        self.nbytes = 0
        self.status = 0
        self.keep = True
        self.body: list[bytes] | None = [] if want_body else None
        self.st_value: bytes | None = None
        self.want_body = want_body

    # -- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.connected = True
        self.engine.on_connected(self)

    def data_received(self, data: bytes) -> None:
        if not self.first_byte:
            self.first_byte = perf_counter()
        self.nbytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - upgrades are not ours
            self.engine.on_broken(self, invalid=True)
        except httptools.HttpParserError:
            self.engine.on_broken(self, invalid=True)

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        self.connected = False
        self.engine.on_lost(self)

    # -- httptools callbacks ----------------------------------------------
    # Status and keep-alive are read when the message completes: one Python
    # callback per response instead of two.
    def on_message_complete(self) -> None:
        parser = self.parser
        self.status = parser.get_status_code()
        self.keep = parser.should_keep_alive()
        self.engine.finish(self)


class HeadConn(Conn):
    """For HEAD requests: the response announces a body it never sends, and the
    parser cannot know the request method, so the message ends with its headers."""

    __slots__ = ()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep = self.parser.should_keep_alive()
        self.parser = httptools.HttpResponseParser(self)
        self.engine.finish(self)

    def on_message_complete(self) -> None:  # never reached for HEAD; the parser is replaced
        pass


def _on_body(self, chunk: bytes) -> None:
    self.body.append(chunk)


def _on_header(self, name: bytes, value: bytes) -> None:
    if len(name) == len(self.header_name) and name.lower() == self.header_name:
        self.st_value = value


def conn_class(header: str | None, keep_body: bool, head: bool = False) -> type[Conn]:
    """The connection class for a run: httptools looks up its callbacks once, so a
    connection that needs no header or body gets no `on_header`/`on_body` and pays
    nothing per header or body chunk."""
    base = HeadConn if head else Conn
    if not header and not keep_body:
        return base
    ns: dict = {"__slots__": ()}
    if header:
        ns["header_name"] = header.lower().encode("latin-1")
        ns["on_header"] = _on_header
    if keep_body:
        ns["on_body"] = _on_body
    return type(base.__name__ + ("_header" if header else "") + ("_body" if keep_body else ""), (base,), ns)
