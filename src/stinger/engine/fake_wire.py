"""The fake transport: the in-memory `fake` carrier's answers, with no sockets (`engine.transport`).

Like httpx's `MockTransport`, one level lower: `FakeWire.open` hands the engine's own HTTP/1.1
connection (`engine.http.Conn`) a `FakeSocket` instead of a TCP connection, so everything above
the socket runs for real: the engine's pacing, in-flight bound and timeouts, the `httptools`
parser reading real HTTP/1.1 response bytes, the flush thread, batch, metrics, the run directory.
Each `write` schedules the carrier's next answer (`FakeCarrier.answer`: its status and body, an
error, or None for a reset) on the event loop after the carrier's `delay`.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from stinger.core.records import Kind
from stinger.engine.http import Conn, conn_class
from stinger.engine.transport import Pool, Wire


class FakeSocket:
    """What the connection writes to: one answer per request, after the carrier's delay."""

    __slots__ = ("carrier", "closing", "delay", "loop", "pending", "protocol")

    def __init__(self, carrier: Any, loop: asyncio.AbstractEventLoop, protocol: Conn) -> None:
        self.carrier = carrier
        self.delay = carrier.config.delay
        self.loop = loop
        self.protocol = protocol
        self.closing = False
        self.pending: asyncio.TimerHandle | None = None

    def write(self, data: bytes) -> None:
        if self.closing:
            return
        self.pending = self.loop.call_later(self.delay, self._deliver, self.carrier.answer())

    def _deliver(self, answer: bytes | None) -> None:
        self.pending = None
        if self.closing:
            return
        if answer is None:
            self.close()
        else:
            self.protocol.data_received(answer)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
        self.loop.call_soon(self.protocol.connection_lost, None)

    abort = close

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class FakeWire:
    """The `fake` transport: HTTP/1.1 connections over `FakeSocket`s (see the module docstring)."""

    name: ClassVar[str] = "fake"

    def connection_class(self, wire: Wire) -> type[Conn]:
        return conn_class(wire.headers, wire.keep_body, head=wire.head, chunk_times=wire.chunk_times,
                          max_body=wire.max_body, max_header=wire.max_header)

    def prepare(self, pool: Pool, verify_tls: bool) -> None:
        pool.address = pool.endpoint.host   # nothing to resolve
        pool.state = pool.target.carrier    # the carrier that answers

    async def open(self, loop: asyncio.AbstractEventLoop, conn: Conn, pool: Pool) -> FakeSocket:
        sock = FakeSocket(pool.state, loop, conn)
        conn.connection_made(sock)
        return sock

    def connect_kind(self, exc: BaseException) -> int:
        return int(Kind.CONNECT)

    async def close(self) -> None:
        return None
