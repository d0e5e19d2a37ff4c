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
"""

from __future__ import annotations

import argparse
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
                   build: bool = False) -> float:
    """`variants` > 1: an A/B run's engine (split), the requests going to each variant in turn.
    `clock`: time.thread_time counts this thread's CPU only (a machine shared with other loads).
    `build`: no byte cache, so the target builds every request's bytes (`Target.request`), as for a
    dataset past the cache (`engine.slots._CACHE_LIMIT` records)."""
    target = {"url": "http://127.0.0.1:9/"}
    where = ({"target": target} if variants == 1 else
             {"variants": [{"name": f"v{k}", **target} for k in range(variants)], "split": "split"})
    spec = parse_spec({**where, "load": {"rate": 1, "duration": 1}, **({} if server_time else {"server_time": None})})
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
        conn = cls(engine, pool, False)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200_000, help="requests per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--cpu", "--clock-cpu", dest="cpu", action="store_true",
                    help="time this thread's CPU (time.thread_time) instead of the wall clock: steadier on a busy machine")
    args = ap.parse_args()
    clock = time.thread_time if args.cpu else time.perf_counter
    for st in (False, True):
        label = "with a Server-Timing header captured" if st else "no header captured (bench/run.py's case)"
        print(f"{ns_per_request(st, args.n, args.rounds, clock=clock):7.0f} ns/request  {label}")
    print(f"{ns_per_request(True, args.n, args.rounds, variants=2, clock=clock):7.0f} ns/request  two variants in turn (an A/B run), "
          f"with a Server-Timing header captured")
    print(f"{ns_per_request(False, args.n, args.rounds, clock=clock, build=True):7.0f} ns/request  every request's bytes "
          f"built by the target (a dataset past the byte cache)")


if __name__ == "__main__":
    main()
