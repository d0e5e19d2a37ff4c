"""Live load changes (issue 20 item 2): `stinger.RunControl` through `stinger.run`, real local workers
against a reference server. Changes named with an explicit `at` are deterministic: a constant-arrival
schedule cut at 3 s and 6 s sends exactly Λ(8 s) of the changed profile, however the machine is loaded;
the per-second rates are checked against a tolerance measured in the same run."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import numpy as np
import pytest

import stinger
from stinger.engine.slots import OpenStream, Slots
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    with RefServer("delay", delay_ms=20) as srv:
        yield srv


def rows_of(run_dir: Path) -> list[dict]:
    return list(csv.DictReader((Path(run_dir) / "intervals.csv").open()))


def test_the_rate_changes_at_the_named_instants_and_every_request_is_counted(server, tmp_path):
    control = stinger.RunControl()
    control.set_rate("300/s", at=3.0)
    control.set_rate(50, at=6.0)
    spec = {"target": {"url": server.url}, "load": {"rate": 100, "duration": "8s", "workers": 2, "seed": 3},
            "output": {"dir": str(tmp_path)}}
    result = stinger.run(spec, control=control)
    s = result.summary
    assert [(e["t"], e["rate"], e["source"]) for e in s["events"]] == [(3.0, 300.0, "control"), (6.0, 50.0, "control")]
    assert control.events == s["events"]
    events = [json.loads(x) for x in (result.run_dir / "events.jsonl").read_text().splitlines()]
    assert events == s["events"]
    req = s["variants"]["default"]["requests"]
    # 3 s at 100/s + 3 s at 300/s + 2 s at 50/s, constant arrivals: the ids of every worker are one schedule
    assert req["scheduled"] == 300 + 900 + 100, req
    assert req["unaccounted"] == 0 and req["scheduled"] == req["ok"] + req["failed"] + req["dropped"] + req["in_flight"]
    assert any("load changed 2 times" in w for w in s["warnings"])
    rows = rows_of(result.run_dir)
    by_t = {float(r["t"]): float(r["achieved_rps"]) for r in rows}
    levels = {100.0: [by_t[t] for t in (1.0, 2.0)], 300.0: [by_t[t] for t in (4.0, 5.0)], 50.0: [by_t[6.0 + 1.0]]}
    noise = statistics.pstdev(levels[100.0] + [x / 3 for x in levels[300.0]])   # per-second spread at a level
    for rate, got in levels.items():
        for x in got:
            assert abs(x - rate) <= max(0.05 * rate, 3 * noise) + 2, (rate, got, rows)


class Steer:
    """An output that asks for a new rate once the run clock passes 2 s, and notes when it asked."""

    name = "steer"

    def __init__(self, control: stinger.RunControl) -> None:
        self.control = control
        self.asked: float | None = None

    def start(self, info) -> None:
        pass

    def interval(self, snapshot) -> None:
        if self.asked is None and snapshot.elapsed >= 2.0:
            self.control.set_users(5)   # an open-model run has no users: refused, the run goes on
            self.control.set_rate("150/s")
            self.asked = snapshot.elapsed

    def finish(self, result) -> None:
        pass


def test_a_change_asked_while_running_applies_soon_and_a_wrong_one_is_refused(server, tmp_path):
    refused: list[str] = []
    control = stinger.RunControl(on_refused=refused.append)
    spec = {"target": {"url": server.url}, "load": {"rate": 50, "duration": "5s", "workers": 2},
            "output": {"dir": str(tmp_path)}}
    steer = Steer(control)
    result = stinger.run(spec, control=control, outputs=["rundir", steer])
    [ev] = result.summary["events"]
    assert ev["rate"] == 150.0 and ev["source"] == "control"
    assert len(refused) == 1 and "open-model run has a rate, not users" in refused[0]
    assert steer.asked is not None and ev["t"] >= steer.asked   # named ahead of the ask, never before it
    req = result.summary["variants"]["default"]["requests"]
    assert req["unaccounted"] == 0 and req["scheduled"] == req["ok"] + req["failed"] + req["dropped"] + req["in_flight"]


def test_closed_model_users_follow_a_change_and_retired_users_finish(server, tmp_path):
    control = stinger.RunControl()
    control.set_users(6, at=2.0)
    control.set_users(1, at=4.0)
    spec = {"target": {"url": server.url}, "load": {"users": 2, "duration": "6s", "workers": 2},
            "output": {"dir": str(tmp_path)}}
    result = stinger.run(spec, control=control)
    s = result.summary
    assert [(e["t"], e["users"]) for e in s["events"]] == [(2.0, 6), (4.0, 1)]
    req = s["variants"]["default"]["requests"]
    assert req["unaccounted"] == 0 and req["in_flight"] == 0 and req["failed"] == 0, req   # retired users finished
    by_t = {float(r["t"]): float(r["achieved_rps"]) for r in rows_of(result.run_dir)}
    two, six, one = by_t[1.0], by_t[3.0], by_t[5.0]
    # a 20 ms server: each user sends about 40-50 a second; the rate follows the users (ratios, not times)
    assert 2.2 < six / two < 3.8, by_t
    assert 1.5 < two / one < 2.6, by_t


def test_a_worker_applying_a_change_late_sends_no_request_twice_and_skips_none():
    """The schedule's ids stay unique and contiguous across rate changes and a rebalance, even for a
    worker that learns of a change after its instant (it already sent some of its own past it)."""
    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1000, "duration": "20s",
                                                                         "workers": 3}})
    sent: list[np.ndarray] = []
    for plan in build_plans(spec):
        stream = OpenStream(Slots(plan))
        ids, times, _, _ = stream.next()
        late = plan.worker == 2          # worker 2 sent through 5.5 s before it heard of the 5 s change
        fired = times < (5.5 if late else 5.0)
        stream.change(5.0, rate=300.0, fired_through=int(ids[fired][-1]))
        mine = [ids[fired]]
        stream.change(12.0, lost=1, survivors=(0, 2))   # worker 1 lost: its share to 0 and 2 from 12 s
        while (got := stream.next()) is not None:
            keep = got[1] < 12.0 if plan.worker == 1 else np.ones(len(got[0]), bool)
            mine.append(got[0][keep])
        sent.append(np.concatenate(mine))
    every = np.sort(np.concatenate(sent))
    assert len(every) == len(np.unique(every))        # no id sent twice
    assert np.array_equal(every, np.arange(len(every)))   # none skipped
    assert len(every) == 5000 + 2100 + 8 * 300


def test_a_change_heard_chunks_late_walks_the_schedule_again_and_stays_exact():
    """A worker that heard of a change more than a chunk after its instant (its chunk of 8,192 arrivals
    at 10,000/s lasts 0.8 s; it sent through 2.4 s before hearing of a change at 1 s) finds the change's
    first id by walking its segment again: the same id every other worker found in its chunk."""
    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 10000, "duration": "4s",
                                                                         "workers": 3}})
    sent: list[np.ndarray] = []
    for plan in build_plans(spec):
        stream = OpenStream(Slots(plan))
        mine: list[np.ndarray] = []
        if plan.worker == 2:
            for _ in range(3):   # read (and send) three chunks, well past 1 s
                ids, times, _, _ = stream.next()
                mine.append(ids)
            assert times[0] > 1.0
            stream.change(1.0, rate=2000.0, fired_through=int(ids[-1]))
        else:
            ids, times, _, _ = stream.next()
            stream.change(1.0, rate=2000.0, fired_through=int(ids[times < 1.0][-1]))
            mine.append(ids[times < 1.0])
        while (got := stream.next()) is not None:
            mine.append(got[0])
        sent.append(np.concatenate(mine))
    every = np.sort(np.concatenate(sent))
    assert len(every) == len(np.unique(every))                        # no id sent twice
    end = 10000 + 3 * 2000   # the cut at 1 s is id 10,000; the new segment is 2,000/s for 3 s
    assert np.array_equal(every[every < end], np.arange(end))         # none of the schedule skipped
    # beyond it only what the late worker had already sent of the old schedule, its own ids
    beyond = every[every >= end]
    assert len(beyond) and np.all(beyond % 3 == 2) and np.isin(beyond, sent[2]).all()
