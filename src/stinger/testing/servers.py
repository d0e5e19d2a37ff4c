"""Reference HTTP servers whose behaviour is known by construction.

Tests and the benchmarks in bench/ use these to check stinger's numbers
against ground truth:

* ``delay``: every request is answered D ms after it was fully received.
* ``slots``: K service slots; a request holds one for S ms, the rest wait in
  one FIFO queue. Capacity is exactly K/S req/s.

Delay mode can answer every N-th request (`--slow-every N`, the first counts
as 1) `--slow-ms` later than the others: a tail-only difference (every 10th
+28 ms moves p95 and p99 by 28 ms and leaves the median), ground truth for the
verdict's tail rows.

Either mode can delay by the client's address (`--delay-by-source 127.0.0.3=20`: every answer on a
connection from 127.0.0.3 leaves 20 ms later): ground truth for per-origin rows, each origin's workers
bound to a source address of their own (spec/origins.py).

Either mode can give each URL path its own time (`--route /a=2 --route /b=20`:
D or S in ms for requests to that path, the others keep `--delay-ms` /
`--service-ms`). With one slot that is two models in one single-threaded
worker: a request to /a that arrives while one to /b is being served waits
for it, as two variants sharing one inference process do (ground truth for
paired A/B traffic on shared infrastructure).

Either mode can answer every N-th request (`--big-every N`, the first request
counts as 1) with a large JSON body of about `--big-bytes` bytes (built once,
``{"ok":true,"pad":[...]}``): ground truth for checks and predictions on big
bodies (the others get the usual ``{"ok":true}``).

Both can record, per request, the receive time (the whole request parsed),
the service start (a slot acquired; equal to receive in delay mode) and the
send time (the response handed to the socket), all `time.perf_counter()`
values, which on Linux share CLOCK_MONOTONIC with the load generator on the
same machine. The recording is written when the server gets SIGTERM/SIGINT or
after `--max-requests` answers: `.npy` (a structured array) or `.csv`.

Why virtual time in slots mode: event-loop timers fire late by up to a
millisecond (libuv rounds to whole ms). If a slot's next service started when
its timer actually fired, every service would stretch by that lateness and
the capacity would drift below K/S. Instead each slot keeps the instant its
current service *should* end, and the next queued request starts exactly
then; a late timer delays one response, never the slot's throughput.

Precise answers (`--precise`): a timer asked for 20 ms fires on a whole
millisecond, so about 1 % of answers leave a tick late and the server's own
p99 sits on one side of a 1 ms gap or the other from run to run, which makes
a p99-against-p99 comparison flip on noise of 0.1 % of requests. With
`--precise` a response timer is armed one tick early and the loop then spins
(yielding to I/O) until the exact instant: answers leave within microseconds
of recv + D (slots: of the virtual end). It costs up to a tick of CPU per
request, so it is for the accuracy bench at moderate rates, not for
saturation tests.

The server is a plain asyncio Protocol with the httptools parser (uvloop when
available): HTTP/1.1 keep-alive, request bodies (Content-Length or chunked),
and responses kept in request order even if a client pipelines.

`--log-ids FILE` appends each request's X-Request-Id (or X-Correlation-Id) and traceparent to FILE, one
JSON line per request as it is read: a server's access log, to join with a client's requests.csv
(`RefServer(log_ids=True).logged_ids()`; tests/test_correlation.py).

Run: ``python -m stinger.testing.servers {delay,slots} --port 0 [--delay-ms 20]
[--slots 4 --service-ms 10] [--record FILE] [--max-requests N]``; it prints
``listening on http://127.0.0.1:PORT`` once ready. From Python use
`RefServer`, which starts that in a subprocess and stops it by PID.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import deque
from pathlib import Path
from time import perf_counter
from typing import Any

__all__ = ["RECORD_DTYPE", "RefServer", "main", "read_records"]

HOST = "127.0.0.1"
BODY = b'{"ok":true}'
_TICK = 0.001  # libuv timers fire on whole milliseconds
# the numpy dtype of a recording; built lazily so the server starts without numpy
RECORD_DTYPE = [("recv", "<f8"), ("start", "<f8"), ("send", "<f8"), ("route", "<i4")]
_READY_PREFIX = "listening on http://"


def big_body(size: int) -> bytes:
    """A JSON object of about `size` bytes with ``"ok": true`` first and a padding array after it."""
    item = b'{"label":"cat","score":0.5,"v":[1,2,3,4,5,6,7,8]},'
    n = max(0, (size - 24) // len(item))
    return b'{"ok":true,"pad":[' + (item * n).rstrip(b",") + b"]}"


# ==================================================================== server
class _Recorder:
    """Per-request stamps in typed arrays; written once at the end."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.recv = array("d")
        self.start = array("d")
        self.send = array("d")
        self.route = array("i")
        self.count = 0

    def add(self, recv: float, start: float, send: float, route: int = -1) -> None:
        self.count += 1
        if self.path is not None:
            self.recv.append(recv)
            self.start.append(start)
            self.send.append(send)
            self.route.append(route)

    def write(self) -> None:
        if self.path is None:
            return
        import numpy as np

        rec = np.zeros(len(self.recv), dtype=RECORD_DTYPE)
        rec["recv"] = np.frombuffer(self.recv, dtype=np.float64) if len(self.recv) else []
        rec["start"] = np.frombuffer(self.start, dtype=np.float64) if len(self.start) else []
        rec["send"] = np.frombuffer(self.send, dtype=np.float64) if len(self.send) else []
        rec["route"] = np.frombuffer(self.route, dtype=np.int32) if len(self.route) else []
        path = Path(self.path)
        tmp = path.with_name(path.name + ".tmp")
        if path.suffix == ".csv":
            with open(tmp, "w", encoding="ascii") as f:
                f.write("recv,start,send,duration,wait,route\n")
                for r, s, e, k in zip(self.recv, self.start, self.send, self.route):
                    f.write(f"{r!r},{s!r},{e!r},{e - r!r},{s - r!r},{k}\n")
        else:
            with open(tmp, "wb") as f:
                np.save(f, rec)
        os.replace(tmp, path)  # whole file or nothing, for a reader racing the exit


