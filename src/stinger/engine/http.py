"""The HTTP/1.1 wire: the connection protocol, its pool, TLS and name resolution.

This is the hot path. A connection is a callback-style `asyncio.Protocol`
feeding an `httptools` response parser; nothing here awaits, allocates a
per-request object, or builds a request from parts at send time: the bytes of
every (endpoint, payload) request are built once by the target
(`stinger.targets`) and reused. What happens with a finished response (timing,
pooling, the next request) belongs to the engine (`engine.core`), which the
connection calls back through the `Events` of the transport seam
(`engine.transport`); `Http1` is this module's `Transport`, `Conn` its `Connection`.

What counts as the response to the request in flight: the first final
(non-1xx) response after it was sent. Interim responses (`100 Continue`,
`103 Early Hints`) are skipped; a response no request waits for (on an idle
connection, or a second one in bytes read before the next request left) is an
endpoint protocol error the engine counts apart (`on_unsolicited`), never a
request; a body that ends with the connection (no length, not chunked) is
complete when the server closes cleanly. These checks cost two attribute
tests per response; the close-delimited case is read on the close path only.

The response head is capped (`max_header`, `load.max_header`, 64 KiB by default): a
header that never ends would otherwise grow the worker's memory as fast as the endpoint
sends it (the parser keeps a captured header's value whole) until the request timeout.
A response's first read is kept (`head`); while it holds no end of head (`\r\n\r\n`:
the parser accepts no other, so that test is exact) the next reads are appended to it, so
a head in several reads is kept whole (at most the cap and one read) and a close-delimited
reply whose head came in two reads is still read as the whole response it is. Past the
cap with no end of head, the response is `header_too_large` and the connection is closed.
On the common path (a response in one read) this costs one compare per read and no
callback; an interim response's head is cut off `head` when it completes (rare).

Timing stamps use `time.perf_counter()`: CLOCK_MONOTONIC on Linux, shared by
every process on the machine, so worker processes agree on the run clock.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from time import perf_counter
from typing import TYPE_CHECKING, Any, ClassVar

import httptools

from stinger.core.records import Kind
from stinger.engine.transport import Pool, Wire
from stinger.targets.base import Endpoint

if TYPE_CHECKING:  # pragma: no cover
    from stinger.engine.core import EngineCore as Engine

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_MAX_HEADER = 64 * 1024


def make_ssl_context(verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def resolve(endpoint: Endpoint) -> tuple[int, str | None]:
    """Resolve once, before the run: (address family, address). On failure the address
    is None: the engine then counts every request to the endpoint as `Kind.DNS` at once,
    with no lookup per request (handing the bare name to `create_connection` would
    look it up again for every request, each failing slowly)."""
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return socket.AF_INET, None
    family, _, _, _, sockaddr = infos[0]
    return family, str(sockaddr[0])


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying at most one request at a time.

    The fields are the state of the request in flight; the engine reads them in
    `Engine.finish`. `first_byte` is 0.0 until the first response byte of the
    current request arrives. `hv`: the captured response header values (None
    when none of the run's headers came), `chunks`: (arrival time, body end offset) per body segment.
    """

    __slots__ = (
        "engine", "pool", "transport", "parser", "busy", "connected",
        "intended", "sent", "first_byte", "deadline", "variant", "payload", "user", "queued", "rid",
        "nbytes", "status", "keep", "body", "hv", "chunks", "want_body", "head", "tail",
    )
    max_header = DEFAULT_MAX_HEADER   # a run's own cap is set on its class (`conn_class`)

    def __init__(self, engine: Engine, pool: Pool, want_body: bool) -> None:
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
        self.rid = -1
        self.nbytes = 0
        self.status = 0
        self.keep = True
        self.body: list[bytes] | None = [] if want_body else None
        self.hv: Any = None
        self.chunks: list[tuple[float, int]] = []
        self.want_body = want_body
        self.head = b""
        self.tail = b""

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.connected = True
        self.engine.on_connected(self)

    def data_received(self, data: bytes) -> None:
        if not self.first_byte:
            self.first_byte = perf_counter()
            self.head = data  # read again only if the connection closes mid-response (`_ends_at_close`)
        else:  # a response in several reads: its last one, for an error's sample body (`Engine._sample`)
            self.tail = data
            if b"\r\n\r\n" not in self.head:   # a head in several reads (rare): kept whole, capped below
                self.head += data
        self.nbytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - upgrades are not ours
            self.engine.on_broken(self, invalid=True)
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, BodyTooLarge):  # raised by `_on_body` past the cap
                self.engine.on_too_large(self)
            else:
                self.engine.on_broken(self, invalid=True)
            return
        if self.nbytes > self.max_header and b"\r\n\r\n" not in self.head:   # one compare on the common path
            self.engine.on_header_too_large(self)

    def connection_lost(self, exc) -> None:
        self.connected = False
        if exc is None and self.busy and self.first_byte:
            # A response without Content-Length or chunked framing (HTTP/1.0, or
            # `Connection: close` without a length) ends when the server closes:
            # httptools has no end-of-stream call, so read the head again here.
            status = _ends_at_close(self.head)
            if status:
                self.status = status
                self.keep = False
                self.engine.finish(self)
        self.engine.on_lost(self)

    # -- httptools callbacks ----------------------------------------------
    # Status and keep-alive are read when the message completes: one Python
    # callback per response instead of two.
    def on_message_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status < 200 or not self.first_byte or not self.busy:  # rare: one test on the common path
            if status < 200:  # an interim response (100 Continue, 103 Early Hints): the final one follows
                _cut_interim(self)
                return
            # No request waits for it (an unsolicited 408 on an idle connection), or a second
            # response in bytes that arrived before the next request left (a duplicate).
            self.engine.on_unsolicited(self)
            return
        self.status = status
        self.keep = parser.should_keep_alive()
        self.engine.finish(self)


