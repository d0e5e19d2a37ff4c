"""The transport seam: the contract between the engine and a connection, written down once.

The engine (`engine.core.EngineCore`) decides *when* a request leaves and accounts for *how*
it ended; a transport owns *how bytes travel*: HTTP/1.1 over TCP (`engine.http.Http1`), the
in-memory fake (`engine.fake_wire.FakeWire`), gRPC (`engine.grpc.Grpc`). A target's carrier
names its transport (`transport = "fake"`; default `http1`), looked up in `TRANSPORTS` once per
run; a carrier may also name a "module:Class" of its own.

Life of one request, and who does what (the definitions are DESIGN.md's):

1. The engine takes an idle connection of the pool (`pool.idle.pop()`), or makes one,
   `pool.conn_class(engine, pool, want_body)`, sets `busy`, `intended`, `variant`, `payload`,
   `user`, `queued`, `deadline` (the connect deadline) and awaits `pool.transport.open(loop,
   conn, pool)`. The connection calls `engine.on_connected(conn)` once it can carry bytes (and
   sets `conn.transport` before that call); a failed open raises, and the engine counts the request
   as `pool.transport.connect_kind(exc)` (CONNECT, TLS).
2. `_send`: the engine stamps `sent` (perf_counter, right before the hand-over) and the request
   deadline, then calls `conn.transport.write(request_bytes)`. (`transport` is set when the
   connection opens: HTTP/1.1's asyncio transport; a gRPC call slot is its own. Binding
   `conn.write = transport.write` once was tried: calling a stored bound method costs 12 ns
   more than the method call through the attribute when `write` is Python code, CPython 3.11,
   and the same for uvloop's C `write`; so the engine keeps the attribute.)
3. The connection stamps `first_byte` when the first byte of the answer arrives (0.0 until
   then), counts `nbytes`, captures what the `Wire` asks (header values into `hv`, body pieces
   into `body`, `(arrival, cumulative bytes)` into `chunks`), and ends the request with ONE of
   the `Events` calls below. After `finish` with `keep` set, the connection is idle and may
   carry the next request.
4. What the engine does to a connection on its own: the timeout sweep (`busy` and past
   `deadline`: TIMEOUT, or CONNECT while not `connected`, then `abort()`), the normal end
   (`unfinished`: a request still busy at the end of the drain is failed, never sent again),
   `build_failed` (the target could not build the bytes: the open connection goes back to
   `pool.idle` untouched), and stop (`abort()` of every connection; a busy one is counted as
   in flight, not failed).

Nothing here costs anything per request: `typing.Protocol` classes exist for readers and
mypy, the transport and the connection class are chosen once per pool, and the only call a
request makes into a transport is `conn.transport.write`.
"""

from __future__ import annotations

from asyncio import AbstractEventLoop
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from stinger.targets.base import Endpoint


class Writer(Protocol):
    """What a connection's request bytes are written to (`conn.transport.write(data)`)."""

    def write(self, data: bytes) -> None:
        ...


class Connection(Protocol):
    """One connection (HTTP/1.1: a keep-alive socket; gRPC: a call slot on a channel): one request
    at a time. The fields are the state of the request in flight, read by the engine in `finish`."""

    pool: Pool
    busy: bool             # a request is on it (set by the engine, cleared when it ends)
    connected: bool        # `open` succeeded and the connection was not lost since
    intended: float        # perf_counter stamps; `sent` NaN until sent, `first_byte` 0.0 until it came
    sent: float
    first_byte: float
    deadline: float
    variant: int
    payload: int
    user: int              # a closed-model user, or -1
    queued: int            # queue-state bits (`engine.columns`)
    rid: int               # the request's number in the run (core/correlation.py), -1 before one is given
    nbytes: int            # answer bytes so far
    status: int            # HTTP status, or the HTTP equivalent of the transport's own (gRPC)
    keep: bool             # the connection may carry the next request
    hv: Any                # captured header values (`Columns.hvals`), None when none came
    body: list[bytes] | None
    chunks: list[tuple[float, int]]
    head: bytes            # the answer's first read (the error sample when no body is kept)
    tail: bytes            # the answer's last read

    @property
    def transport(self) -> Writer | None:
        """What the request's bytes are written to (set when the connection opens)."""
        ...

    def close(self) -> None:
        """Close gracefully (an answer said it would not keep the connection, a late connect)."""
        ...

    def abort(self) -> None:
        """Close now (a timeout, stop, broken framing, a cap passed)."""
        ...


class RequestState:
    """The request state every transport's connection carries (`Connection`'s fields), at its idle
    values: a transport's connection class derives from it, so the engine's `finish` reads one list."""

    __slots__ = ("engine", "pool", "busy", "connected", "intended", "sent", "first_byte", "deadline", "variant",
                 "payload", "user", "queued", "rid", "nbytes", "status", "keep", "body", "hv", "chunks", "head", "tail")

    def __init__(self, engine: Any, pool: Pool, want_body: bool) -> None:
        self.engine = engine
        self.pool = pool
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
        self.rid = -1          # the request's number (core/correlation.py), -1 when none is sent
        self.nbytes = 0
        self.status = 0
        self.keep = True
        self.body: list[bytes] | None = [] if want_body else None
        self.hv: Any = None
        self.chunks: list[tuple[float, int]] = []
        self.head = b""
        self.tail = b""