class _Server:
    """Shared state of one server process: mode, slots, FIFO, recorder."""

    def __init__(self, loop: Any, mode: str, delay_ms: float, slots: int, service_ms: float,
                 recorder: _Recorder, max_requests: int | None, on_done: Any,
                 big_every: int | None = None, big_bytes: int = 0, precise: bool = False,
                 slow_every: int | None = None, slow_ms: float = 0.0,
                 routes: dict[str, float] | None = None, name: str | None = None,
                 by_source: dict[str, float] | None = None) -> None:
        self.loop = loop
        # `--delay-by-source`: client address -> extra s on every answer to a connection from it
        self.by_source = {addr: ms / 1000.0 for addr, ms in (by_source or {}).items()}
        # `--name`: every answer says which server gave it (X-Served-By), as a backend behind a balancer does
        self.served_by = f"X-Served-By: {name}\r\n" if name else ""
        self.slow_every = slow_every
        self.slow = slow_ms / 1000.0
        self.received = 0
        # path -> (its index in the recording, its delay or service time in s)
        self.routes = {path.encode(): (k, ms / 1000.0) for k, (path, ms) in enumerate((routes or {}).items())}
        self.precise = precise
        self.big_every = big_every
        self.big = big_body(big_bytes) if big_every else b""
        self.answered = 0
        self.mode = mode
        self.delay = delay_ms / 1000.0
        self.service = service_ms / 1000.0
        self.free_slots = slots
        self.waiting: deque = deque()        # (request, recv) waiting for a slot
        self.recorder = recorder
        self.max_requests = max_requests
        self.on_done = on_done

    # delay mode: answer at recv + D
    # slots mode: a free slot serves at once; a busy slot, when its service
    # ends at virtual time `end`, serves the next waiting request from
    # max(end, its recv), not from when the timer actually fired.
    def submit(self, req: _Request, path: bytes = b"") -> None:
        route = self.routes.get(path)
        if route is not None:
            req.route, req.time = route
        else:
            req.time = self.delay if self.mode == "delay" else self.service
        req.time += req.conn.extra
        if self.mode == "delay":
            req.start = req.recv
            self.received += 1
            slow = self.slow if self.slow_every and self.received % self.slow_every == 0 else 0.0
            self._at(req.recv + req.time + slow, self._finish_delay, req)
        elif self.free_slots > 0:
            self.free_slots -= 1
            self._serve(req, req.recv)
        else:
            self.waiting.append(req)

    def _serve(self, req: _Request, start: float) -> None:
        req.start = start
        self._at(start + req.time, self._finish_slot, req)

    def _at(self, when: float, fn: Any, req: _Request) -> None:
        delay = when - perf_counter() - (_TICK if self.precise else 0.0)
        self.loop.call_later(delay if delay > 0 else 0, fn, req, when)

    def _early(self, when: float, fn: Any, req: _Request) -> bool:
        """The timer fired before `when`: wait out the rest (spin when precise, else another timer)."""
        if perf_counter() >= when:
            return False
        if self.precise:
            self.loop.call_soon(fn, req, when)
        else:
            self._at(when, fn, req)
        return True

    def _finish_delay(self, req: _Request, when: float) -> None:
        if self._early(when, self._finish_delay, req):
            return
        self._respond(req)

    def _finish_slot(self, req: _Request, end: float) -> None:
        if self._early(end, self._finish_slot, req):
            return
        self._respond(req)
        # hand the slot on at the virtual end of this service
        while self.waiting:
            nxt = self.waiting.popleft()
            if nxt.conn.closed:
                continue
            self._serve(nxt, max(end, nxt.recv))
            return
        self.free_slots += 1

    def _respond(self, req: _Request) -> None:
        req.conn.complete(req)

    def sent(self, req: _Request) -> None:
        """Called once per request when its response has been written (or dropped with its connection)."""
        rec = self.recorder
        rec.add(req.recv, req.start, req.sent, req.route)
        if self.max_requests is not None and rec.count == self.max_requests:
            self.on_done()