class HeadConn(Conn):
    """For HEAD requests: the response announces a body it never sends, and the
    parser cannot know the request method, so the message ends with its headers."""

    __slots__ = ()

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            _cut_interim(self)
            return  # interim: its message completes by itself; the final response follows
        if not self.busy or not self.first_byte:
            self.engine.on_unsolicited(self)
            return
        self.status = status
        self.keep = self.parser.should_keep_alive()
        self.parser = httptools.HttpResponseParser(self)
        self.engine.finish(self)

    def on_message_complete(self) -> None:  # never reached for HEAD; the parser is replaced
        pass


def _cut_interim(conn: Conn) -> None:
    """An interim response (no body) just ended: its head leaves `conn.head`, which then starts
    with the next response, so the head cap and `_ends_at_close` see the final response's head."""
    end = conn.head.find(b"\r\n\r\n")
    if end >= 0:
        conn.head = conn.head[end + 4:]


class _Head:
    """Reads one response head for `_ends_at_close` (the rare path: a connection closed mid-response)."""

    __slots__ = ("status", "length", "chunked", "complete", "parser")

    def __init__(self) -> None:
        self.status = 0
        self.length = False
        self.chunked = False
        self.complete = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length":
            self.length = True
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            self.chunked = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_message_complete(self) -> None:
        if self.status < 200:  # an interim response: read the next head
            self.status = 0
            self.length = self.chunked = False
        else:
            self.complete = True


def _ends_at_close(head: bytes) -> int:
    """The status of a response in `head` (its first bytes) whose body ends when the
    connection closes, or 0 when the head says its end is elsewhere (a length, chunks:
    then a close is a reset) or it cannot be read from these bytes."""
    h = _Head()
    try:
        h.parser.feed_data(head)
    except httptools.HttpParserError:
        return 0
    if not h.status or h.complete or h.length or h.chunked or h.status in (204, 304):
        return 0
    return h.status




class BodyTooLarge(Exception):
    """Raised inside the parser when a kept body passes the cap; stops the parse at once."""


# Only connections that keep bodies (a check, a prediction, a target reading them) test the
# cap: `nbytes` (bytes of the response so far) is already counted, so the test is one compare
# per body chunk. Past it the response is `Kind.BODY_TOO_LARGE` and the connection is closed:
# an endless chunked body cannot fill memory, and the flush thread never sees a huge body.
def _on_body(self, chunk: bytes) -> None:
    if self.nbytes > self.max_body:
        raise BodyTooLarge
    self.body.append(chunk)