class Events(Protocol):
    """The only calls a connection makes into the engine (implemented by `EngineCore`)."""

    def on_connected(self, conn: Connection) -> None:
        """`open` succeeded: the engine sends the request that waited for it (or aborts at stop)."""
        ...

    def finish(self, conn: Connection) -> None:
        """A whole answer arrived: `status`, `keep`, `first_byte`, `nbytes`, `hv`, `body`, `chunks` set."""
        ...

    def on_unsolicited(self, conn: Connection) -> None:
        """An answer no request waited for (a protocol error of the endpoint, counted apart)."""
        ...

    def on_too_large(self, conn: Connection, kind: int = ...) -> None:
        """A kept body passed `Wire.max_body`: BODY_TOO_LARGE, the connection aborted."""
        ...

    def on_header_too_large(self, conn: Connection) -> None:
        """An answer's head passed `Wire.max_header` with no end: HEADER_TOO_LARGE, aborted."""
        ...

    def on_broken(self, conn: Connection, invalid: bool) -> None:
        """Unreadable framing (`invalid`: INVALID) or a reset after data (RESET); aborted."""
        ...

    def on_lost(self, conn: Connection) -> None:
        """The connection went away: a busy one fails RESET, an idle one leaves the pool."""
        ...


@dataclass(frozen=True, slots=True)
class Wire:
    """What a run keeps of each answer, the same for every pool of a worker (chosen once)."""

    headers: tuple[str, ...] = ()     # lower-case header (gRPC: metadata) names, `Columns.header_names`' order
    keep_body: bool = False
    chunk_times: bool = False
    head: bool = False                # HEAD requests (HTTP/1.1 only)
    max_body: int = 16 * 1024 * 1024
    max_header: int = 64 * 1024


@dataclass(slots=True)
class Pool:
    """Connections to one endpoint of one variant's target inside one worker process.

    `cache[p]`: the request bytes for payload p that never expire (plain HTTP: every one), built
    on first use. `expiring[p]`: (bytes, expiry) of bytes that do (a signed request); consulted
    only when `cache[p]` is empty, so a target whose bytes never expire pays nothing for the
    expiry check. `transport` and `conn_class`: chosen once per pool (`Transport.prepare` fills
    `address` and `ssl`; `address` None means the name did not resolve: every request is DNS).
    """

    index: int
    endpoint: Endpoint
    target: Any
    address: Any
    ssl: Any
    is_head: bool
    cache: list[bytes | None]
    transport: Any = None
    conn_class: Any = None
    expiring: dict[int, tuple[bytes, float]] = field(default_factory=dict)
    idle: list[Any] = field(default_factory=list)
    state: Any = None                 # the transport's own per-pool state (gRPC: its channels)
    source: str | None = None         # the local address connections leave from (an origin's; None: any)


class Transport(Protocol):
    """How requests travel (one instance per worker and name, shared by its pools)."""

    name: ClassVar[str]
    # the answers' `status` is HTTP's own or an HTTP equivalent (`engine.grpc` maps gRPC codes)

    def connection_class(self, wire: Wire) -> type[Connection]:
        """The connection class for this run (chosen once: HTTP/1.1's parser callbacks)."""
        ...

    def prepare(self, pool: Pool, verify_tls: bool) -> None:
        """Once per pool, before the run: resolve the name, make the TLS context or channels."""
        ...

    def open(self, loop: AbstractEventLoop, conn: Connection, pool: Pool) -> Awaitable[object]:
        """Open a new connection for `conn`; it calls `engine.on_connected(conn)` when it can send."""
        ...

    def connect_kind(self, exc: BaseException) -> int:
        """The failure kind of a failed `open` (`Kind.CONNECT`, `Kind.TLS`)."""
        ...

    async def close(self) -> None:
        """End of the run (after every connection was aborted): release what `prepare` made."""
        ...


# name -> "module:Class", imported on first use in the worker (so gRPC core starts in the worker,
# never in the coordinator before it forks: see engine/grpc.py)
TRANSPORTS: dict[str, str] = {
    "http1": "stinger.engine.http:Http1",
    "fake": "stinger.engine.fake_wire:FakeWire",
}
DEFAULT_TRANSPORT = "http1"


def transport_class(name: str) -> type[Transport]:
    """The transport a carrier names: a `TRANSPORTS` line, or its own "module:Class"."""
    from importlib import import_module

    ref = TRANSPORTS.get(name, name)
    module, sep, attr = ref.partition(":")
    if not sep:
        raise ValueError(f"unknown transport {name!r}; expected one of {', '.join(sorted(TRANSPORTS))} "
                         "or module:Class")
    cls: type[Transport] = getattr(import_module(module), attr)
    return cls