class _Request:
    __slots__ = ("conn", "recv", "start", "sent", "keep_alive", "ready", "response", "route", "time")

    def __init__(self, conn: _Conn, recv: float, keep_alive: bool) -> None:
        self.conn = conn
        self.recv = recv
        self.route = -1
        self.time = 0.0
        self.start = recv
        self.sent = float("nan")
        self.keep_alive = keep_alive
        self.ready = False


class _Conn:
    """One client connection (an asyncio.Protocol; httptools calls the on_* methods)."""

    def __init__(self, server: _Server) -> None:
        import httptools

        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.error = httptools.HttpParserError
        self.transport: Any = None
        self.closed = False
        self.queue: deque[_Request] = deque()  # responses owed, in request order
        self.closing = False
        self.url = b""
        self.extra = 0.0   # s added to every answer on this connection (its source address's delay)

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.server.by_source:
            peer = transport.get_extra_info("peername")
            self.extra = self.server.by_source.get(peer[0], 0.0) if peer else 0.0
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except self.error:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.closing = True
            self.transport.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def pause_writing(self) -> None:  # pragma: no cover - nothing to throttle
        pass

    def resume_writing(self) -> None:  # pragma: no cover
        pass

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        req = _Request(self, perf_counter(), bool(self.parser.should_keep_alive()))
        path = self.url.split(b"?", 1)[0]
        self.url = b""
        self.queue.append(req)
        self.server.submit(req, path)

    # responses
    def complete(self, req: _Request) -> None:
        """`req` is answered: write it, and any later ones already done, in request order."""
        req.ready = True
        q = self.queue
        while q and q[0].ready:
            r = q.popleft()
            now = perf_counter()
            if self.closed or self.closing:
                r.sent = now
                self.server.sent(r)
                continue
            dur_ms = (now - r.recv) * 1000.0
            server = self.server
            server.answered += 1
            body = server.big if server.big_every and server.answered % server.big_every == 0 else BODY
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nServer-Timing: app;dur={dur_ms:.3f}\r\n{server.served_by}"
            )
            if not r.keep_alive:
                head += "Connection: close\r\n"
            self.transport.write(head.encode("ascii") + b"\r\n" + body)
            r.sent = perf_counter()
            self.server.sent(r)
            if not r.keep_alive:
                self.closing = True
                self.transport.close()


