"""The load loop of one worker process: open and closed model on one event loop.

Open model: a pump fires every request at its *intended* time from the
schedule, whatever the responses do; a request that finds the in-flight bound
reached either waits in a FIFO queue (its latency keeps counting from the
intended time) or is dropped and counted. Closed model: N users each send,
wait for the answer, think, and send again.

Per request the hot path does a handful of attribute stores, one
`transport.write` of pre-built bytes, and on completion nine column appends.
Everything else (latency arithmetic, histograms, checks of server-time
headers) happens once per interval in `flush`, vectorised. Latency is
`done - intended`, service time `done - sent`, schedule lag `sent - intended`
(see DESIGN.md); all stamps are `perf_counter()` values, shared across worker
processes on one machine.
"""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
import time
from collections import deque
from time import perf_counter
from typing import Callable

from stinger.core.records import Kind
from stinger.engine.http import Conn, Pool, build_head, build_request, conn_class, make_ssl_context, resolve
from stinger.engine.plan import WorkerPlan

NAN = float("nan")
_SWEEP_EVERY = 0.05          # how often timeouts are checked (s)
_PROBE_EVERY = 0.1           # event-loop lag probe period (s)
_CHUNK = 8192                # schedule chunk (global requests)
_MIN_WAIT = 0.001            # the pump's shortest sleep: one uvloop timer tick
_PENDING_LIMIT = 1_000_000   # queue mode: past this many waiting requests (~100 MB) a worker drops and counts
_SPIN_ABOVE = 0.004          # arrivals at least this far apart (<= 250/s) are sent on time by a short spin
_TICK_MARGIN = 0.001         # wake this long before such an arrival (one tick)
_CLOSED_RETRY_PAUSE = 0.01   # a closed-model user whose connect failed waits this long before retrying


class Columns:
    """Per-request results since the last flush.

    One tuple per request appended to a list: about 100 ns, against 570 ns for
    ten typed-array appends (measured here). The flush thread turns the rows
    into numpy columns (`ROW_FIELDS`). Header values and bodies, needed only by
    some runs, go to lists of their own, aligned with `rows`.
    """

    __slots__ = ("rows", "st", "bodies")

    def __init__(self, keep_st: bool, keep_bodies: bool) -> None:
        self.rows: list[tuple] = []
        self.st: list | None = [] if keep_st else None
        self.bodies: list | None = [] if keep_bodies else None

    def __len__(self) -> int:
        return len(self.rows)


# the fields of one row of `Columns.rows`; `queued`: 0 sent at once, 1 waited in the
# in-flight queue, 2 waited for a new connection
ROW_FIELDS = ("intended", "sent", "first", "done", "kind", "status", "variant", "nbytes", "payload", "queued")


