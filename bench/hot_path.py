"""The Python cost of one request on the engine's hot path, without the kernel: `python3 bench/hot_path.py`.

Drives the real `Engine` in this process through what it does per request —
dispatch onto an idle keep-alive connection, `_send` of the cached request
bytes (to a transport that drops them), the `httptools` parse of a typical
nginx response, `finish` appending the row — N times, and prints the best
of several rounds in nanoseconds per request. No sockets, no event loop, no
syscalls: the figure is the interpreter's share of a request, which is what a
change to the hot path moves; noise from other processes only ever slows a
round down, so the best round is stable on a busy machine where
`bench/run.py` is not. Compare two trees by running it under each one's
PYTHONPATH, alternately. On a machine that other processes keep busy (load above
its cores) a round is also preempted: `--clock cpu` times the rounds with this
process's own CPU time (`time.process_time`), which a preemption does not move.

`--ids` measures request IDs (core/correlation.py) on plain HTTP, off against on, alternating in one run.

`--hooks` measures what a user hook costs (core/hooks.py), side by side in one run: the event-loop
path with and without a response hook (the hook itself runs at flush time; what it asks of the loop is
the kept body), the flush thread's ns per row of `Flusher.flush` with no hook, a hook that reads
nothing and a hook that parses the JSON body for a prediction and a token count, and a request hook's
cost per payload (paid once, before the run, by `datasets/derived.py`).
"""

from __future__ import annotations

import argparse
import json
import time

from stinger.engine.loop import Engine
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec

NGINX_LIKE = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Fri, 27 Nov 2026 17:00:00 GMT\r\n"
              b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n")


class _Drop:
    """A transport that accepts the request bytes and does nothing with them."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def ns_per_request(server_time: bool, n: int, rounds: int, variants: int = 1, clock=time.perf_counter,
                   build: bool = False, response_hook: str | None = None, ids: bool | None = None) -> float:
    """`variants` > 1: an A/B run's engine (split), the requests going to each variant in turn.
    `clock`: time.thread_time counts this thread's CPU only (a machine shared with other loads).
    `build`: no byte cache, so the target builds every request's bytes (`Target.request`), as for a
    dataset past the cache (`engine.slots._CACHE_LIMIT` records)."""
    target = {"url": "http://127.0.0.1:9/"}
    where = ({"target": target} if variants == 1 else
             {"variants": [{"name": f"v{k}", **target} for k in range(variants)], "split": "split"})
    spec = parse_spec({**where, "load": {"rate": 1, "duration": 1}, **({} if server_time else {"server_time": None}),
                       **({"hooks": {"response": response_hook}} if response_hook else {}),
                       **({} if ids is None else {"correlation": {"ids": ids}})})
    [plan] = build_plans(spec, workers=1)
    engine = Engine(plan, emit=lambda msg: None)
    conns = []
    for v in range(variants):
        pool = engine.pools[v][0]
        if build:
            pool.cache = []
        # the connection class of the pool (engine.transport); trees before the transport seam kept
        # it in engine.conn_classes (so this runs under either tree)
        cls = getattr(pool, "conn_class", None) or engine.conn_classes[False]
        conn = cls(engine, pool, engine.want_body)
        conn.transport = _Drop()
        conn.connected = True
        pool.idle.append(conn)
        conns.append(conn)
    response = NGINX_LIKE + (b"Server-Timing: app;dur=1\r\n" if server_time else b"") + b"\r\nok"
    best = float("inf")
    order = [k % variants for k in range(n)]
    for _ in range(rounds):
        engine.cols = engine.cols.fresh()
        t = time.perf_counter()
        c = clock()
        for v in order:
            engine._dispatch(t, v, 0, -1)
            conns[v].data_received(response)
        best = min(best, (clock() - c) / n * 1e9)
        assert len(engine.cols) == n and engine.in_flight == 0
    return best


def pump_ns_per_request(n: int, rounds: int, clock=time.perf_counter) -> float:
    """The open model's pump alone (`engine/open_model._pump`), ns per request: a loaded chunk of `n`
    arrivals all due, `_fire` a no-op, so what is timed is the loop that walks the schedule (where the
    interval-edge check sits). Runs under either tree (`_edge` is set here; an older tree ignores it)."""
    import asyncio
    import math

    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": 1},
                       "server_time": None})
    [plan] = build_plans(spec, workers=1)
    engine = Engine(plan, emit=lambda msg: None)
    engine._fire = lambda t, v, p: None
    engine.finished = asyncio.Event()
    engine._edge = math.inf          # no tick inside a round: the check's cost, not a flush's
    best = float("inf")
    for _ in range(rounds):
        engine.t0 = time.perf_counter() - 10.0
        engine._times = [engine.t0 + k * 1e-6 for k in range(n)]
        engine._vars, engine._pays, engine._ci = [0] * n, [0] * n, 0
        engine._stream, engine.stopping = None, False
        c = clock()
        engine._pump()
        best = min(best, (clock() - c) / n * 1e9)
        assert engine.schedule_done
        engine.schedule_done = False
    return best


BODY = b'{"prediction":"cat","score":0.93,"usage":{"output_tokens":7}}'


def hook_nothing(resp):
    """A response hook that reads nothing: the hook call's own cost."""
    return None