class _IdConn(_Conn):
    """`--log-ids FILE`: a connection that also logs each request's X-Request-Id and traceparent, one JSON
    line per request as it is read (`null` when absent), as a server's access log would (docs/correlation.md).
    Only this mode parses headers: the other servers' cost per request is unchanged."""

    log: Any = None   # the open log file (set by `serve`)

    def __init__(self, server: _Server) -> None:
        super().__init__(server)
        self.ids: dict[str, str] = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        low = name.lower()
        if low in (b"x-request-id", b"x-correlation-id", b"traceparent"):
            self.ids["traceparent" if low == b"traceparent" else "request_id"] = value.decode("latin-1")

    def on_message_complete(self) -> None:
        import json

        self.log.write(json.dumps({"request_id": self.ids.get("request_id"),
                                   "traceparent": self.ids.get("traceparent")}) + "\n")
        self.log.flush()
        self.ids = {}
        super().on_message_complete()


def _new_loop() -> Any:
    import asyncio

    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()


def serve(mode: str, *, port: int = 0, delay_ms: float = 20.0, slots: int = 4, service_ms: float = 10.0,
          precise: bool = False,
          record: str | None = None, max_requests: int | None = None, parent_pid: int | None = None,
          big_every: int | None = None, big_bytes: int = 0, slow_every: int | None = None,
          slow_ms: float = 0.0, routes: dict[str, float] | None = None, name: str | None = None,
          by_source: dict[str, float] | None = None, log_ids: str | None = None) -> None:
    """Run a reference server in this process until SIGTERM/SIGINT or `max_requests` answers."""
    import asyncio

    loop = _new_loop()
    asyncio.set_event_loop(loop)
    stop = asyncio.Event()
    recorder = _Recorder(record)

    def on_done() -> None:
        # let the last response leave before stopping
        loop.call_soon(stop.set)

    server_state = _Server(loop, mode, delay_ms, slots, service_ms, recorder, max_requests, on_done,
                           big_every=big_every, big_bytes=big_bytes, precise=precise,
                           slow_every=slow_every, slow_ms=slow_ms, routes=routes, name=name, by_source=by_source)

    async def main_coro() -> None:
        conn: type[_Conn] = _Conn
        if log_ids:
            conn = _IdConn
            _IdConn.log = open(log_ids, "a", encoding="utf-8")
        server = await loop.create_server(lambda: conn(server_state), HOST, port, backlog=4096, reuse_address=True)
        bound = server.sockets[0].getsockname()[1]
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if parent_pid is not None:
            # exit if orphaned, so a crashed test run leaves no server behind
            def watch() -> None:
                if os.getppid() != parent_pid:
                    stop.set()
                else:
                    loop.call_later(0.5, watch)

            loop.call_later(0.5, watch)
        print(f"{_READY_PREFIX}{HOST}:{bound}", flush=True)
        await stop.wait()
        server.close()

    try:
        loop.run_until_complete(main_coro())
    finally:
        recorder.write()
        loop.close()


def _positive_float(text: str) -> float:
    v = float(text)
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return v


def _route(text: str) -> tuple[str, float]:
    path, sep, ms = text.partition("=")
    if not sep or not path.startswith("/"):
        raise argparse.ArgumentTypeError(f"expected PATH=MS such as /a=2, got {text!r}")
    return path, _positive_float(ms)


