"""The gRPC transport (`engine.transport.Transport`): unary calls on `grpc.aio` channels.

A `GrpcCall` is the gRPC `Connection`: a call slot that carries one request at a time, as
an HTTP/1.1 keep-alive connection does, so the engine's pools, in-flight bound, timeouts and
accounting are the same code for both. A pool has one channel (one HTTP/2 connection) per
`SLOTS_PER_CHANNEL` live slots (a server's usual limit of concurrent streams), made in the
worker's event loop on first use (`use_local_subchannel_pool`: each channel its own
connection); the bytes go through as they are (no serializer: the carrier built them,
`targets/oip_wire.py`).

Timing, with HTTP's definitions (DESIGN.md):

* `sent`: stamped by the engine right before `write`, which starts the call: the moment the
  request is handed to gRPC core (gRPC hides its first byte on the wire);
* `first_byte`: when the response message reached this process (a unary answer arrives
  whole: the response's first byte cannot be seen apart from its last);
* `done`: stamped by the engine in `finish`, right after.

An answer's `status` is the HTTP equivalent of its gRPC code (`HTTP_STATUS`), so a gRPC
error is a 4xx/5xx kind as over HTTP (RESOURCE_EXHAUSTED 429 is `throttled`); its body, when
bodies are kept, is `{"error": "grpc CODE: details"}` (the kserve api reads `error`), and
`grpc-status` / `grpc-message` / a `server-timing` are captured from its metadata like headers
when the run asks for them. UNAVAILABLE on a call (the connection went away) is a `reset`
and frees the slot; a channel that cannot connect fails the request as `connect` (its
state, without waiting out gRPC's reconnect backoff). Timeouts are the engine's sweep (no
gRPC deadline is set), so a timeout is counted as over HTTP. A message larger than the
run's `max_body` is `body_too_large`.

gRPC core must not start in a process that later forks (the coordinator forks the workers):
only the worker imports this module (the carrier names it; `engine.transport.transport_class`).
"""

from __future__ import annotations

import asyncio
import json
from time import perf_counter
from typing import TYPE_CHECKING, Any, ClassVar

import grpc
from grpc.aio import AioRpcError

from stinger.core.records import Kind
from stinger.engine.transport import Pool, Wire

if TYPE_CHECKING:  # pragma: no cover
    from stinger.engine.core import EngineCore as Engine

SLOTS_PER_CHANNEL = 100
_C = grpc.StatusCode
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    _C.OK: 200, _C.CANCELLED: 499, _C.UNKNOWN: 500, _C.INVALID_ARGUMENT: 400, _C.DEADLINE_EXCEEDED: 504,
    _C.NOT_FOUND: 404, _C.ALREADY_EXISTS: 409, _C.PERMISSION_DENIED: 403, _C.RESOURCE_EXHAUSTED: 429,
    _C.FAILED_PRECONDITION: 400, _C.ABORTED: 409, _C.OUT_OF_RANGE: 400, _C.UNIMPLEMENTED: 501,
    _C.INTERNAL: 500, _C.UNAVAILABLE: 503, _C.DATA_LOSS: 500, _C.UNAUTHENTICATED: 401,
}
_READY = grpc.ChannelConnectivity.READY
_FAILED = (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN)


class _Channels:
    """A pool's channels (`Pool.state`): made in the event loop on first use, one per 100 live slots."""

    __slots__ = ("address", "channels", "credentials", "live", "made", "metadata", "methods", "options", "path")

    def __init__(self, address: str, credentials: Any, options: list[tuple[str, Any]], path: str,
                 metadata: tuple[tuple[str, str], ...]) -> None:
        self.address = address
        self.credentials = credentials
        self.options = options
        self.path = path
        self.metadata = metadata or None
        self.channels: list[grpc.aio.Channel] = []
        self.methods: list[Any] = []
        self.live = 0
        self.made = 0   # channels opened in the run (a test reads it)

    def pick(self) -> int:
        """The channel for a new slot, counted live from now (opens in a burst all pick before any is
        ready: counting only the opened ones put them all on one channel)."""
        k = self.live // SLOTS_PER_CHANNEL
        self.live += 1
        while len(self.channels) <= k:
            if self.credentials is None:
                ch = grpc.aio.insecure_channel(self.address, options=self.options)
            else:
                ch = grpc.aio.secure_channel(self.address, self.credentials, options=self.options)
            self.channels.append(ch)
            self.made += 1
            self.methods.append(ch.unary_unary(self.path))   # no serializers: bytes in, bytes out
        return k


