"""The engine core of one worker: targets and pools, dispatch, connections, completion, flush.

The executors (`engine.open_model`, `engine.closed_model`) decide *when* a
request is intended; this module sends it and accounts for how it ended.

Per request the hot path does a handful of attribute stores, one
`conn.transport.write` of bytes built once per (endpoint, payload) by the variant's
target (connections and transports: the contract in `engine.transport`),
and on completion one tuple appended to `Columns.rows` (plus the
captured header values or body when the run needs them). Everything else
(latency arithmetic, histograms, checks, server-time headers, the target's
`interpret`) happens once per interval on the flush thread, vectorised.
Latency is `done - intended`, service time `done - sent`, schedule lag
`sent - intended` (see DESIGN.md); all stamps are `perf_counter()` values,
shared across worker processes on one machine.

Interference (A/B runs): a request dispatched while a request of another
variant is in flight (dispatched and not ended: `in_flight` counts every
variant's, `in_flight_of[v]` variant v's, and the two change together wherever
a request starts or ends) is marked *overlapped* (bit `OVERLAPPED_BIT` of its
`queued` column); the flush thread records its latency and server time a second
time under `latency_ov` / `server_ov`, so the run knows each variant's latency
with and without another variant in flight. Kept per worker: each worker sees
its own requests only. The cost is a list addition and a compare at dispatch
and a list subtraction at the end: about 150 ns a request here (bench/hot_path.py
--cpu), paid by every run.

Request bytes: `Pool.cache[p]` holds bytes that never expire (plain HTTP), so
the send path is one list lookup; bytes with a validity time (a signed
request) live in `Pool.expiring` and are re-built by the target once
`now >= expiry`, checked only on that slower path.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter
from typing import TYPE_CHECKING

from stinger.core.records import Kind
from stinger.engine.columns import ENDPOINT_SHIFT, OVERLAPPED_BIT, QUEUE_STATE, Columns, id_variants
from stinger.engine.plan import ATTRIBUTED, WorkerPlan
from stinger.engine.transport import Connection as Conn
from stinger.engine.transport import Pool, Transport, Wire, transport_class
from stinger.targets.base import NEVER_EXPIRES, build_target

NAN = float("nan")
_TOP = 1 << 63                # a span id's top bit: never zero (core/correlation.py)
_SWEEP_EVERY = 0.05          # how often timeouts are checked (s)
_PROBE_EVERY = 0.1           # event-loop lag probe period (s)
SAMPLE_BYTES = 200           # bytes of the first body per error status kept for the failure report


def _unique(names) -> tuple[str, ...]:
    out: list[str] = []
    for n in names:
        n = n.lower()
        if n not in out:
            out.append(n)
    return tuple(out)


class EngineCore:
    """Pools, dispatch and completion for one worker's share of a plan (see the module docstring).

    `emit(message)` receives one message per interval (see `stinger.engine.batch`)
    and a final one; the worker process forwards them to the coordinator.
    """

    if TYPE_CHECKING:  # pragma: no cover - the executors' halves (engine.open_model, engine.closed_model)
        def _start_open(self) -> None: ...
        def _start_closed(self) -> None: ...
        def _user_next(self, user: int, done: float, failed_connect: bool = False) -> None: ...
        def _session_counters(self, final: bool) -> dict[str, list[int]]: ...

    def _init_core(self, plan: WorkerPlan, emit: Callable) -> None:
        from stinger.engine.batch import Flusher  # late: keeps numpy-heavy code out of import of http
        from stinger.engine.slots import build_slots

        self.plan = plan
        self.t0 = 0.0
        self.nvar = len(plan.variants)
        self.timeout = plan.timeout
        self.connect_timeout = plan.connect_timeout
        self.max_in_flight = max(1, plan.max_in_flight)
        self.drop = plan.on_limit == "drop"
        self.warm_end = 0.0
        self.end = math.inf
        self.stopping = False
        self.interrupted = False   # stopped by the coordinator (a signal, an abort rule), not by the schedule

        self.slots = build_slots(plan)  # dataset, payload order, variant choice
        self.check = self.slots.check
        # one live target per variant, built here: sockets and credentials do not travel. A
        # an attributed split shares one target over its variants (it attributes every response)
        if plan.split == ATTRIBUTED:
            shared = build_target(plan.variants[-1].target)
            self.targets = [shared] * len(plan.variants)
        else:
            self.targets = [build_target(v.target) for v in plan.variants]
        if plan.response_hook is not None:   # the user's hook reads the answers on the flush thread
            from stinger.targets.hooks import hooked

            self.targets = hooked(self.targets, plan.response_hook, [v.name for v in plan.variants])
        needs = [t.needs() for t in self.targets]
        st = plan.server_time_header
        sb = plan.served_by_header.lower() if plan.served_by_header else None
        header_names = _unique(([st] if st else []) + ([sb] if sb else []) + [h for n in needs for h in n.headers])
        # a target asking for error bodies (a container's error message) gets every body kept:
        # only runs with such a target pay for it, plain HTTP's connections stay as they were
        keep_bodies = self.slots.keep_bodies or any(n.body or getattr(n, "error_bodies", False) for n in needs)
        keep_chunks = any(n.chunk_times for n in needs)
        self.want_body = keep_bodies
        self.keep_extra = keep_bodies or keep_chunks
        self.cols = Columns(header_names, keep_bodies=keep_bodies, keep_chunks=keep_chunks)
        # (this interval's columns, requests ended before them): one tuple, swapped whole at a flush, so
        # `completed()` reads a consistent pair from another thread (the pulse's) without a lock
        self.done_base: tuple[Columns, int] = (self.cols, 0)
        self._flusher_cls = Flusher
        self.emit = emit

        # pools: one per (variant, endpoint); round robin inside a variant. Each pool's transport
        # (the carrier's: engine.transport) and connection class are chosen here, once
        self.pools: list[list[Pool]] = []
        self.rr = [0] * self.nvar
        self.transports: dict[str, Transport] = {}
        classes: dict[tuple[str, bool], type] = {}
        index = 0
        for target, need in zip(self.targets, needs, strict=True):
            name = target.transport
            transport = self.transports.get(name)
            if transport is None:
                transport = self.transports[name] = transport_class(name)()
            if (name, need.head) not in classes:
                classes[name, need.head] = transport.connection_class(Wire(
                    header_names, keep_bodies, keep_chunks, need.head, plan.max_body, plan.max_header))
            row = []
            for ep in target.endpoints():
                pool = Pool(index=index, endpoint=ep, target=target, address=None, ssl=None, is_head=need.head,
                            cache=[None] * self.slots.cache_size, transport=transport,
                            conn_class=classes[name, need.head], source=plan.source_address)
                transport.prepare(pool, plan.verify_tls)
                row.append(pool)
                index += 1
            self.pools.append(row)
        self.single = [row[0] if len(row) == 1 else None for row in self.pools]
        # request IDs (core/correlation.py): worker w numbers its requests w, w + W, w + 2W, ...; a
        # variant that sends them has its header lines' template here (None: nothing added, no cost)
        self.rids = itertools.count(plan.worker, max(1, plan.workers))
        self.id_lines = self._id_templates(plan)
        if any(line is not None for line in self.id_lines):   # else `_send` stays the one without IDs
            self._send = self._send_ids   # type: ignore[method-assign]
        self.conns: set[Conn] = set()
        self.connecting: set[asyncio.Future] = set()
        self.in_flight = 0
        # in_flight per variant, changed with it: another variant's request is in flight when
        # in_flight != in_flight_of[v] (interference, see the module docstring)
        self.in_flight_of = [0] * self.nvar
        self.pending: deque = deque()
        self.scheduled = [0] * self.nvar
        self.scheduled_warm = [0] * self.nvar
        self.dropped = [0] * self.nvar
        self.dropped_warm = [0] * self.nvar
        self.overflow = [0] * self.nvar
        self.sampled: list[set[int]] = [set() for _ in range(self.nvar)]      # statuses sampled so far
        self.samples: list[dict[int, str]] = [{} for _ in range(self.nvar)]  # new since the last flush
        self.tls_error: str | None = None   # the first TLS handshake failure, reported once
        self.tls_reported = False
        self.build_error: str | None = None  # the first request a target could not build, reported once
        self.build_failed_variants: set[int] = set()
        self.build_reported = False
        self._draining = False
        self.unfinished_queued: list[list[int]] | None = None   # queued at the normal end (`_unfinished_queue`)
        self.unfinished_at = 0.0
        self.unsolicited = [0] * self.nvar   # responses no request waited for (endpoint protocol errors)
        self.loop_lags: list[float] = []
        self.bytes_out = [0] * self.nvar
        # Interval processing (numpy, checks, header parsing) runs on this thread so
        # the event loop never stalls for it; one thread keeps the messages in order.
        self.flush_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stinger-flush")
        self.schedule_done = False
        self.sched_end = math.inf  # when the schedule ran out (count-limited runs)
        self.sessions_open = 0     # multi-turn sessions not yet ended (engine/sessions.py)
        self._handles: list[asyncio.TimerHandle] = []

    # ------------------------------------------------------------------ run
    async def run(self, t0: float) -> None:
        """Run the plan with the run clock starting at `t0` (a perf_counter value)."""
        plan = self.plan
        self.loop = asyncio.get_running_loop()
        self.finished = asyncio.Event()
        self.t0 = t0
        self.warm_end = t0 + plan.warmup
        self.end = t0 + plan.duration if plan.duration else math.inf
        self.flusher = self._flusher_cls(plan, t0, self.slots, self.targets)
        self._interval_k = 1
        self._edge = self.t0 + plan.interval   # the next interval tick (the open pump reads it: tick_now)
        self._tick_h = self._call_at(self._edge, self._on_interval)
        self._call_at(self.t0 + _SWEEP_EVERY, self._sweep)
        self._probe_due = self.t0 + _PROBE_EVERY
        self._call_at(self._probe_due, self._probe)
        if plan.open is not None:
            self._start_open()
        else:
            self._start_closed()
        await self.finished.wait()
        self.stopping = True
        for h in self._handles:
            h.cancel()
        in_flight = self._in_flight_by_variant()
        open_rows = self._open_rows() if plan.requests_path is not None else None
        self.flusher.interrupted = self.interrupted
        self._close_all()
        for transport in self.transports.values():
            await transport.close()
        await asyncio.wrap_future(self.flush(final=True, in_flight_by_variant=in_flight, open_rows=open_rows))
        self.flush_thread.shutdown(wait=True)

    def stop(self) -> None:
        """Stop scheduling now; what is in flight is counted as in flight at stop."""
        if not self.stopping:
            self.stopping = True
            self.schedule_done = True
            self.finished.set()

    def _call_at(self, when: float, fn) -> asyncio.TimerHandle:
        delay = when - perf_counter()
        h = self.loop.call_later(delay if delay > 0 else 0, fn)
        self._handles.append(h)
        if len(self._handles) > 64:  # periodic timers: forget the ones that have fired
            now = self.loop.time()
            self._handles = [x for x in self._handles
                             if not x.cancelled() and getattr(x, "when", lambda: now)() >= now]
        return h

    # ------------------------------------------------------------- dispatch
    def _dispatch(self, intended: float, v: int, p: int, user: int, queued: int = 0) -> None:
        if self.stopping:
            return
        rid = next(self.rids)
        pool = self.single[v]
        if pool is None:  # several endpoints: round robin
            pools = self.pools[v]
            k = self.rr[v]
            self.rr[v] = k + 1
            k %= len(pools)
            pool = pools[k]
            queued |= k << ENDPOINT_SHIFT   # which URL of the variant: its per-URL row (engine/batch.py)
        self.in_flight += 1
        of = self.in_flight_of
        of[v] += 1
        if of[v] != self.in_flight:   # another variant's request is in flight: interference
            queued |= OVERLAPPED_BIT
        if pool.idle:
            conn = pool.idle.pop()
            conn.user = user
            conn.queued = queued
            conn.rid = rid
            self._send(conn, intended, v, p)
            return
        if pool.address is None:  # the name did not resolve before the run: no lookup per request
            self._fail_unsent(intended, v, p, user, queued, Kind.DNS, rid)
            return
        conn = pool.conn_class(self, pool, self.want_body)
        # waiting for a new connection is the server's time (accept), not the generator's
        conn.queued = queued if queued & QUEUE_STATE else queued | 2
        conn.busy = True
        conn.intended = intended
        conn.variant = v
        conn.payload = p
        conn.user = user
        conn.rid = rid
        conn.deadline = perf_counter() + self.connect_timeout
        self.conns.add(conn)
        fut = asyncio.ensure_future(pool.transport.open(self.loop, conn, pool))
        self.connecting.add(fut)
        fut.add_done_callback(lambda f, c=conn: self._connected(f, c))

    def _connected(self, fut: asyncio.Future, conn: Conn) -> None:
        self.connecting.discard(fut)
        if self.stopping:
            return
        exc: BaseException | str | None = "cancelled" if fut.cancelled() else fut.exception()
        if exc is None:
            return  # connection_made already sent the request
        self.conns.discard(conn)
        kind = conn.pool.transport.connect_kind(exc) if isinstance(exc, BaseException) else int(Kind.CONNECT)
        if kind == Kind.TLS and self.tls_error is None:
            self.tls_error = f"{conn.pool.endpoint.host}:{conn.pool.endpoint.port}: {exc}"
        if conn.busy:
            conn.busy = False
            self._fail(conn, kind, sent=NAN)

    def on_connected(self, conn: Conn) -> None:
        if conn.busy:
            if self.stopping:
                conn.abort()
                return
            self._send(conn, conn.intended, conn.variant, conn.payload)
        else:  # the request timed out while connecting
            conn.close()

    def _send(self, conn: Conn, intended: float, v: int, p: int) -> None:
        conn.intended = intended
        conn.variant = v
        conn.payload = p
        conn.busy = True
        pool = conn.pool
        cache = pool.cache
        req = cache[p] if p < len(cache) else None
        if req is None:
            req = self._build(pool, p)
            if req is None:   # the target could not build it (the slow path only): counted, never sent
                self._unbuilt(conn, intended, v, p)
                return
        self.bytes_out[v] += len(req)
        s = perf_counter()
        conn.sent = s
        conn.deadline = s + self.timeout
        conn.transport.write(req)   # type: ignore[union-attr]  # an open connection has its transport

    def _send_ids(self, conn: Conn, intended: float, v: int, p: int) -> None:
        """`_send` for a run where some variant sends request IDs (core/correlation.py): the same, plus the
        ID lines after the request line. Two copies, so a run without IDs pays not even the test."""
        conn.intended = intended
        conn.variant = v
        conn.payload = p
        conn.busy = True
        pool = conn.pool
        cache = pool.cache
        req = cache[p] if p < len(cache) else None
        if req is None:
            req = self._build(pool, p)
            if req is None:
                self._unbuilt(conn, intended, v, p)
                return
        lines = self.id_lines[v]
        if lines is not None:
            req = self._with_ids(req, lines, conn.rid)
        self.bytes_out[v] += len(req)
        s = perf_counter()
        conn.sent = s
        conn.deadline = s + self.timeout
        conn.transport.write(req)   # type: ignore[union-attr]  # an open connection has its transport

    def _id_templates(self, plan: WorkerPlan) -> list[bytes | None]:
        """Per variant, the request-ID header lines' template (core/correlation.py), or None: a variant
        that does not send them, or whose transport does not speak HTTP/1.1 bytes (gRPC: not yet)."""
        from stinger.core.correlation import header_template, trace_hi

        self.id_hi = hi = trace_hi(plan.seed)
        self.id_mode = (bool(plan.request_id_header), plan.traceparent)
        lines = header_template(hi, plan.request_id_header, plan.traceparent)
        return [lines if on else None for on in id_variants(plan, self.targets)]

    def _with_ids(self, req: bytes, lines: bytes, rid: int) -> bytes:
        header, traceparent = self.id_mode
        if header and traceparent:
            ids = lines % (rid, rid, (self.id_hi ^ rid) | _TOP)
        elif traceparent:
            ids = lines % (rid, (self.id_hi ^ rid) | _TOP)
        else:
            ids = lines % rid
        k = req.find(b"\r\n") + 2   # after the request line (slices + join measured cheaper than a memoryview's)
        return b"".join((req[:k], ids, req[k:]))

    def _build(self, pool: Pool, p: int) -> bytes | None:
        """The request bytes for payload p on `pool` when the never-expiring cache has none;
        None when the target cannot build them (a payload it cannot read, a header it cannot
        encode): that request is `build_failed`, the target's message kept for the summary."""
        now = perf_counter()
        held = pool.expiring.get(p)
        if held is not None and now < held[1]:
            return held[0]
        try:
            req, expiry = pool.target.request(pool.endpoint, self.slots.body(p), now,
                                              content_type=self.slots.content_type_of(p))
        except Exception as exc:   # any target's error: one request fails, the run goes on
            if self.build_error is None:
                self.build_error = f"{type(exc).__name__}: {exc}"
            return None
        cache = pool.cache
        if p < len(cache):  # small datasets keep their bytes; large ones build each time
            if expiry == NEVER_EXPIRES:
                cache[p] = req
            else:
                pool.expiring[p] = (req, expiry)
        return req

    def _unbuilt(self, conn: Conn, intended: float, v: int, p: int) -> None:
        """A request whose bytes could not be built: `build_failed`, never sent; its
        (already open) connection goes back to the idle ones."""
        conn.busy = False
        conn.pool.idle.append(conn)
        self.build_failed_variants.add(v)
        self._fail_unsent(intended, v, p, conn.user, conn.queued, Kind.BUILD, conn.rid)

    # ----------------------------------------------------------- completion
    def finish(self, conn: Conn) -> None:
        """A whole response arrived (called from the parser callback)."""
        done = perf_counter()
        status = conn.status
        if status < 400:
            kind = 0
        else:  # the error path only: successes pay nothing for the sample bodies
            kind = 5 if status < 500 else 6
            if status not in self.sampled[conn.variant]:
                self._sample(conn, status)
        cols = self.cols
        v = conn.variant
        cols.rows.append((conn.intended, conn.sent, conn.first_byte, done, kind, status, v,
                          conn.nbytes, conn.payload, conn.queued, conn.rid))
        if cols.hvals is not None:
            cols.hvals.append(conn.hv)
            conn.hv = None
        if self.keep_extra:  # bodies or chunk times: one test on the common path
            self._keep_extra(conn, cols)
        conn.first_byte = 0.0
        conn.nbytes = 0
        conn.busy = False
        self.in_flight -= 1
        self.in_flight_of[v] -= 1
        user = conn.user
        if not conn.keep:
            conn.close()
        else:
            conn.pool.idle.append(conn)
        if user >= 0:
            self._user_next(user, done)
        elif self.pending:
            self._drain_pending()
        elif self.schedule_done:
            self._maybe_finish()

    def _sample(self, conn: Conn, status: int) -> None:
        """Keep the first ~200 bytes of the first body of this error status (per variant,
        for the failure report): from the kept body, or else from the response's first
        bytes (`conn.head`, already held), so no connection captures bodies for it."""
        self.sampled[conn.variant].add(status)
        if conn.body:
            raw = b"".join(conn.body)[:SAMPLE_BYTES]
        else:
            head = conn.head
            cut = head.find(b"\r\n\r\n")
            raw = head[cut + 4:] if cut >= 0 else b""
            if not raw and cut >= 0 and conn.nbytes > len(head):
                # the head came alone: the body is in this response's later reads (`tail`,
                # the last of them; when nbytes == len(head) there were none and tail is stale)
                raw = conn.tail
            elif raw and b"chunked" in head[:cut].lower():  # drop the first chunk-size line
                nl = raw.find(b"\r\n")
                raw = raw[nl + 2:] if 0 <= nl < 10 else raw
            raw = raw[:SAMPLE_BYTES]
        self.samples[conn.variant][status] = raw.decode("utf-8", "replace")

    def _keep_extra(self, conn: Conn, cols: Columns) -> None:
        if cols.bodies is not None:   # then every connection keeps its body (`want_body`)
            cols.bodies.append(b"".join(conn.body))   # type: ignore[arg-type]
            conn.body.clear()   # type: ignore[union-attr]
        if cols.chunks is not None:
            cols.chunks.append(conn.chunks)
            conn.chunks = []

    def _drain_pending(self) -> None:
        # not re-entered: a request that fails at once (unbuildable, its host unresolved) would
        # otherwise drain the queue from inside this loop, one level deeper per queued request
        if self.stopping or self._draining:
            return
        self._draining = True
        try:
            pending = self.pending
            while pending and self.in_flight < self.max_in_flight:
                intended, v, p, user = pending.popleft()
                self._dispatch(intended, v, p, user, 1)
        finally:
            self._draining = False
        if self.schedule_done:
            self._maybe_finish()

    def _fail(self, conn: Conn, kind: int, sent: float | None = None) -> None:
        """Record a request that ended without a usable response."""
        done = perf_counter()
        cols = self.cols
        cols.rows.append((conn.intended, conn.sent if sent is None else sent, conn.first_byte, done, int(kind),
                          conn.status if kind == Kind.INVALID else 0, conn.variant, conn.nbytes, conn.payload,
                          conn.queued, conn.rid))
        if cols.hvals is not None:
            cols.hvals.append(None)
        if cols.bodies is not None:
            cols.bodies.append(b"")
            if conn.body:
                conn.body.clear()
        if cols.chunks is not None:
            cols.chunks.append([])
            conn.chunks = []
        conn.hv = None
        conn.first_byte = 0.0
        conn.nbytes = 0
        conn.status = 0
        self.in_flight -= 1
        self.in_flight_of[conn.variant] -= 1
        if conn.user >= 0:
            self._user_next(conn.user, done, failed_connect=kind in (Kind.CONNECT, Kind.TLS))
        elif self.pending:
            self._drain_pending()
        elif self.schedule_done:
            self._maybe_finish()

    def _fail_unsent(self, intended: float, v: int, p: int, user: int, queued: int, kind: int,
                     rid: int = -1) -> None:
        """Record a request that could not be sent at all (its host did not resolve)."""
        done = perf_counter()
        cols = self.cols
        cols.rows.append((intended, NAN, 0.0, done, int(kind), 0, v, 0, p, queued, rid))
        if cols.hvals is not None:
            cols.hvals.append(None)
        if cols.bodies is not None:
            cols.bodies.append(b"")
        if cols.chunks is not None:
            cols.chunks.append([])
        self.in_flight -= 1
        self.in_flight_of[v] -= 1
        if user >= 0:
            # a closed-model user waits as after a refused connection, not spinning
            self._user_next(user, done, True)
        elif self.pending:
            self._drain_pending()
        elif self.schedule_done:
            self._maybe_finish()

    def on_unsolicited(self, conn: Conn) -> None:
        """A response no request waits for: a protocol error of the endpoint, counted as
        such (`unsolicited`), never as a request. The connection's framing can no longer
        be trusted, so it is closed (a request already sent on it fails as invalid)."""
        self.unsolicited[conn.variant] += 1
        try:
            conn.pool.idle.remove(conn)
        except ValueError:
            pass
        self.on_broken(conn, invalid=True)

    def on_too_large(self, conn: Conn, kind: int = Kind.BODY_TOO_LARGE) -> None:
        """A kept body passed the cap (`load.max_body`): its own kind; the connection is closed."""
        if conn.busy:
            conn.busy = False
            self._fail(conn, kind)
        conn.abort()

    def on_header_too_large(self, conn: Conn) -> None:
        """A response head passed the cap (`load.max_header`): `header_too_large`, the connection
        closed, so neither the endpoint's time nor its bytes decide how long and how much it takes."""
        self.on_too_large(conn, Kind.HEADER_TOO_LARGE)

    def on_broken(self, conn: Conn, invalid: bool) -> None:
        if conn.busy:
            conn.busy = False
            self._fail(conn, Kind.INVALID if invalid else Kind.RESET)
        conn.abort()

    def on_lost(self, conn: Conn) -> None:
        if self.stopping and not conn.busy:
            return
        self.conns.discard(conn)
        pool = conn.pool
        if conn.busy:
            conn.busy = False
            self._fail(conn, Kind.RESET)
        else:
            try:
                pool.idle.remove(conn)
            except ValueError:
                pass

    # -------------------------------------------------------------- timers
    def _sweep(self) -> None:
        """Time out requests (and connects) past their deadline."""
        now = perf_counter()
        for conn in list(self.conns):
            if conn.busy and now > conn.deadline:
                conn.busy = False
                if conn.connected:
                    self._fail(conn, Kind.TIMEOUT)
                    conn.abort()
                else:
                    self._fail(conn, Kind.CONNECT, sent=NAN)
        if self.schedule_done and now > self._drain_deadline():
            self._end_unfinished()
            return
        self._call_at(now + _SWEEP_EVERY, self._sweep)

    def _end_unfinished(self) -> None:
        """The schedule is done and the drain is over: the run ends normally, and a request
        still unanswered now is a failure (`unfinished`, ended now, no latency), not "in flight
        at stop": an endpoint that never answers, in a run shorter than the timeout, must not
        end with an error rate of 0 %. Requests waiting in the in-flight queue were never sent
        (their `sent` is NaN). A run told to stop (`stop`: a signal, an abort rule, a decided
        sequential test) keeps its outstanding requests in flight, which is what they are then.
        """
        self.stopping = True   # nothing more is sent; a closed-model user retires on its failure
        for conn in list(self.conns):
            if conn.busy:
                conn.busy = False
                self._fail(conn, Kind.UNFINISHED, sent=None if conn.connected else NAN)
        pending, self.pending = self.pending, deque()
        if pending:
            self._unfinished_queue(pending)
        self.schedule_done = True
        self.finished.set()

    def _unfinished_queue(self, pending: deque) -> None:
        """Queued requests at the normal end, in bulk: an overloaded run ends with up to a million
        (`_PENDING_LIMIT`). They were never sent and have no times but `intended`, so the final
        record takes them as counts per variant (measured, warm-up): about 0.1 us each instead of
        a row each (1 us: 0.4 s of CPU for 400,000). Rows when something reads them: requests.csv,
        or an attributed split, whose attribution settles the rows that ended."""
        done = perf_counter()
        if self.plan.requests_path is not None or self.plan.split == ATTRIBUTED:
            kind, cols, n = int(Kind.UNFINISHED), self.cols, len(pending)
            cols.rows.extend([(intended, NAN, 0.0, done, kind, 0, v, 0, p, 1, -1) for intended, v, p, _ in pending])
            if cols.hvals is not None:
                cols.hvals.extend([None] * n)
            if cols.bodies is not None:
                cols.bodies.extend([b""] * n)
            if cols.chunks is not None:
                cols.chunks.extend([[] for _ in range(n)])
            return
        warm_end = self.warm_end
        counts = self.unfinished_queued = [[0, 0] for _ in range(self.nvar)]   # [measured, warm-up]
        for intended, v, _, _ in pending:
            counts[v][intended < warm_end] += 1
        self.unfinished_at = done

    def _drain_deadline(self) -> float:
        end = self.end if self.end != math.inf else self.sched_end
        return end + self.plan.drain

    def _probe(self) -> None:
        """Event-loop lag: how late a timer fires. Persistent lag means the generator is busy."""
        now = perf_counter()
        self.loop_lags.append(max(0.0, now - self._probe_due))
        self._probe_due = now + _PROBE_EVERY
        self.loop.call_later(_PROBE_EVERY, self._probe)

    def _on_interval(self) -> None:
        now = perf_counter()
        due = self._edge
        if now < due:
            # uvloop's timers tick in whole milliseconds and may fire a little early:
            # wait out the rest rather than flush a sliver of an interval (it used to
            # flush again and again until the boundary passed, waking the flush thread
            # ~10 times a second)
            self._tick_h = self._call_at(due, self._on_interval)
            return
        self.flush(final=False)
        if self.stopping:
            self._edge = math.inf
        else:
            self._interval_k = math.floor((now - self.t0) / self.plan.interval) + 1
            self._edge = self.t0 + self._interval_k * self.plan.interval
            self._tick_h = self._call_at(self._edge, self._on_interval)

    def tick_now(self) -> None:
        """The interval's tick run now, ahead of its timer: the open pump is about to fire a request
        intended at or after it (`_edge`), which belongs to the next interval. A request intended on a
        second's boundary was fired before the tick's timer ran and counted in the second before."""
        self._tick_h.cancel()
        self._on_interval()

    def _maybe_finish(self) -> None:
        # a session waiting out a think time has nothing in flight, but its next turn is still due
        if self.schedule_done and self.in_flight == 0 and not self.pending and not self.sessions_open:
            self.finished.set()
            self.stopping = True

    def _close_all(self) -> None:
        """Abort every connection; requests still in flight stay counted as in flight."""
        for fut in list(self.connecting):
            fut.cancel()
        self.connecting.clear()
        for conn in list(self.conns):
            conn.busy = False
            conn.abort()
        self.conns.clear()

    # --------------------------------------------------------------- flush
    def flush(self, final: bool, in_flight_by_variant: list[int] | None = None, open_rows: list | None = None):
        """Hand this interval's columns to the flush thread; O(1) on the loop."""
        cols = self.cols
        fresh = cols.fresh()
        self.done_base = (fresh, self.done_base[1] + len(cols.rows))
        self.cols = fresh
        counters = {
            "scheduled": self.scheduled, "scheduled_warm": self.scheduled_warm,
            "dropped": self.dropped, "dropped_warm": self.dropped_warm, "bytes_out": self.bytes_out,
            "overflow": self.overflow, "unsolicited": self.unsolicited,
        }
        if self.plan.payload.sessions is not None:   # how sessions ended (engine/sessions.py)
            counters.update(self._session_counters(final))
        self.overflow = [0] * self.nvar
        self.unsolicited = [0] * self.nvar
        self.scheduled = [0] * self.nvar
        self.scheduled_warm = [0] * self.nvar
        self.dropped = [0] * self.nvar
        self.dropped_warm = [0] * self.nvar
        self.bytes_out = [0] * self.nvar
        lags = self.loop_lags
        self.loop_lags = []
        in_flight = self.in_flight + len(self.pending)
        samples = self.samples if any(self.samples) else None
        if samples is not None:
            self.samples = [{} for _ in range(self.nvar)]
        notes: tuple[str, ...] = ()
        if self.tls_error is not None and not self.tls_reported:
            self.tls_reported = True
            notes = (f"TLS handshake failed ({self.tls_error}); those requests are counted as 'tls'",)
        if self.build_error is not None and not self.build_reported:
            from stinger.core.error_notes import note  # the summary puts it beside the build_failed count

            self.build_reported = True
            names = [self.plan.variants[v].name for v in sorted(self.build_failed_variants)]
            notes = (*notes, note(Kind.BUILD.label, names, self.build_error))
        unfinished = None
        if final and self.unfinished_queued is not None:
            unfinished = (self.unfinished_at, self.unfinished_queued)
        return self.flush_thread.submit(self._emit_flush, cols, counters, lags, in_flight, in_flight_by_variant,
                                        final, samples, notes, open_rows, unfinished)

    def completed(self) -> int:
        """Requests ended so far (answered or failed, warm-up included): safe to call from any thread.

        What the pulse carries for the live "achieved now" rate (`scale.now_rate`): the rows already
        appended count themselves, so the hot path pays nothing for it."""
        cols, before = self.done_base
        return before + len(cols.rows)

    def _emit_flush(self, cols, counters, lags, in_flight, in_flight_by_variant, final, samples=None,
                    notes=(), open_rows=None, unfinished=None) -> None:
        msg = self.flusher.flush(cols, counters, loop_lags=lags, in_flight=in_flight,
                                 in_flight_by_variant=in_flight_by_variant, final=final,
                                 cpu=time.process_time(), samples=samples, notes=notes, open_rows=open_rows,
                                 unfinished=unfinished)
        self.emit(msg)

    def _open_rows(self) -> list[tuple]:
        """--save-requests: a row (`engine.columns` fields) for each request still unanswered at a
        stop (sent, or waiting in the queue: no `sent`), with no `done` and the kind `in_flight`,
        so requests.csv shows them as what the summary counts them as."""
        from stinger.core.rows import IN_FLIGHT

        rows = [(c.intended, c.sent if c.connected else NAN, c.first_byte, NAN, IN_FLIGHT, 0, c.variant, c.nbytes,
                 c.payload, c.queued, c.rid) for c in self.conns if c.busy]
        rows += [(intended, NAN, 0.0, NAN, IN_FLIGHT, 0, v, 0, p, 1, -1) for intended, v, p, _ in self.pending]
        return rows

    def _in_flight_by_variant(self) -> list[int]:
        """Measured (post-warm-up) requests still in flight or queued at stop."""
        out = [0] * self.nvar
        warm_end = self.warm_end
        for conn in self.conns:
            if conn.busy and conn.intended >= warm_end:
                out[conn.variant] += 1
        for intended, v, _, _ in self.pending:
            if intended >= warm_end:
                out[v] += 1
        return out
