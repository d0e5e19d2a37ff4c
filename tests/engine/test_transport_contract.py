"""The engine <-> connection contract (engine/transport.py), the same checks over every transport.

Each transport gets a `Wire` row: a target that answers, one that never answers and one whose
connection goes away mid-answer. The checks run the real `Engine` in this process against them
and hold every transport to the same definitions: every scheduled request accounted for (ok +
failed by kind + dropped + in flight + unfinished queued), intended <= sent <= first byte <= done,
a timeout and a reset counted as such, stop mid-flight leaving the requests in flight, the normal
end failing what is still unanswered as `unfinished`. `unsolicited` (an answer no request waited
for) is HTTP/1.1's alone: tests/engine/test_http_protocol.py.

The HTTP/1.1 rows use the engine tests' local servers (conftest.py: an app, a server that never
answers, one that sends half an answer and closes); the fake's are its own settings. Another
transport's test module runs these checks with its row (`CHECKS`, `Wire`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np
import pytest

from stinger.core.records import Kind
from stinger.engine.columns import to_batch
from stinger.engine.loop import Engine
from stinger.engine.transport import TRANSPORTS
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec


@dataclass
class Wire:
    """One transport's targets for the checks (each a `target:` mapping)."""

    name: str
    answers: dict
    silent: dict
    resets: dict
    payload: dict = field(default_factory=dict)   # the spec's `payload:` the targets need, if any


@dataclass
class Run:
    engine: Engine
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    scheduled: int = 0
    dropped: int = 0
    in_flight: int = 0          # the final flush's in-flight count (sent or queued, at stop)
    unfinished_queued: int = 0

    def kinds(self) -> dict[str, int]:
        k = self.rows["kind"]
        return {Kind(int(x)).label: int((k == x).sum()) for x in np.unique(k)}

    def accounted(self) -> int:
        return len(self.rows["kind"]) + self.dropped + self.in_flight + self.unfinished_queued


def run(wire: Wire, target: dict, stop_after: float | None = None, **load: Any) -> Run:
    """Run the engine on `target` in this process; keep every row and the final counts."""
    spec = parse_spec({"target": target, "server_time": None, **wire.payload,
                       "load": {"workers": 1, "max_in_flight": 100, **load}})
    [plan] = build_plans(spec, workers=1)
    engine = Engine(plan, emit=lambda msg: None)
    out = Run(engine)
    parts: list = []

    class Recording:
        def __init__(self, plan, t0, slots, targets) -> None:
            pass

        def flush(self, cols, counters, *, final=False, in_flight=0, unfinished=None, **_) -> dict:
            batch, _tail = to_batch(cols)
            parts.append(batch)
            out.scheduled += sum(counters["scheduled"]) + sum(counters["scheduled_warm"])
            out.dropped += sum(counters["dropped"]) + sum(counters["dropped_warm"])
            if final:
                out.in_flight = in_flight
                if unfinished is not None:
                    out.unfinished_queued = sum(sum(c) for c in unfinished[1])
            return {}

    engine._flusher_cls = Recording

    async def main() -> None:
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, engine.stop)
        await engine.run(perf_counter() + 0.02)

    asyncio.run(main())
    for name in ("intended", "sent", "first", "done", "kind", "status"):
        cols = [getattr(b, name) for b in parts if len(b)]
        out.rows[name] = np.concatenate(cols) if cols else np.array([])
    return out


# ------------------------------------------------------------------ the checks
def check_answers(wire: Wire) -> None:
    r = run(wire, wire.answers, rate=40, duration="0.5s")
    assert r.scheduled == 20 == r.accounted() == len(r.rows["kind"]), (r.scheduled, r.kinds())
    assert r.kinds() == {"ok": 20}
    intended, sent, first, done = (r.rows[k] for k in ("intended", "sent", "first", "done"))
    assert (intended <= sent).all() and (sent <= first).all() and (first <= done).all()
    assert (r.rows["status"] == 200).all()


def check_timeout(wire: Wire) -> None:
    r = run(wire, wire.silent, rate=20, duration="0.25s", timeout="0.15s", drain="2s")
    assert r.scheduled == 5 == r.accounted()
    assert r.kinds() == {"timeout": 5}
    service = r.rows["done"] - r.rows["sent"]
    assert (service >= 0.15).all()          # never before its deadline (the sweep runs every 50 ms)


def check_reset(wire: Wire) -> None:
    r = run(wire, wire.resets, rate=20, duration="0.25s", timeout="5s")
    assert r.scheduled == 5 == r.accounted()
    assert r.kinds() == {"reset": 5}


def check_stop_mid_flight(wire: Wire) -> None:
    r = run(wire, wire.silent, stop_after=0.3, rate=20, duration="5s", timeout="30s")
    assert r.scheduled >= 3 and len(r.rows["kind"]) == 0
    assert r.in_flight == r.scheduled == r.accounted()   # a stop leaves them in flight, not failed


def check_unfinished(wire: Wire) -> None:
    r = run(wire, wire.silent, rate=20, duration="0.25s", timeout="30s", drain="0.2s")
    assert r.scheduled == 5 == r.accounted()
    assert r.kinds() == {"unfinished": 5} and r.in_flight == 0


CHECKS: dict[str, Callable[[Wire], None]] = {
    "answers": check_answers, "timeout": check_timeout, "reset": check_reset,
    "stop_mid_flight": check_stop_mid_flight, "unfinished": check_unfinished,
}


# ------------------------------------------------------------------ the rows: http1 and fake
def http1_wire(servers) -> Wire:
    return Wire("http1", answers={"url": servers.url("/ok")},
                silent={"url": f"http://127.0.0.1:{servers.silent}/"},
                resets={"url": f"http://127.0.0.1:{servers.reset}/"})


def fake_wire() -> Wire:
    return Wire("fake", answers={"type": "fake", "delay": "5ms"}, silent={"type": "fake", "delay": "60s"},
                resets={"type": "fake", "delay": "5ms", "reset_rate": 1.0})


@pytest.fixture(params=["http1", "fake"])
def wire(request) -> Wire:
    if request.param == "http1":
        return http1_wire(request.getfixturevalue("servers"))
    return fake_wire()


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_contract(wire: Wire, check: str) -> None:
    CHECKS[check](wire)


def test_every_transport_line_loads_and_implements_the_protocol():
    from stinger.engine.transport import transport_class

    for name in TRANSPORTS:
        cls = transport_class(name)
        assert cls.name == name
        for member in ("connection_class", "prepare", "open", "connect_kind", "close"):
            assert callable(getattr(cls, member)), (name, member)
    with pytest.raises(ValueError, match="unknown transport 'nope'"):
        transport_class("nope")


def test_a_carrier_may_name_its_own_transport_class():
    # a "module:Class" that is no TRANSPORTS line: a carrier that brings its transport along
    from stinger.engine.transport import transport_class

    assert transport_class("stinger.engine.fake_wire:FakeWire").name == "fake"


def test_a_pool_carries_its_transport_and_connection_class():
    r = run(fake_wire(), fake_wire().answers, rate=40, duration="0.1s")
    [pool] = r.engine.pools[0]
    [conn] = pool.idle
    assert pool.transport.name == "fake" and type(conn) is pool.conn_class
    assert type(conn.transport).__name__ == "FakeSocket"