class Engine:
    """Runs one worker's share of a plan on the running event loop.

    `emit(message)` receives one dict per interval (see `stinger.engine.batch`)
    and a final one; the worker process forwards them to the coordinator.
    """

    def __init__(self, plan: WorkerPlan, emit: Callable[[dict], None]) -> None:
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

        self.slots = build_slots(plan)  # dataset, payload order, variant choice
        self.check = self.slots.check
        keep_bodies = self.slots.keep_bodies
        st = plan.server_time_header
        self.conn_classes = {False: conn_class(st, keep_bodies), True: conn_class(st, keep_bodies, head=True)}
        self.want_body = keep_bodies
        self.cols = Columns(keep_st=bool(st), keep_bodies=keep_bodies)
        self._flusher_cls = Flusher
        self.emit = emit

        # pools: one per (variant, target); round robin inside a variant
        self.pools: list[list[Pool]] = []
        self.rr = [0] * self.nvar
        index = 0
        ctx_cache: dict[bool, object] = {}
        for v in plan.variants:
            row = []
            for target in v.targets:
                if target.tls and True not in ctx_cache:
                    ctx_cache[True] = make_ssl_context(plan.verify_tls)
                _, address = resolve(target)
                head = build_head(target, v.request if v.request.content_type else _with_ct(v.request, self.slots.content_type))
                row.append(Pool(index=index, target=target, address=address,
                                ssl=ctx_cache.get(True) if target.tls else None, head=head,
                                method=v.request.method.upper(), is_head=v.request.method.upper() == "HEAD"))
                index += 1
            self.pools.append(row)
        self.request_cache: list[list[bytes | None]] = [
            [None] * self.slots.cache_size for _ in range(index)
        ]
        self.conns: set[Conn] = set()
        self.connecting: set[asyncio.Future] = set()
        self.in_flight = 0
        self.pending: deque = deque()
        self.scheduled = [0] * self.nvar
        self.scheduled_warm = [0] * self.nvar
        self.dropped = [0] * self.nvar
        self.dropped_warm = [0] * self.nvar
        self.overflow = [0] * self.nvar
        self.loop_lags: list[float] = []
        self.bytes_out = [0] * self.nvar
        # Interval processing (numpy, checks, header parsing) runs on this thread so
        # the event loop never stalls for it; one thread keeps the messages in order.
        self.flush_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stinger-flush")

        # open model
        self._times: list[float] = []
        self._vars: list[int] = []
        self._pays: list[int] = []
        self._ci = 0
        self._due = 0.0
        self._chunks = None
        self.schedule_done = False
        self.sched_end = math.inf  # when the schedule ran out (count-limited runs)
        # closed model
        self.users_active = 0
        self.users_target = 0
        self.user_sent = 0
        self._closed_slots: list[tuple[int, int]] = []
        self._closed_seq = 0
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
        self.flusher = self._flusher_cls(plan, t0, self.slots)
        self._call_at(self.t0 + plan.interval, self._on_interval)
        self._call_at(self.t0 + _SWEEP_EVERY, self._sweep)
        self._probe_due = self.t0 + _PROBE_EVERY
        self._call_at(self._probe_due, self._probe)
        if plan.open is not None:
            self._chunks = self.slots.open_chunks()
            self._call_at(self.t0, self._pump)
        else:
            self._call_at(self.t0, self._users_tick)
        await self.finished.wait()
        self.stopping = True
        for h in self._handles:
            h.cancel()
        in_flight = self._in_flight_by_variant()
        self._close_all()
        await asyncio.wrap_future(self.flush(final=True, in_flight_by_variant=in_flight))
        self.flush_thread.shutdown(wait=True)

    def stop(self) -> None:
        """Stop scheduling now; what is in flight is counted as in flight at stop."""
        if not self.stopping:
            self.stopping = True
            self.schedule_done = True
            self.finished.set()

    def _call_at(self, when: float, fn) -> None:
        delay = when - perf_counter()
        h = self.loop.call_later(delay if delay > 0 else 0, fn)
        self._handles.append(h)
        if len(self._handles) > 64:  # periodic timers: forget the ones that have fired
            now = self.loop.time()
            self._handles = [x for x in self._handles
                             if not x.cancelled() and getattr(x, "when", lambda: now)() >= now]

    # ------------------------------------------------------------ open model
    def _load_chunk(self) -> bool:
        if self._chunks is None:
            return False
        nxt = next(self._chunks, None)
        if nxt is None:
            self._chunks = None
            return False
        times, variants, payloads = nxt
        self._times = (times + self.t0).tolist()
        self._vars = variants.tolist()
        self._pays = payloads.tolist()
        self._ci = 0
        return True

    def _pump(self) -> None:
        if self.stopping:
            return
        now = perf_counter()
        times = self._times
        i = self._ci
        fire = self._fire
        while True:
            if i >= len(times):
                self._ci = i
                if not self._load_chunk():
                    self.schedule_done = True
                    self.sched_end = now
                    self._maybe_finish()
                    return
                times = self._times
                i = 0
            t = times[i]
            if t > now:
                now = perf_counter()
                if t > now:
                    break
            fire(t, self._vars[i], self._pays[i])
            i += 1
        self._ci = i
        # uvloop's timers tick in whole milliseconds and run a shorter delay at once.
        # Arrivals at least _SPIN_ABOVE apart (low rates): sleep until about a tick
        # before the arrival, then spin the loop (I/O still served) to send on time;
        # that spin costs at most a tick per arrival. Closer arrivals: wait at least
        # one tick, so the loop never spins continuously; a request then leaves at
        # most ~1 ms late, which is measured (schedule lag) and counted in latency.
        wait = t - now
        if wait >= _SPIN_ABOVE:
            self._due = t
            self.loop.call_later(wait - _TICK_MARGIN, self._spin)
        else:
            self.loop.call_later(max(wait, _MIN_WAIT), self._pump)

    def _spin(self) -> None:
        if perf_counter() >= self._due or self.stopping:
            self._pump()
        else:
            self.loop.call_soon(self._spin)

    def _fire(self, intended: float, v: int, p: int) -> None:
        if v < 0:  # paired: every variant gets the same payload at the same instant
            for vv in range(self.nvar):
                self._fire(intended, vv, p)
            return
        warm = intended < self.warm_end
        if warm:
            self.scheduled_warm[v] += 1
        else:
            self.scheduled[v] += 1
        if self.in_flight >= self.max_in_flight:
            if self.drop or len(self.pending) >= _PENDING_LIMIT:
                if warm:
                    self.dropped_warm[v] += 1
                else:
                    self.dropped[v] += 1
                if not self.drop:
                    self.overflow[v] += 1
                return
            self.pending.append((intended, v, p, -1))
            return
        self._dispatch(intended, v, p, -1)

    # ---------------------------------------------------------- closed model
    def _next_closed_slot(self) -> tuple[int, int]:
        if self._closed_seq >= len(self._closed_slots):
            self._closed_slots = self.slots.closed_slots(self.user_sent, 4096)
            self._closed_seq = 0
        s = self._closed_slots[self._closed_seq]
        self._closed_seq += 1
        return s

    def _users_tick(self) -> None:
        """Bring the number of active users to the profile's count (every 100 ms)."""
        if self.stopping:
            return
        now = perf_counter()
        if now >= self.end or (self.plan.max_requests is not None and self.user_sent >= self.plan.max_requests):
            self.schedule_done = True
            self.sched_end = min(now, self.sched_end)
            self._maybe_finish()
            return
        profile = self.plan.closed.profile
        total = profile.users_at(now - self.t0)
        # this worker's share of the users: user u (global) belongs to worker u % W
        w, nw = self.plan.worker, self.plan.workers
        mine = len(range(w, total, nw))
        self.users_target = mine
        while self.users_active < mine:
            self.users_active += 1
            self._user_send(self.users_active - 1, now)
        self._call_at(now + 0.1, self._users_tick)

    def _user_send(self, user: int, intended: float) -> None:
        if self.stopping or self.schedule_done or intended >= self.end:
            self._user_retire()
            return
        if user >= self.users_target:
            self._user_retire()
            return
        if self.plan.max_requests is not None and self.user_sent >= self.plan.max_requests:
            self._user_retire()
            return
        self.user_sent += 1
        v, p = self._next_closed_slot()
        if intended < self.warm_end:
            self.scheduled_warm[v] += 1
        else:
            self.scheduled[v] += 1
        self._dispatch(intended, v, p, user)

    def _user_retire(self) -> None:
        self.users_active -= 1
        now = perf_counter()
        limit = self.plan.max_requests is not None and self.user_sent >= self.plan.max_requests
        if self.users_active <= 0 and (self.schedule_done or now >= self.end or limit):
            self.schedule_done = True
            self.sched_end = min(now, self.sched_end)
            self._maybe_finish()

    def _user_next(self, user: int, done: float, failed_connect: bool = False) -> None:
        think = self.plan.closed.think_time
        if failed_connect:
            think = max(think, _CLOSED_RETRY_PAUSE)
        if think > 0:
            self.loop.call_later(think, self._user_send, user, done + think)
        else:
            self._user_send(user, done)

    # ------------------------------------------------------------- dispatch
    def _dispatch(self, intended: float, v: int, p: int, user: int, queued: int = 0) -> None:
        if self.stopping:
            return
        pools = self.pools[v]
        if len(pools) == 1:
            pool = pools[0]
        else:
            k = self.rr[v]
            self.rr[v] = k + 1
            pool = pools[k % len(pools)]
        self.in_flight += 1
        if pool.idle:
            conn = pool.idle.pop()
            conn.user = user
            conn.queued = queued
            self._send(conn, intended, v, p)
            return
        conn = self.conn_classes[pool.is_head](self, pool, self.want_body)
        # waiting for a new connection is the server's time (accept), not the generator's
        conn.queued = queued or 2
        conn.busy = True
        conn.intended = intended
        conn.variant = v
        conn.payload = p
        conn.user = user
        conn.deadline = perf_counter() + self.connect_timeout
        self.conns.add(conn)
        fut = asyncio.ensure_future(self.loop.create_connection(
            lambda: conn, pool.address, pool.target.port, ssl=pool.ssl,
            server_hostname=pool.target.host if pool.ssl else None))
        self.connecting.add(fut)
        fut.add_done_callback(lambda f, c=conn: self._connected(f, c))

    def _connected(self, fut: asyncio.Future, conn: Conn) -> None:
        self.connecting.discard(fut)
        if self.stopping:
            return
        if fut.cancelled():
            exc = "cancelled"
        else:
            exc = fut.exception()
        if exc is None:
            return  # connection_made already sent the request
        self.conns.discard(conn)
        if conn.busy:
            conn.busy = False
            self._fail(conn, Kind.CONNECT, sent=NAN)

    def on_connected(self, conn: Conn) -> None:
        if conn.busy:
            if self.stopping:
                conn.transport.abort()
                return
            self._send(conn, conn.intended, conn.variant, conn.payload)
        else:  # the request timed out while connecting
            conn.transport.close()

    def _send(self, conn: Conn, intended: float, v: int, p: int) -> None:
        conn.intended = intended
        conn.variant = v
        conn.payload = p
        conn.busy = True
        pool = conn.pool
        cache = self.request_cache[pool.index]
        req = cache[p] if p < len(cache) else None
        if req is None:
            req = build_request(pool.head, self.slots.body(p), pool.method)
            if p < len(cache):
                cache[p] = req
        self.bytes_out[v] += len(req)
        s = perf_counter()
        conn.sent = s
        conn.deadline = s + self.timeout
        conn.transport.write(req)

    # ----------------------------------------------------------- completion
    def finish(self, conn: Conn) -> None:
        """A whole response arrived (called from the parser callback)."""
        done = perf_counter()
        status = conn.status
        kind = 0 if status < 400 else (5 if status < 500 else 6)
        cols = self.cols
        cols.rows.append((conn.intended, conn.sent, conn.first_byte, done, kind, status, conn.variant,
                          conn.nbytes, conn.payload, conn.queued))
        if cols.st is not None:
            cols.st.append(conn.st_value)
            conn.st_value = None
        if cols.bodies is not None:
            cols.bodies.append(b"".join(conn.body))
            conn.body.clear()
        conn.first_byte = 0.0
        conn.nbytes = 0
        conn.busy = False
        self.in_flight -= 1
        user = conn.user
        if not conn.keep:
            conn.transport.close()
        else:
            conn.pool.idle.append(conn)
        if user >= 0:
            self._user_next(user, done)
        elif self.pending:
            self._drain_pending()
        elif self.schedule_done:
            self._maybe_finish()

    def _drain_pending(self) -> None:
        if self.stopping:
            return
        pending = self.pending
        while pending and self.in_flight < self.max_in_flight:
            intended, v, p, user = pending.popleft()
            self._dispatch(intended, v, p, user, 1)
        if self.schedule_done:
            self._maybe_finish()

    def _fail(self, conn: Conn, kind: int, sent: float | None = None) -> None:
        """Record a request that ended without a usable response."""
        done = perf_counter()
        cols = self.cols
        cols.rows.append((conn.intended, conn.sent if sent is None else sent, conn.first_byte, done, int(kind),
                          conn.status if kind == Kind.INVALID else 0, conn.variant, conn.nbytes, conn.payload,
                          conn.queued))
        if cols.st is not None:
            cols.st.append(None)
        if cols.bodies is not None:
            cols.bodies.append(b"")
        conn.st_value = None
        conn.first_byte = 0.0
        conn.nbytes = 0
        conn.status = 0
        self.in_flight -= 1
        if conn.user >= 0:
            self._user_next(conn.user, done, failed_connect=kind == Kind.CONNECT)
        elif self.pending:
            self._drain_pending()
        elif self.schedule_done:
            self._maybe_finish()

    def on_broken(self, conn: Conn, invalid: bool) -> None:
        if conn.busy:
            conn.busy = False
            self._fail(conn, Kind.INVALID if invalid else Kind.RESET)
        if conn.transport is not None:
            conn.transport.abort()

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
                    conn.transport.abort()
                else:
                    self._fail(conn, Kind.CONNECT, sent=NAN)
        if self.schedule_done and now > self._drain_deadline():
            self.stop()
            return
        self._call_at(now + _SWEEP_EVERY, self._sweep)

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
        self.flush(final=False)
        if not self.stopping:
            k = math.floor((perf_counter() - self.t0) / self.plan.interval) + 1
            self._call_at(self.t0 + k * self.plan.interval, self._on_interval)

    def _maybe_finish(self) -> None:
        if self.schedule_done and self.in_flight == 0 and not self.pending:
            self.finished.set()
            self.stopping = True

    def _close_all(self) -> None:
        """Abort every connection; requests still in flight stay counted as in flight."""
        for fut in list(self.connecting):
            fut.cancel()
        self.connecting.clear()
        for conn in list(self.conns):
            conn.busy = False
            if conn.transport is not None:
                conn.transport.abort()
        self.conns.clear()

    # --------------------------------------------------------------- flush
    def flush(self, final: bool, in_flight_by_variant: list[int] | None = None):
        """Hand this interval's columns to the flush thread; O(1) on the loop."""
        cols = self.cols
        self.cols = Columns(keep_st=cols.st is not None, keep_bodies=cols.bodies is not None)
        counters = {
            "scheduled": self.scheduled, "scheduled_warm": self.scheduled_warm,
            "dropped": self.dropped, "dropped_warm": self.dropped_warm, "bytes_out": self.bytes_out,
            "overflow": self.overflow,
        }
        self.overflow = [0] * self.nvar
        self.scheduled = [0] * self.nvar
        self.scheduled_warm = [0] * self.nvar
        self.dropped = [0] * self.nvar
        self.dropped_warm = [0] * self.nvar
        self.bytes_out = [0] * self.nvar
        lags = self.loop_lags
        self.loop_lags = []
        in_flight = self.in_flight + len(self.pending)
        return self.flush_thread.submit(self._emit_flush, cols, counters, lags, in_flight, in_flight_by_variant, final)

    def _emit_flush(self, cols, counters, lags, in_flight, in_flight_by_variant, final) -> None:
        msg = self.flusher.flush(cols, counters, loop_lags=lags, in_flight=in_flight,
                                 in_flight_by_variant=in_flight_by_variant, final=final,
                                 cpu=time.process_time())
        self.emit(msg)

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


def _with_ct(request, content_type):
    from dataclasses import replace

    return replace(request, content_type=content_type) if content_type else request
