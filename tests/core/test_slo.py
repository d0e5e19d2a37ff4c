"""SLO grammar, normalisation and verdicts against a variant summary."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stinger.core.slo import DEFAULT_CAPACITY_SLOS, Slo, SloResult, judge, parse_slo
from stinger.errors import UsageError


@pytest.mark.parametrize(
    "text, metric, op, threshold",
    [
        ("p95<300ms", "p95", "<", 300.0),
        ("p99 <= 1s", "p99", "<=", 1000.0),
        ("mean<50ms", "mean", "<", 50.0),
        ("max<2s", "max", "<", 2000.0),
        ("p99.9<500ms", "p99.9", "<", 500.0),
        ("p50 < 250us", "p50", "<", 0.25),
        ("p90<1m", "p90", "<", 60_000.0),
        ("p95<300", "p95", "<", 300.0),  # bare number = ms
        ("P95 < 300MS", "p95", "<", 300.0),
        ("error_rate<1%", "error_rate", "<", 0.01),
        ("error_rate<0.01", "error_rate", "<", 0.01),
        ("errors <= 0.5%", "error_rate", "<=", 0.005),
        ("achieved_ratio>=0.95", "achieved_ratio", ">=", 0.95),
        ("achieved_ratio >= 95%", "achieved_ratio", ">=", 0.95),
        ("throughput>=100/s", "throughput", ">=", 100.0),
        ("rps>=100", "throughput", ">=", 100.0),
        ("throughput > 6000/m", "throughput", ">", 100.0),
        ("server.p95<100ms", "server.p95", "<", 100.0),
        ("service.p99<200ms", "service.p99", "<", 200.0),
        ("server.mean<0.1s", "server.mean", "<", 100.0),
        ("ttfb.p99<50ms", "ttfb.p99", "<", 50.0),          # any catalogue metric, by its name
        ("lag.p99.9 < 5ms", "lag.p99.9", "<", 5.0),
    ],
)
def test_parse(text, metric, op, threshold):
    slo = parse_slo(text)
    assert (slo.metric, slo.op) == (metric, op)
    assert slo.threshold == pytest.approx(threshold)
    assert slo.text == text.strip()


@pytest.mark.parametrize(
    "text, match",
    [
        ("p95", "expected <metric> <op> <value>"),
        ("p95 = 300ms", "expected <metric> <op> <value>"),
        ("p95<fast", "expected <metric> <op> <value>"),
        ("p75<300ms", "percentile p75 is not reported"),
        ("latency<300ms", "unknown metric"),
        ("client.p95<3ms", "unknown metric"),
        ("p95<300kg", "time unit"),
        ("error_rate<5", "fraction"),
        ("error_rate<5ms", "fraction or a percentage"),
        ("error_rate<150%", "exceed 100%"),
        ("throughput>100ms", "req/s"),
        ("", "expected"),
    ],
)
def test_parse_rejects(text, match):
    with pytest.raises(UsageError, match=match) as e:
        parse_slo(text)
    msg = str(e.value)
    assert "\n" not in msg
    assert "e.g. 'p95<300ms'" in msg  # every message carries an example
    assert repr(text) in msg          # and names the text


def test_parse_rejects_non_strings():
    with pytest.raises(UsageError):
        parse_slo(None)  # type: ignore[arg-type]


def _lat(p50=10.0, p95=40.0, p99=80.0, count=100):
    return {"count": count, "mean": 15.0, "stddev": 5.0, "min": 1.0, "max": 200.0,
            "p50": p50, "p90": 30.0, "p95": p95, "p99": p99, "p99.9": 150.0}


SUMMARY = {
    "latency_ms": _lat(),
    "service_time_ms": _lat(p95=20.0),
    "error_rate": 0.004,
    "throughput": {"offered_rps": 100.0, "achieved_rps": 98.0, "ratio": 0.98},
    "requests": {"scheduled": 1000, "completed": 996},
}


@pytest.mark.parametrize(
    "text, observed, passed",
    [
        ("p95<300ms", 40.0, True),
        ("p95<40ms", 40.0, False),
        ("p95<=40ms", 40.0, True),
        ("p99.9<0.1s", 150.0, False),
        ("max<1s", 200.0, True),
        ("mean>=15", 15.0, True),
        ("service.p95<25ms", 20.0, True),
        ("error_rate<1%", 0.004, True),
        ("error_rate<0.1%", 0.004, False),
        ("achieved_ratio>=0.95", 0.98, True),
        ("achieved_ratio>=99%", 0.98, False),
        ("throughput>=100/s", 98.0, False),
        ("rps>90", 98.0, True),
    ],
)
def test_judge(text, observed, passed):
    [r] = judge([parse_slo(text)], SUMMARY)
    assert r.observed == pytest.approx(observed)
    assert r.passed is passed
    assert r.note == ""


def test_judge_accepts_texts_and_keeps_order():
    results = judge(DEFAULT_CAPACITY_SLOS, SUMMARY)
    assert [r.slo.text for r in results] == list(DEFAULT_CAPACITY_SLOS)
    assert all(r.passed for r in results)


def test_missing_server_time_fails_with_a_note():
    [r] = judge(["server.p95<100ms"], SUMMARY)
    assert r.observed is None and r.passed is False
    assert "server time" in r.note


def test_no_successful_requests_fails_latency_slos():
    summary = dict(SUMMARY, latency_ms=_lat(p95=math.nan, count=0), error_rate=1.0)
    results = judge(["p95<300ms", "error_rate<1%"], summary)
    assert results[0].observed is None and not results[0].passed and "no successful" in results[0].note
    assert results[1].observed == 1.0 and not results[1].passed


def test_nan_observation_fails():
    summary = dict(SUMMARY, error_rate=float("nan"))
    [r] = judge(["error_rate<1%"], summary)
    assert r.observed is None and not r.passed and r.note


def test_server_time_present():
    summary = dict(SUMMARY, server_time_ms=_lat(p95=12.0))
    [r] = judge(["server.p95<100ms"], summary)
    assert r.passed and r.observed == 12.0


def test_a_catalogue_metric_is_judged_on_its_summary_section():
    from stinger.core.catalogue import METRICS

    for m in METRICS:
        if m.name == "latency":
            continue
        [r] = judge([f"{m.name}.p95<100ms"], dict(SUMMARY, **{m.summary_key: _lat(p95=12.0)}))
        assert r.passed and r.observed == 12.0, m.name
        [r] = judge([f"{m.name}.p95<100ms"], SUMMARY if m.summary_key not in SUMMARY else {})
        assert r.observed is None and not r.passed and r.note, m.name


def test_result_to_dict():
    [r] = judge(["p95<300ms"], SUMMARY)
    d = r.to_dict()
    assert d == {"slo": "p95<300ms", "metric": "p95", "op": "<", "threshold": 300.0, "unit": "ms",
                 "observed": 40.0, "passed": True, "note": ""}
    assert isinstance(r, SloResult)
    assert parse_slo("error_rate<1%").unit == "fraction"
    assert parse_slo("rps>1").unit == "req/s"


def test_slo_is_frozen_and_hashable():
    a, b = parse_slo("p95<300ms"), parse_slo("p95<300ms")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.threshold = 1.0  # type: ignore[misc]
    assert isinstance(a, Slo) and str(a) == "p95<300ms"


@given(
    st.sampled_from(["p50", "p95", "p99", "p99.9", "mean", "max", "server.p95", "service.p99"]),
    st.sampled_from(["<", "<=", ">", ">="]),
    st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
    st.sampled_from([("ms", 1.0), ("s", 1000.0), ("us", 0.001)]),
)
def test_latency_units_normalise_to_ms(metric, op, value, unit):
    text = f"{metric}{op}{value!r}{unit[0]}"
    slo = parse_slo(text)
    assert slo.metric == metric and slo.op == op
    assert slo.threshold == pytest.approx(value * unit[1])


@given(st.floats(min_value=0.0, max_value=100.0, allow_nan=False), st.floats(min_value=0.0, max_value=1.0))
def test_percent_and_fraction_forms_agree(pct, observed):
    a = parse_slo(f"error_rate<{pct!r}%")
    b = parse_slo(f"error_rate<{pct / 100!r}")
    assert a.threshold == pytest.approx(b.threshold)
    summary = {"error_rate": observed}
    [ra] = judge([a], summary)
    assert ra.passed == (observed < a.threshold)


# ------------------------------------------------------------------ issue 15, items 6 and 8
@pytest.mark.parametrize("text, hint", [
    ("error_rate<1", "error_rate<1% or error_rate<0.01"),
    ("errors <= 1", "errors<=1% or errors<=0.01"),
    ("achieved_ratio>=1", "achieved_ratio>=1% or achieved_ratio>=0.01"),
])
def test_a_bare_one_for_a_fraction_is_ambiguous(text, hint):
    """`error_rate<1` was read as 100 %: an error-rate SLO that cannot fail. Refused, one line, with the forms."""
    with pytest.raises(UsageError) as err:
        parse_slo(text)
    message = str(err.value)
    assert "ambiguous" in message and hint in message and "\n" not in message


@pytest.mark.parametrize("text, threshold", [("error_rate<1%", 0.01), ("error_rate<0.01", 0.01),
                                             ("error_rate<1.0", 1.0), ("error_rate<100%", 1.0),
                                             ("achieved_ratio>=1.0", 1.0), ("error_rate<0", 0.0)])
def test_explicit_fraction_forms_stay_accepted(text, threshold):
    assert parse_slo(text).threshold == pytest.approx(threshold)


def _bounded(**bounds) -> dict:
    """A variant whose server time came from a Prometheus histogram: quantiles null, bounds given."""
    st = {"count": 100, "mean": 0.23, **dict.fromkeys(("p50", "p90", "p95", "p99", "p99.9")),
          "bounds": {k.replace("_", "."): {"ge": lo, "le": hi} for k, (lo, hi) in bounds.items()}}
    return dict(SUMMARY, server_time_ms=st)


@pytest.mark.parametrize("text, passed, undecided", [
    ("server.p50<2ms", True, False),      # the whole bound [0, 0.46] is under 2 ms
    ("server.p95<2ms", False, True),      # [0, 3.8] straddles 2 ms: cannot tell
    ("server.p99>10ms", False, False),    # [0.2, 5] is never over 10 ms: fails for sure
    ("server.p99>=0.1ms", True, False),
    ("server.p99<=5ms", True, False),     # bounds are inclusive: at most 5 ms
    ("server.p99.9<1ms", False, True),    # no upper bound: cannot pass
])
def test_slos_on_bounded_values_pass_fail_or_cannot_tell(text, passed, undecided):
    summary = _bounded(p50=(0.0, 0.46), p95=(0.0, 3.8), p99=(0.2, 5.0), p99_9=(0.2, None))
    [r] = judge([text], summary)
    assert r.observed is None and r.bound is not None
    assert r.passed is passed and r.undecided is undecided
    assert "known only as a bound" in r.note
    assert ("cannot tell" in r.note) is undecided
    d = r.to_dict()
    assert d["bound"]["ge"] == r.bound[0] and d["undecided"] is undecided
    import json

    json.dumps(d, allow_nan=False)   # an unbounded side is null in summary.json, not Infinity


def test_a_figure_beside_bounds_is_judged_as_a_figure():
    summary = _bounded(p50=(0.0, 0.46))
    summary["server_time_ms"]["p50"] = 0.3
    [r] = judge(["server.p50<2ms"], summary)
    assert r.observed == 0.3 and r.passed and r.bound is None and "bound" not in r.to_dict()
@pytest.mark.parametrize("text, in_flight, observed, passed", [
    ("error_rate<1%", 0, 0.0, True),              # nothing in flight: the ended requests' rate
    ("error_rate<1%", 60, 60 / 65, False),        # stopped with most unanswered: cannot pass on the 5 that ended
    ("error_rate<50%", 2, 2 / 102, True),         # a few in flight: passes even if they all failed
    ("error_rate>0.5%", 2, 0.0, False),           # a lower bound: they count as succeeded
])
def test_requests_in_flight_at_a_stop_count_against_the_error_rate_objective(text, in_flight, observed, passed):
    ok = 5 if in_flight == 60 else 100
    summary = dict(SUMMARY, error_rate=0.0,
                   requests={"scheduled": ok + in_flight, "ok": ok, "failed": 0, "dropped": 0, "in_flight": in_flight})
    [r] = judge([text], summary)
    assert r.observed == pytest.approx(observed)
    assert r.passed is passed
    assert (f"{in_flight:,} requests were in flight" in r.note) is (in_flight > 0)