def _source_delay(text: str) -> tuple[str, float]:
    addr, sep, ms = text.partition("=")
    if not sep or not addr.strip():
        raise argparse.ArgumentTypeError(f"expected ADDRESS=MS such as 127.0.0.3=20, got {text!r}")
    return addr.strip(), _positive_float(ms)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m stinger.testing.servers", description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("delay", "slots"))
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--delay-ms", type=_positive_float, default=20.0, help="delay mode: answer after this many ms")
    ap.add_argument("--slots", type=_positive_int, default=4, help="slots mode: concurrent service slots K")
    ap.add_argument("--service-ms", type=_positive_float, default=10.0, help="slots mode: ms a request holds a slot")
    ap.add_argument("--precise", action="store_true",
                    help="answer within microseconds of the due instant (spins the last timer tick; costs CPU)")
    ap.add_argument("--record", default=None, help="write per-request timings here on exit (.npy or .csv)")
    ap.add_argument("--max-requests", type=_positive_int, default=None, help="exit after this many answers")
    ap.add_argument("--parent-pid", type=int, default=None, help="exit when this parent process goes away")
    ap.add_argument("--big-every", type=_positive_int, default=None,
                    help="answer every N-th request with a big JSON body")
    ap.add_argument("--big-bytes", type=_positive_int, default=1_000_000, help="about how big that body is")
    ap.add_argument("--slow-every", type=_positive_int, default=None,
                    help="delay mode: answer every N-th request --slow-ms later")
    ap.add_argument("--slow-ms", type=_positive_float, default=0.0)
    ap.add_argument("--route", type=_route, action="append", default=[], metavar="PATH=MS",
                    help="requests to PATH take MS (the delay, or the service time in slots mode); repeatable")
    ap.add_argument("--name", default=None, help="answer with the header X-Served-By: NAME (a backend's name)")
    ap.add_argument("--delay-by-source", type=_source_delay, action="append", default=[], metavar="ADDRESS=MS",
                    help="answers to connections from ADDRESS (e.g. 127.0.0.3) take MS longer; repeatable")
    ap.add_argument("--log-ids", default=None, metavar="FILE",
                    help="append each request's X-Request-Id and traceparent to FILE, one JSON line per request")
    a = ap.parse_args(argv)
    serve(a.mode, port=a.port, delay_ms=a.delay_ms, slots=a.slots, service_ms=a.service_ms,
          record=a.record, max_requests=a.max_requests, parent_pid=a.parent_pid,
          big_every=a.big_every, big_bytes=a.big_bytes, precise=a.precise,
          slow_every=a.slow_every, slow_ms=a.slow_ms, routes=dict(a.route) or None, name=a.name,
          by_source=dict(a.delay_by_source) or None, log_ids=a.log_ids)


# ==================================================================== client side
def read_records(path: str | Path) -> Any:
    """A recording as a numpy structured array with fields recv, start, send (seconds) and route."""
    import numpy as np

    p = Path(path)
    if p.suffix == ".csv":
        data = np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2)
        rec = np.zeros(len(data), dtype=RECORD_DTYPE)
        if len(data):
            rec["recv"], rec["start"], rec["send"] = data[:, 0], data[:, 1], data[:, 2]
            rec["route"] = data[:, 5] if data.shape[1] > 5 else -1
        return rec
    return np.load(p)