def hook_json(resp):
    """A typical response hook: parse the body, return the prediction and a token count."""
    from stinger.core.hooks import Reading  # here: the script also runs under trees that predate hooks

    data = resp.json()
    return Reading(prediction=data["prediction"], output_tokens=data["usage"]["output_tokens"])


def request_hook(req):
    """A typical request hook: wrap a row into the model's request shape."""
    from stinger.core.hooks import Request

    return Request(body={"inputs": [json.loads(req.body)]}, label=req.label)


class _Slots:
    check = None
    prediction = None

    @staticmethod
    def label(p):
        return None


def flush_ns_per_row(hook: str | None, rows: int, rounds: int, clock=time.perf_counter) -> float:
    """The best round's ns per row of one `Flusher.flush` of `rows` OK answers with their bodies kept."""
    from stinger.engine.batch import Flusher
    from stinger.engine.columns import Columns
    from stinger.targets.base import build_target

    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/", "method": "POST"}, "server_time": None,
                       "load": {"rate": 1, "duration": 60}, **({"hooks": {"response": hook}} if hook else {})})
    [plan] = build_plans(spec, workers=1)
    targets = [build_target(v.target) for v in plan.variants]
    if hook:
        from stinger.targets.hooks import hooked

        targets = hooked(targets, hook, [v.name for v in plan.variants])
    flusher = Flusher(plan, 100.0, _Slots(), targets)
    from stinger.engine.columns import ROW_FIELDS  # a tree before request ids has 10 fields a row

    width = len(ROW_FIELDS)
    counters = {k: [0] for k in ("scheduled", "scheduled_warm", "dropped", "dropped_warm", "bytes_out", "overflow")}
    best = float("inf")
    for _ in range(rounds):
        cols = Columns(keep_bodies=True)
        for i in range(rows):
            t = 101.0 + i * 1e-5
            cols.rows.append((t, t + 1e-5, t + 4e-3, t + 5e-3, 0, 200, 0, len(BODY), i % 100, 0, i)[:width])
            cols.bodies.append(BODY)
        c = clock()
        flusher.flush(cols, counters, loop_lags=[], in_flight=0, in_flight_by_variant=None, final=False, cpu=0.0)
        best = min(best, (clock() - c) / rows * 1e9)
    return best


def request_hook_ns_per_payload(payloads: int, rounds: int, clock=time.perf_counter) -> float:
    """The request hook's cost per payload, paid once before the run (datasets/derived.py)."""
    import tempfile
    from pathlib import Path

    from stinger.core.hooks import load_hook
    from stinger.datasets.derived import derive
    from stinger.datasets.memory import MemoryDataset

    rows = [json.dumps({"x": i, "text": "a short line of input"}).encode() for i in range(payloads)]
    source = MemoryDataset(rows)
    fn = load_hook("__main__:request_hook", "request")
    best = float("inf")
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as scratch:
            c = clock()
            derive(source, None, "application/json", fn, Path(scratch))
            best = min(best, (clock() - c) / payloads * 1e9)
    return best


