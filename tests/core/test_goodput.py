"""core/goodput.py: per-request objectives parsed, counted per cell, added across workers, summarized,
and bounded by an SLO ('goodput>=95%'). The real runs are tests/targets/test_openai_goodput.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stinger.core.goodput import parse_objective, summarize
from stinger.core.metrics import RunMetrics
from stinger.core.records import CellRecord, IntervalRecord, Kind
from stinger.core.slo import judge, parse_slo
from stinger.errors import UsageError


@pytest.mark.parametrize(("text", "metric", "op", "threshold"), [
    ("ttft<200ms", "ttft", "<", 200_000.0),          # stored in microseconds
    ("tpot <= 30", "tpot", "<=", 30_000.0),          # a bare time is milliseconds
    ("ttft_ms<0.2s", "ttft", "<", 200_000.0),        # summary.json's key names the metric too
    ("ttfo<1.5s", "ttfo", "<", 1_500_000.0),
    ("latency<=500us", "latency", "<=", 500.0),
    ("output_tps>20", "output_tps", ">", 20_000.0),  # tokens/s, stored as milli-tokens/s
])
def test_objectives_parse_into_the_metric_s_stored_unit(text, metric, op, threshold):
    o = parse_objective(text)
    assert (o.metric, o.op, o.threshold, o.text) == (metric, op, pytest.approx(threshold), text.strip())


@pytest.mark.parametrize(("text", "says"), [
    ("ttft<<3", "expected <metric> <op> <value>"),
    ("foo<3ms", "'foo': unknown metric"),
    ("itl<5ms", "one per gap"),
    ("session<700ms", "goodput objectives are per request"),
    ("ttft<3kg", "takes us, ms, s or m"),
    ("output_tps>3ms", "give a bare number"),
])
def test_a_malformed_objective_is_a_one_line_usage_error(text, says):
    with pytest.raises(UsageError) as e:
        parse_objective(text)
    msg = str(e.value)
    # what was expected: an example of the form, or the metrics an objective may name
    assert says in msg and "\n" not in msg and ("e.g. 'ttft<200ms'" in msg or "expected one of latency" in msg)


def test_an_objective_holds_per_value_and_no_value_never_meets_it():
    o = parse_objective("ttft<45ms")
    assert o.holds(np.array([44_999.0, 45_000.0, np.nan])).tolist() == [True, False, False]


def cell(variant: str, ok: int, failed: int, good: int, good_tokens: int) -> CellRecord:
    kinds = [0] * len(Kind)
    kinds[Kind.OK], kinds[Kind.TIMEOUT] = ok, failed
    return CellRecord(interval=0, variant=variant, kinds=tuple(kinds), ok_window=ok, good=good,
                      good_tokens=good_tokens)


def record(worker: int, cells: list[CellRecord]) -> IntervalRecord:
    rec = IntervalRecord(worker=worker, t=1.0, interval=0, final=True, cells=tuple(cells),
                         counters={c.variant: {"scheduled": sum(c.kinds), "scheduled_warm": 0, "dropped": 0,
                                               "dropped_warm": 0, "bytes_out": 0} for c in cells})
    return IntervalRecord.from_bytes(rec.to_bytes())   # through the wire, as a worker's record arrives


def test_workers_good_counts_cross_the_wire_and_add_up_per_variant_and_overall():
    m = RunMetrics(["a", "b"])
    m.goodput = (parse_objective("ttft<45ms"), parse_objective("tpot<30ms"))
    m.add(record(0, [cell("a", ok=60, failed=0, good=57, good_tokens=57 * 16), cell("b", ok=40, failed=0,
                                                                                      good=0, good_tokens=0)]))
    m.add(record(1, [cell("a", ok=38, failed=2, good=38, good_tokens=38 * 16)]))
    s = m.summary((0.0, 10.0))
    ga = s["a"]["goodput"]
    assert ga["objectives"] == ["ttft<45ms", "tpot<30ms"]
    assert (ga["good"], ga["of"], ga["share"]) == (95, 100, 0.95)   # failed requests are not good
    # rates: the good share of the OK requests x the achieved rate (98 OK in 10 s)
    assert ga["rate_rps"] == pytest.approx(95 / 98 * 9.8, abs=1e-3)
    assert ga["output_tokens"] == 95 * 16 and ga["tokens_per_s"] == pytest.approx(95 * 16 / 10, abs=1e-3)
    assert s["b"]["goodput"]["share"] == 0.0
    assert m.overall((0.0, 10.0))["goodput"]["good"] == 95 and m.overall((0.0, 10.0))["goodput"]["of"] == 140


def test_a_run_without_objectives_has_no_goodput_and_an_old_record_counts_none():
    m = RunMetrics(["a"])
    m.add(record(0, [cell("a", ok=5, failed=0, good=0, good_tokens=0)]))
    assert "goodput" not in m.summary((0.0, 1.0))["a"]
    assert summarize((), 0, 0, 0, 0, 0.0)["share"] is None   # nothing ended: no share, not 0


def test_an_slo_bounds_the_goodput_share_and_fails_when_none_was_measured():
    slo = parse_slo("goodput>=95%")
    assert (slo.metric, slo.threshold, slo.unit) == ("goodput", pytest.approx(0.95), "fraction")
    ok, low = judge([slo], {"goodput": {"share": 0.98}}), judge([slo], {"goodput": {"share": 0.5}})
    assert ok[0].passed and ok[0].observed == 0.98 and not low[0].passed
    missing = judge([slo], {})[0]
    assert not missing.passed and missing.observed is None and "--goodput" in missing.note
    assert math.isclose(parse_slo("goodput>0.9").threshold, 0.9)
