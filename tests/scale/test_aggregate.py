"""scale/aggregate.py: node batches and the coordinator's merging thread give exactly the figures of
merging each worker's record, and merging never runs on the thread that watches the run (issue 19 item 3)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from stinger.core.metrics import RunMetrics
from stinger.core.records import IntervalRecord
from stinger.orchestrate.planning import build_plans
from stinger.scale.aggregate import HistSum, Merger, NodeHists, NodeMerge, decode_batch, light
from stinger.scale.base import Alive, BackendTraits, WorkerLost
from stinger.scale.coordinator import execute
from stinger.spec import parse_spec
from stinger.testing.records import VARIANTS, final_records, synthetic_records

WORKERS, INTERVALS, PER_NODE = 6, 4, 3


def records() -> list[IntervalRecord]:
    return list(synthetic_records(INTERVALS, rate=600.0 * WORKERS, workers=WORKERS))


def figures(m: RunMetrics) -> tuple:
    window = m.window(0.0, None, INTERVALS + 0.01)
    return m.summary(window), m.interval_rows(), {v: dict(vm.status) for v, vm in m.variants.items()}


def direct(recs: list[IntervalRecord], gone: int | None = None) -> tuple[RunMetrics, int]:
    m = RunMetrics(list(VARIANTS), spill=False)
    for rec in recs:
        m.add(rec)
    lost = m.worker_gone(gone) if gone is not None else 0
    for rec in final_records(INTERVALS, workers=WORKERS):
        if rec.worker != gone:
            m.add(rec)
    return m, lost


def through_nodes(recs: list[IntervalRecord], gone: int | None = None) -> tuple[RunMetrics, int]:
    """The records as node aggregators batch them (PER_NODE workers a node, one batch a node an interval),
    decoded and merged by the coordinator's merging thread."""
    m = RunMetrics(list(VARIANTS), spill=False)
    merger = Merger(m, hold=0.05)
    by_interval: dict[int, list[IntervalRecord]] = {}
    for rec in recs:
        by_interval.setdefault(rec.interval, []).append(rec)
    batches = []
    for i in sorted(by_interval):
        for first in range(0, WORKERS, PER_NODE):
            merge = NodeMerge()
            for rec in by_interval[i]:
                if first <= rec.worker < first + PER_NODE:
                    merge.record(rec.worker, rec.to_bytes())
            batches.append(merge.take())
    for batch in batches:
        for ev in decode_batch(batch):
            if isinstance(ev, NodeHists):
                merger.hists(ev)
            elif isinstance(ev, IntervalRecord):
                merger.record(ev)
    merger.sync()
    lost = 0
    if gone is not None:
        with merger.lock:
            lost = m.worker_gone(gone)
    for rec in final_records(INTERVALS, workers=WORKERS):
        if rec.worker != gone:
            merger.record(rec)
    merger.close()
    return m, lost


def test_node_batches_merged_off_thread_give_exactly_each_worker_s_figures():
    recs = records()
    a, _ = direct(recs)
    b, _ = through_nodes(recs)
    assert figures(a) == figures(b)
    for v in VARIANTS:   # every histogram bucket, not only the percentiles the summary reads
        for name, h in a.variants[v].totals.items():
            assert np.array_equal(h.counts, b.variants[v].totals[name].counts), (v, name)
    assert b.variants["a"].totals["latency"].total_count == int(a.variants["a"].kinds[0])


def test_a_worker_lost_after_node_batches_is_booked_exactly():
    """Its light records carry its own counts: what it had in flight is known per worker, as before."""
    recs = [r for r in records() if not (r.worker == 4 and r.interval == INTERVALS - 1)]
    a, lost_a = direct(recs, gone=4)
    b, lost_b = through_nodes(recs, gone=4)
    assert lost_a == lost_b > 0
    assert figures(a) == figures(b)


def test_a_node_batch_says_who_pulsed_and_who_ended_and_is_versioned():
    merge = NodeMerge()
    merge.alive(3)
    merge.alive(4, (10.0, 7))
    merge.alive(4, (10.1, 9))   # the latest mark of a worker goes (the achieved-now rate, scale/now_rate.py)
    merge.ended(5, "lost", "Ray actor died (ActorDiedError)")
    assert merge.urgent
    got = decode_batch(merge.take())
    assert got == [Alive(3), Alive(4, 10.1, 9), WorkerLost(5, "Ray actor died (ActorDiedError)")]
    assert not merge and decode_batch(merge.take()) == []
    import pickle

    with pytest.raises(ValueError, match="node batch version 99; this build reads 2"):
        decode_batch(pickle.dumps((99, [], b"", [], [])))


def test_a_sum_is_exact_whatever_the_order_and_grouping():
    recs = records()
    cells = [c for r in recs for c in r.cells]
    one, two = HistSum(), HistSum()
    for c in cells:
        one.add(c)
    for c in reversed(cells):
        two.add(c)
    assert [(c.interval, c.variant, {k: (list(i), list(n)) for k, (i, n) in c.hists.items()}) for c in one.take()] == \
           [(c.interval, c.variant, {k: (list(i), list(n)) for k, (i, n) in c.hists.items()}) for c in two.take()]
    assert not one and light(recs[0]).cells[0].hists == {} and light(recs[0]).cells[0].kinds == recs[0].cells[0].kinds


class RecordsBackend:
    """Hands pre-made records to the coordinator: one interval's records per poll, then the finals."""

    traits = BackendTraits(start_delay=0.0, local_cpu_ceiling=False, local_pids=False)

    def __init__(self, recs: list[IntervalRecord]) -> None:
        self.batches: list[list] = []
        for i in range(INTERVALS):
            self.batches.append([r for r in recs if r.interval == i])
        self.batches.append(final_records(INTERVALS, workers=WORKERS))

    def start(self, plans):
        return [0] * len(plans)

    def begin(self, start_wall):
        pass

    def poll(self, timeout):
        time.sleep(0.01)
        return self.batches.pop(0) if self.batches else []

    def kill(self, worker):
        pass

    def stop(self):
        pass

    def close(self):
        pass


def test_records_are_merged_off_the_thread_that_watches_the_run(monkeypatch):
    """The watching thread (signals, liveness deadlines, progress) never spends its time merging: with
    800 workers a merge on it delayed every look at the workers."""
    threads: set[int] = set()
    real_add = RunMetrics.add

    def add(self, rec, **kw):
        threads.add(threading.get_ident())
        return real_add(self, rec, **kw)

    monkeypatch.setattr(RunMetrics, "add", add)
    url = "http://127.0.0.1:9/"
    spec = parse_spec({"variants": [{"name": v, "weight": 1, "url": url} for v in VARIANTS],
                       "load": {"rate": 10, "duration": f"{INTERVALS}s", "workers": 1}})
    [one] = build_plans(spec)
    plans = [replace(one, worker=w, workers=WORKERS) for w in range(WORKERS)]
    recs = records()
    outcome = execute(plans, backend=RecordsBackend(recs), on_progress=lambda m, t: None)
    assert threads and threading.get_ident() not in threads
    expected, _ = direct(recs)
    assert figures(outcome.metrics)[0] == figures(expected)[0]
