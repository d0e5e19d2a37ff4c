"""The breakdown rows while the run goes on (outputs/live_breakdown.py): the same builder as summary.json's
block, as of each snapshot, built off the merge path and only for an output that wants them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from stinger.core.breakdown import SERVED_BY, URL, Breakdown, groups
from stinger.core.histogram import Histogram
from stinger.core.origins import OriginBook
from stinger.core.records import GroupRecord, Kind
from stinger.outputs.base import RunInfo, Snapshot
from stinger.outputs.dashboard import DashboardOutput
from stinger.outputs.live_breakdown import LiveBreakdown, for_outputs


def _flush(by: str, variant: str, label: str, ms: list[float]) -> GroupRecord:
    h = Histogram()
    h.record_many([m * 1000.0 for m in ms])
    idx = np.flatnonzero(h.counts)
    kinds = [0] * len(Kind)
    kinds[Kind.OK] = len(ms)
    return GroupRecord(by=by, variant=variant, label=label, kinds=tuple(kinds), responses=len(ms),
                       latency=(idx.astype(np.int32), h.counts[idx]))


def _metrics() -> SimpleNamespace:   # what the coordinator's RunMetrics gives the live side: its two books
    return SimpleNamespace(breakdown=Breakdown(), origins=OriginBook())


SB = SimpleNamespace(header="X-Served-By", weights={"a": 1.0, "b": 1.0})


def test_each_view_shows_the_rows_as_of_its_snapshot_with_the_summarys_builder():
    m = _metrics()
    live = LiveBreakdown(served_by=SB, urls={"A": {"0": "http://x/0", "1": "http://x/1"}})
    first = [_flush(SERVED_BY, "A", "a", [5.0] * 30), _flush(URL, "A", "0", [5.0] * 30)]
    m.breakdown.add(first)
    early = live.take(m, 1.0)           # copies what was merged before it
    expect_early = groups(m.breakdown.copy(), None, served_by=SB, urls=live.params["urls"])[0]
    m.breakdown.add([_flush(SERVED_BY, "A", "b", [9.0] * 10), _flush(URL, "A", "1", [9.0] * 10)])
    late = live.take(m, 1.5)
    m.breakdown.add([_flush(SERVED_BY, "A", "a", [7.0] * 5)])   # after the last snapshot: in no view
    assert early is not None and late is not None
    assert early.groups() == expect_early
    # 30 of 30 from a, weights 1:1: b's silence is no chance (0.5^30 < 1e-4), so b is a row of 0 already
    assert [(r["label"], r["responses"]) for r in early.groups()[SERVED_BY]["rows"]] == [("a", 30), ("b", 0)]
    got = late.groups()
    assert [(r["label"], r["responses"], r["share"]) for r in got[SERVED_BY]["rows"]] == [("a", 30, 0.75),
                                                                                      ("b", 10, 0.25)]
    assert [r["label"] for r in got[URL]["rows"]] == ["http://x/0", "http://x/1"]
    assert got[SERVED_BY]["rows"][1]["latency_ms"]["p50"] == pytest.approx(9.0, rel=1e-3)   # HDR: 3 digits
    # at the end, the summary's block from the coordinator's own books holds every flush
    final = groups(m.breakdown, None, served_by=SB, urls=live.params["urls"])[0]
    assert [(r["label"], r["responses"]) for r in final[SERVED_BY]["rows"]] == [("a", 35), ("b", 10)]
    live.detach()
    assert m.breakdown.tap is None


def test_a_run_without_groups_never_taps_and_only_a_wanting_output_gets_one():
    m = _metrics()
    live = LiveBreakdown()
    assert live.take(m, 1.0) is None and m.breakdown.tap is None
    assert for_outputs([SimpleNamespace(name="terminal")]) is None
    assert isinstance(for_outputs([SimpleNamespace(name="x"), DashboardOutput()]), LiveBreakdown)


def test_the_dashboard_shows_the_rows_so_far_while_a_page_watches_and_only_adds_a_field():
    m = _metrics()
    live = LiveBreakdown(served_by=SB)
    m.breakdown.add([_flush(SERVED_BY, "A", "a", [5.0] * 4)])
    d = DashboardOutput()
    try:
        d.start(RunInfo(spec=None, variants=("A",), duration=5.0, total=None, mode="open"))
        d.interval(Snapshot(elapsed=1.0, variants=(), breakdown=live.take(m, 1.0)))
        assert json.loads(d.state_json())["breakdown"] == {}   # nobody watched: no rows built, nothing piles up
        m.breakdown.add([_flush(SERVED_BY, "A", "<b>", [6.0] * 2)])
        d.interval(Snapshot(elapsed=1.5, variants=(), breakdown=live.take(m, 1.5)))   # the page polled above
        state = json.loads(d.state_json())
    finally:
        d.close()
    rows = state["breakdown"][SERVED_BY]["rows"]
    assert [(r["variant"], r["label"], r["responses"]) for r in rows] == [("A", "<b>", 2), ("A", "a", 4)]
    assert state["breakdown"][SERVED_BY]["title"] == "per served by (response header X-Served-By)"
    assert state["status"] == "running" and {"points", "totals", "events", "slos"} <= set(state)


def test_rows_nobody_folds_are_let_go_and_the_merge_path_untapped(monkeypatch):
    import stinger.outputs.live_breakdown as lb

    monkeypatch.setattr(lb, "_MAX_PENDING", 5)
    m = _metrics()
    live = LiveBreakdown(served_by=SB)
    m.breakdown.add([_flush(SERVED_BY, "A", "a", [5.0])])
    assert live.take(m, 1.0) is not None and m.breakdown.tap is not None
    for _ in range(6):   # an output that no longer folds: the rows pile up past the bound
        m.breakdown.add([_flush(SERVED_BY, "A", "a", [5.0])])
    assert m.breakdown.tap is None and live.take(m, 2.0) is None
    assert m.breakdown.table(SERVED_BY)[0]["responses"] == 7   # the run's own books are whole