def hooks(args, clock) -> None:
    plain = ns_per_request(False, args.n, args.rounds, clock=clock)
    with_hook = ns_per_request(False, args.n, args.rounds, clock=clock, response_hook="__main__:hook_nothing")
    print(f"{plain:7.0f} ns/request  event loop, no hook")
    print(f"{with_hook:7.0f} ns/request  event loop, a response hook (its body kept; the hook runs at flush)  "
          f"x{with_hook / plain:.2f}")
    rows = args.rows
    base = flush_ns_per_row(None, rows, args.rounds, clock)
    for ref, what in ((None, "no hook"), ("__main__:hook_nothing", "a response hook that reads nothing"),
                      ("__main__:hook_json", "a response hook parsing the JSON body (prediction, tokens)")):
        got = base if ref is None else flush_ns_per_row(ref, rows, args.rounds, clock)
        print(f"{got:7.0f} ns/row      flush of {rows:,} OK rows, {what}  x{got / base:.2f}")
    per = request_hook_ns_per_payload(args.payloads, args.rounds, clock)
    print(f"{per:7.0f} ns/payload  request hook, once per payload before the run ({args.payloads:,} payloads); "
          f"0 per request")


def ids(args, clock) -> None:
    """Request IDs (core/correlation.py) on plain HTTP, off (its default) and on, alternating in one run."""
    off, on = [], []
    for _ in range(3):
        off.append(ns_per_request(False, args.n, args.rounds, clock=clock, ids=False))
        on.append(ns_per_request(False, args.n, args.rounds, clock=clock, ids=True))
    a, b = min(off), min(on)
    print(f"{a:7.0f} ns/request  plain HTTP, no request IDs (the default)")
    print(f"{b:7.0f} ns/request  plain HTTP, X-Request-Id + traceparent  x{b / a:.2f} (+{b - a:.0f} ns; "
          f"{_id_bytes()} bytes more a request)")


def _id_bytes() -> int:
    from stinger.core.correlation import header_args, header_template, trace_hi

    hi = trace_hi(0)
    return len(header_template(hi, "X-Request-Id", True) % header_args(hi, 1, True, True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200_000, help="requests per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--cpu", "--clock-cpu", dest="cpu", action="store_true",
                    help="time this thread's CPU (time.thread_time) instead of the wall clock: steadier on a busy machine")
    ap.add_argument("--hooks", action="store_true", help="what user hooks cost (see the module docstring)")
    ap.add_argument("--ids", action="store_true", help="request IDs off vs on, plain HTTP (docs/correlation.md)")
    ap.add_argument("--pump", action="store_true", help="the open model's pump alone, ns per request (compare two "
                    "trees by running this under each one's PYTHONPATH, alternately)")
    ap.add_argument("--rows", type=int, default=20_000, help="--hooks: rows per flush")
    ap.add_argument("--payloads", type=int, default=20_000, help="--hooks: payloads a request hook builds")
    args = ap.parse_args()
    clock = time.thread_time if args.cpu else time.perf_counter
    if args.hooks:
        hooks(args, clock)
        return
    if args.ids:
        ids(args, clock)
        return
    if args.pump:
        print(f"{pump_ns_per_request(args.n, args.rounds, clock=clock):7.1f} ns/request  the open pump's loop")
        return
    for st in (False, True):
        label = "with a Server-Timing header captured" if st else "no header captured (bench/run.py's case)"
        print(f"{ns_per_request(st, args.n, args.rounds, clock=clock):7.0f} ns/request  {label}")
    print(f"{ns_per_request(True, args.n, args.rounds, variants=2, clock=clock):7.0f} ns/request  two variants in turn (an A/B run), "
          f"with a Server-Timing header captured")
    print(f"{ns_per_request(False, args.n, args.rounds, clock=clock, build=True):7.0f} ns/request  every request's bytes "
          f"built by the target (a dataset past the byte cache)")


if __name__ == "__main__":
    main()