class RefServer:
    """A reference server in a subprocess: ``with RefServer("delay", delay_ms=20, record=True) as s: ...``.

    `record=True` records into a private temporary file; a path records there
    (and keeps the file). `timings()` and `records()` are available after
    `stop()`.
    """

    def __init__(self, mode: str = "delay", *, delay_ms: float = 20.0, slots: int = 4, service_ms: float = 10.0,
                 record: bool | str | Path = False, max_requests: int | None = None,
                 startup_timeout: float = 15.0, big_every: int | None = None, big_bytes: int = 1_000_000,
                 precise: bool = False, slow_every: int | None = None, slow_ms: float = 0.0,
                 routes: dict[str, float] | None = None, name: str | None = None,
                 delay_by_source: dict[str, float] | None = None, log_ids: bool = False) -> None:
        if mode not in ("delay", "slots"):
            raise ValueError(f"mode must be 'delay' or 'slots', got {mode!r}")
        self.mode = mode
        self.delay_ms = delay_ms
        self.slots = slots
        self.service_ms = service_ms
        self.max_requests = max_requests
        self.big_every = big_every
        self.big_bytes = big_bytes
        self.precise = precise
        self.slow_every, self.slow_ms = slow_every, slow_ms
        self.routes = dict(routes or {})
        self.name = name
        self.delay_by_source = dict(delay_by_source or {})
        self.ids_path: Path | None = None
        if log_ids:   # each request's X-Request-Id and traceparent (`logged_ids()`)
            self.ids_path = Path(tempfile.mkdtemp(prefix="stinger-ids-")) / "ids.jsonl"
        self.startup_timeout = startup_timeout
        self._tmpdir: str | None = None
        if record is True:
            self._tmpdir = tempfile.mkdtemp(prefix="stinger-ref-")
            self.record_path: Path | None = Path(self._tmpdir) / "timings.npy"
        elif record:
            self.record_path = Path(record)
        else:
            self.record_path = None
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._records: Any = None
        self._stderr: Any = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the server is not started")
        return self.proc.pid

    @property
    def capacity(self) -> float | None:
        """Requests per second the slots server sustains by construction (None in delay mode)."""
        return self.slots / (self.service_ms / 1000.0) if self.mode == "slots" else None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "stinger.testing.servers", self.mode, "--port", "0",
               "--delay-ms", repr(float(self.delay_ms)), "--slots", str(self.slots),
               "--service-ms", repr(float(self.service_ms)), "--parent-pid", str(os.getpid())]
        if self.record_path is not None:
            cmd += ["--record", str(self.record_path)]
        if self.max_requests is not None:
            cmd += ["--max-requests", str(self.max_requests)]
        if self.big_every is not None:
            cmd += ["--big-every", str(self.big_every), "--big-bytes", str(self.big_bytes)]
        if self.precise:
            cmd.append("--precise")
        if self.slow_every is not None:
            cmd += ["--slow-every", str(self.slow_every), "--slow-ms", repr(float(self.slow_ms))]
        for path, ms in self.routes.items():
            cmd += ["--route", f"{path}={float(ms)!r}"]
        if self.name:
            cmd += ["--name", self.name]
        for addr, ms in self.delay_by_source.items():
            cmd += ["--delay-by-source", f"{addr}={float(ms)!r}"]
        if self.ids_path is not None:
            cmd += ["--log-ids", str(self.ids_path)]
        return cmd

    def logged_ids(self) -> list[tuple[str | None, str | None]]:
        """With `log_ids=True`: (X-Request-Id, traceparent) of every request read, in order (None: absent)."""
        import json

        if self.ids_path is None or not self.ids_path.exists():
            return []
        recs = [json.loads(line) for line in self.ids_path.read_text().splitlines() if line.strip()]
        return [(r["request_id"], r["traceparent"]) for r in recs]

    def start(self) -> RefServer:
        if self.proc is not None:
            raise RuntimeError("the server is already started")
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while self.port is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                err = self._stderr_tail()
                self.stop()
                raise RuntimeError(f"reference server did not start: {err or 'no output'}")
            if line.startswith(_READY_PREFIX):
                self.port = int(line.strip().rsplit(":", 1)[1])
        # the line is printed after listen(); one connect confirms it from here
        for _ in range(100):
            try:
                socket.create_connection((HOST, self.port), timeout=1.0).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError(f"reference server on port {self.port} accepts no connection")
        return self

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()[-500:]

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the server, wait, SIGKILL if it lingers; return its exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self.record_path is not None and self._records is None and self.record_path.exists():
            self._records = read_records(self.record_path)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        return proc.returncode

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for a server started with `max_requests` to exit by itself."""
        if self.proc is None:
            raise RuntimeError("the server is not started")
        code = self.proc.wait(timeout=timeout)
        self.stop()
        return code

    def records(self) -> Any:
        """The recording (fields recv, start, send, seconds on perf_counter) after stop()."""
        if self.record_path is None:
            raise RuntimeError("this server was not asked to record (record=True or a path)")
        if self._records is None:
            if self.proc is not None and self.proc.poll() is None:
                raise RuntimeError("stop() the server before reading its timings")
            self._records = read_records(self.record_path)
        return self._records

    def timings(self) -> Any:
        """Per-request server durations (send - recv) in seconds, in completion order."""
        rec = self.records()
        return rec["send"] - rec["recv"]

    def route_records(self, path: str) -> Any:
        """The recording's rows of requests to `path` (one of `routes`)."""
        rec = self.records()
        return rec[rec["route"] == list(self.routes).index(path)]

    def waits(self) -> Any:
        """Per-request queue waits (start - recv) in seconds; 0 in delay mode."""
        rec = self.records()
        return rec["start"] - rec["recv"]

    def __enter__(self) -> RefServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