class GrpcCall:
    """One call slot (the `Connection` of this transport): see the module docstring."""

    __slots__ = (
        "engine", "pool", "busy", "connected", "intended", "sent", "first_byte", "deadline", "variant",
        "payload", "user", "queued", "rid", "nbytes", "status", "keep", "body", "hv", "chunks", "head", "tail",
        "transport", "method", "metadata", "call", "task",
    )
    headers: ClassVar[tuple[str, ...]] = ()   # the run's captured names (`connection_class`)
    max_body: ClassVar[int] = Wire().max_body

    def __init__(self, engine: Engine, pool: Pool, want_body: bool) -> None:
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
        self.rid = -1
        self.nbytes = 0
        self.status = 0
        self.keep = True
        self.body: list[bytes] | None = [] if want_body else None
        self.hv: Any = None
        self.chunks: list[tuple[float, int]] = []
        self.head = b""
        self.tail = b""
        self.method: Any = None
        self.metadata: Any = None
        self.call: Any = None
        self.task: asyncio.Task[None] | None = None
        self.transport: GrpcCall | None = None

    def opened(self, method: Any, metadata: Any) -> None:
        self.method = method
        self.metadata = metadata
        self.transport = self   # the engine writes to `conn.transport` (engine.transport)
        self.connected = True
        self.engine.on_connected(self)

    def write(self, data: bytes) -> None:
        self.task = asyncio.get_running_loop().create_task(self._call(data))

    async def _call(self, data: bytes) -> None:
        call = self.call = self.method(data, metadata=self.metadata)
        try:
            response: bytes = await call
        except asyncio.CancelledError:
            return   # aborted by the engine (timeout, stop): it has counted the request already
        except AioRpcError as exc:
            if self.call is call and self.busy:
                self._failed(exc)
            return
        if self.call is not call or not self.busy:
            return
        self.first_byte = perf_counter()
        self.nbytes = len(response)
        self.head = response[:200]
        self.status = 200
        if self.body is not None:
            self.body.append(response)
        if self.headers:
            self.hv = _captured(self.headers, (*(await call.initial_metadata() or ()),
                                               *(await call.trailing_metadata() or ())))
        self.call = None
        self.engine.finish(self)

    def _failed(self, exc: AioRpcError) -> None:
        code = exc.code()
        self.call = None
        if code == _C.UNAVAILABLE:   # the connection went away under the call
            self.engine.on_broken(self, invalid=False)
            return
        details = exc.details() or ""
        if code == _C.RESOURCE_EXHAUSTED and "larger than max" in details:   # our own receive cap
            self.engine.on_too_large(self)
            return
        self.first_byte = perf_counter()
        self.status = HTTP_STATUS.get(code, 500)
        error = json.dumps({"error": f"grpc {code.name}: {details}"}).encode()
        self.head = error
        self.nbytes = len(details)
        if self.body is not None:
            self.body.append(error)
        if self.headers:
            self.hv = _captured(self.headers, (*(exc.initial_metadata() or ()), *(exc.trailing_metadata() or ()),
                                               ("grpc-status", str(code.value[0])), ("grpc-message", details)))
        self.engine.finish(self)

    def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        """The slot ends: its call (if any) is cancelled and the engine told, as a socket's
        `connection_lost` tells it (`on_lost`: the slot leaves the pool)."""
        call, self.call = self.call, None
        if call is not None:
            call.cancel()
        if self.connected:
            self.connected = False
            state: _Channels = self.pool.state
            state.live -= 1
            asyncio.get_running_loop().call_soon(self.engine.on_lost, self)


def _captured(names: tuple[str, ...], metadata: Any) -> Any:
    """The run's header values from gRPC metadata (as `engine.http` captures headers): one name,
    its value bare; several, a list in `names`' order; None when none came."""
    found: dict[str, bytes] = {}
    for key, value in metadata:
        key = key.lower()
        if key in names and key not in found:
            found[key] = value if isinstance(value, bytes) else str(value).encode()
    if not found:
        return None
    if len(names) == 1:
        return found[names[0]]
    return [found.get(n) for n in names]


class Grpc:
    """The `grpc` transport (see the module docstring); one per worker, shared by its pools."""

    name: ClassVar[str] = "grpc"

    def __init__(self) -> None:
        self.wire = Wire()
        self.states: list[_Channels] = []

    def connection_class(self, wire: Wire) -> type[GrpcCall]:
        self.wire = wire
        if not wire.headers and wire.max_body == Wire().max_body:
            return GrpcCall
        ns: dict[str, Any] = {"__slots__": (), "headers": wire.headers, "max_body": wire.max_body}
        return type("GrpcCall_custom", (GrpcCall,), ns)

    def prepare(self, pool: Pool, verify_tls: bool) -> None:
        from stinger.engine.http import resolve

        ep = pool.endpoint
        tls = ep.scheme == "grpcs"
        address = resolve(ep)[1]   # once, before the run: an unknown name is `dns` for every request
        if address is None:
            pool.address = None
            return
        host = ep.host if tls else address
        pool.address = f"[{host}]:{ep.port}" if ":" in host else f"{host}:{ep.port}"
        options: list[tuple[str, Any]] = [("grpc.use_local_subchannel_pool", 1), ("grpc.enable_retries", 0),
                                          ("grpc.max_receive_message_length", self.wire.max_body),
                                          ("grpc.max_send_message_length", -1)]
        credentials = grpc.ssl_channel_credentials() if tls else None
        pool.state = _Channels(pool.address, credentials, options, ep.path,
                               getattr(pool.target.carrier, "metadata", ()))
        self.states.append(pool.state)

    async def open(self, loop: asyncio.AbstractEventLoop, conn: GrpcCall, pool: Pool) -> None:
        state: _Channels = pool.state
        k = state.pick()
        channel = state.channels[k]
        try:
            now = channel.get_state(try_to_connect=True)
            while now != _READY:
                if now in _FAILED:
                    raise ConnectionRefusedError(f"gRPC channel to {state.address}: {now.name.lower()}")
                await channel.wait_for_state_change(now)
                now = channel.get_state(try_to_connect=True)
        except BaseException:   # a failed or cancelled open is no live slot
            state.live -= 1
            raise
        conn.opened(state.methods[k], state.metadata)

    def connect_kind(self, exc: BaseException) -> int:
        return int(Kind.CONNECT)

    async def close(self) -> None:
        for state in self.states:
            for channel in state.channels:
                await channel.close(grace=None)
            state.channels.clear()
            state.methods.clear()
