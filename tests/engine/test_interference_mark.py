"""The engine marks each request sent while another variant's request was in flight (issue 15: interference).

Drives the real `Engine` with connections whose transport drops the bytes (as bench/hot_path.py
does): no sockets, the exact order of sends and ends is the test's own.
"""

from __future__ import annotations

import pytest

from stinger.core.records import Kind
from stinger.engine.columns import OVERLAPPED_BIT, QUEUE_STATE, QUEUED
from stinger.engine.loop import Engine
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _Drop:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _engine(nvar: int):
    spec = parse_spec({"variants": [{"name": f"v{i}", "url": f"http://127.0.0.1:9/{i}"} for i in range(nvar)],
                       "split": "split", "server_time": None, "load": {"rate": 1, "duration": 1}})
    [plan] = build_plans(spec, workers=1)
    engine = Engine(plan, emit=lambda msg: None)
    for v in range(nvar):
        pool = engine.pools[v][0]
        for _ in range(3):
            conn = pool.conn_class(engine, pool, False)
            conn.transport = _Drop()
            conn.connected = True
            pool.idle.append(conn)
    return engine


def _run(engine, script):
    """script: ("send", v) or ("end", v) / ("fail", v): the oldest request of v in flight ends."""
    flying: dict[int, list] = {}
    for op, v in script:
        if op == "send":
            pool = engine.pools[v][0]
            conn = pool.idle[-1]
            engine._dispatch(0.0, v, 0, -1)
            flying.setdefault(v, []).append(conn)
        else:
            conn = flying[v].pop(0)
            if op == "end":
                conn.data_received(RESPONSE)
            else:
                conn.busy = False
                engine._fail(conn, Kind.TIMEOUT)
                conn.pool.idle.append(conn)
    return [(int(r[6]), int(r[QUEUED]) & OVERLAPPED_BIT != 0, int(r[QUEUED]) & QUEUE_STATE) for r in engine.cols.rows]


@pytest.mark.parametrize("script, expected", [
    # simultaneous pair: the one sent second has its partner in flight
    ([("send", 0), ("send", 1), ("end", 0), ("end", 1)], [(0, False, 0), (1, True, 0)]),
    # one after the other: both alone
    ([("send", 0), ("end", 0), ("send", 1), ("end", 1)], [(0, False, 0), (1, False, 0)]),
    # the same variant in flight is not another variant
    ([("send", 0), ("send", 0), ("end", 0), ("end", 0)], [(0, False, 0), (0, False, 0)]),
    # B sent during A's life does not mark A (A had left alone); A's second request sees B
    ([("send", 0), ("send", 1), ("send", 0), ("end", 0), ("end", 1), ("end", 0)],
     [(0, False, 0), (1, True, 0), (0, True, 0)]),
    # a timed-out request leaves the in-flight count: the next B is alone
    ([("send", 0), ("fail", 0), ("send", 1), ("end", 1)], [(0, False, 0), (1, False, 0)]),
])
def test_overlap_marks(script, expected):
    engine = _engine(2)
    assert _run(engine, script) == expected
    assert engine.in_flight_of == [0, 0] and engine.in_flight == 0


def test_one_variant_is_never_overlapped():
    engine = _engine(1)
    rows = _run(engine, [("send", 0), ("send", 0), ("end", 0), ("end", 0)])
    assert rows == [(0, False, 0), (0, False, 0)]
