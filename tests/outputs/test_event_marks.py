"""Load-change events on the report's charts and in the verdict (issue 20 item 2): every chart over time
gets a vertical marker per live load change and per lost worker, and an A/B verdict over a run whose load
changed says its tests pooled the loads."""

from __future__ import annotations

from stinger.orchestrate.ab import load_change_notes
from stinger.outputs.report import _over_time, event_marks
from stinger.outputs.svgchart import line_chart

SUMMARY = {
    "variants": {},
    "events": [{"t": 3.0, "kind": "load_change", "rate": 300.0, "source": "control"},
               {"t": 6.5, "kind": "load_change", "rate": 200.0, "source": "rebalance", "worker": 1, "survivors": 3}],
    "lost_workers": [{"worker": 1, "since_s": 6.0}],
}


def test_each_event_and_lost_worker_is_a_labelled_marker():
    assert event_marks(SUMMARY) == [(3.0, "300/s"), (6.0, "worker 1 lost"), (6.5, "rebalanced: 200/s")]
    assert event_marks({"events": [{"t": 2, "kind": "load_change", "users": 6, "source": "control"}]}) == \
        [(2.0, "6 users")]


def test_a_marker_is_drawn_inside_the_plot_and_one_outside_it_is_not():
    svg = line_chart([("a", [0.0, 1.0, 2.0], [1.0, 2.0, 3.0])], title="t", chart_id="c",
                     marks=[(1.5, "300/s"), (99.0, "late")])
    assert svg.count('class="mark"') == 1 and "300/s" in svg and "late" not in svg


def test_every_chart_over_time_carries_the_markers():
    rows = [{"t": t, "variant": "default", "offered_rps": 100, "achieved_rps": 100, "p50_ms": 1, "p95_ms": 2,
             "p99_ms": 3, "failed": 0, "dropped": 0, "warmup": 0} for t in range(10)]
    html = _over_time(rows, SUMMARY)
    assert html.count('class="mark"') == 3 * 3   # rate, latency, errors: three markers each


def test_the_verdict_says_its_tests_pooled_the_loads():
    [note] = load_change_notes(SUMMARY)
    assert "2 changes, at 3 s, 6.5 s" in note and "one constant load" in note
    assert load_change_notes({"variants": {}}) == []


def test_compare_warns_when_a_run_s_load_changed():
    from types import SimpleNamespace

    from stinger.orchestrate.compare import CompareArg, load_warnings

    def arg(name: str, run: dict) -> CompareArg:
        return CompareArg(data=SimpleNamespace(name=name, source=None), variant={}, run=run)   # type: ignore[arg-type]

    warned = load_warnings(arg("baseline", {}), arg("candidate", {"events": SUMMARY["events"]}))
    assert len(warned) == 1 and "candidate run's load changed" in warned[0] and "2 load change" in warned[0]
    assert load_warnings(arg("baseline", {}), arg("candidate", {})) == []