def _on_body_timed(self, chunk: bytes) -> None:
    # (arrival, end offset of the body so far): a streaming target splits the body into
    # its messages and times each by the read that completed it (targets/sse.py)
    chunks = self.chunks
    chunks.append((perf_counter(), (chunks[-1][1] if chunks else 0) + len(chunk)))
    if self.body is not None:
        if self.nbytes > self.max_body:
            raise BodyTooLarge
        self.body.append(chunk)


def _on_header(self, name: bytes, value: bytes) -> None:
    # one header (the usual case: the run's server-time header): one length compare per header
    if len(name) == len(self.header_name) and name.lower() == self.header_name:
        self.hv = value  # one header: its value bare (see `Columns.hvals`)


def _on_headers(self, name: bytes, value: bytes) -> None:
    j = self.header_index.get(name.lower())
    if j is not None:
        hv = self.hv
        if hv is None:
            hv = self.hv = [None] * len(self.header_index)
        hv[j] = value


def conn_class(headers: tuple[str, ...] | str | None, keep_body: bool, head: bool = False,
               chunk_times: bool = False, max_body: int = DEFAULT_MAX_BODY,
               max_header: int = DEFAULT_MAX_HEADER) -> type[Conn]:
    """The connection class for a run: httptools looks up its callbacks once, so a
    connection that needs no header or body gets no `on_header`/`on_body` and pays
    nothing per header or body chunk.

    `headers`: the lower-case response header names to capture, in the order of
    `Columns.header_names`; a captured row is a sequence of their values."""
    if isinstance(headers, str):
        headers = (headers,)
    headers = tuple(h.lower() for h in headers or ())
    base = HeadConn if head else Conn
    if not headers and not keep_body and not chunk_times and max_header == DEFAULT_MAX_HEADER:
        return base
    ns: dict = {"__slots__": ()}
    if max_header != DEFAULT_MAX_HEADER:
        ns["max_header"] = max_header
    if len(headers) == 1:
        ns["header_name"] = headers[0].encode("latin-1")
        ns["on_header"] = _on_header
    elif headers:
        ns["header_index"] = {h.encode("latin-1"): j for j, h in enumerate(headers)}
        ns["on_header"] = _on_headers
    if keep_body:
        ns["max_body"] = max_body
    if chunk_times:
        ns["on_body"] = _on_body_timed
    elif keep_body:
        ns["on_body"] = _on_body
    name = base.__name__ + ("_header" if headers else "") + ("_body" if keep_body else "") + \
        ("_chunks" if chunk_times else "")
    return type(name, (base,), ns)



class Http1:
    """The HTTP/1.1 transport (`engine.transport.Transport`): TCP (+TLS) from the event loop,
    `Conn` reading the answers. One per worker, shared by its pools."""

    name: ClassVar[str] = "http1"

    def __init__(self) -> None:
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def connection_class(self, wire: Wire) -> type[Conn]:
        return conn_class(wire.headers, wire.keep_body, head=wire.head, chunk_times=wire.chunk_times,
                          max_body=wire.max_body, max_header=wire.max_header)

    def prepare(self, pool: Pool, verify_tls: bool) -> None:
        ep = pool.endpoint
        if ep.tls:
            verify = verify_tls and ep.verify
            if verify not in self._contexts:
                self._contexts[verify] = make_ssl_context(verify)
            pool.ssl = self._contexts[verify]
        pool.address = resolve(ep)[1]

    def open(self, loop: asyncio.AbstractEventLoop, conn: Any, pool: Pool) -> Any:
        ep = pool.endpoint
        return loop.create_connection(lambda: conn, pool.address, ep.port, ssl=pool.ssl,
                                      server_hostname=ep.host if pool.ssl else None)

    def connect_kind(self, exc: BaseException) -> int:
        # an untrusted certificate is not a refused connection
        return int(Kind.TLS) if isinstance(exc, ssl.SSLError) else int(Kind.CONNECT)

    async def close(self) -> None:
        return None
