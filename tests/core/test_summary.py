"""core/summary.py: the one author of a run's summary, fed hand-built interval records (pure: no run).

summary.json's key set against the tree before the typed summary is tests/test_summary_golden.py
(real runs); here the builder's rules: the round trip, older run directories, server time chosen
by the rule and again with the after-run blocks, the loud parts (failures, no_success)."""

from __future__ import annotations

import json

import numpy as np

from stinger.core.blocks import Block
from stinger.core.histogram import Histogram
from stinger.core.metrics import RunMetrics
from stinger.core.records import CellRecord, IntervalRecord, Kind
from stinger.core.server_time import Origin, ServerTimeReading
from stinger.core.slo import parse_slo
from stinger.core.summary import (
    Hist,
    RunFacts,
    RunSummary,
    SummaryInputs,
    build_summary,
    header_reading,
    with_blocks,
    with_run_end,
)


def sparse(values_us):
    h = Histogram()
    if len(values_us):
        h.record_many(np.asarray(values_us, dtype=np.float64))
    idx = np.flatnonzero(h.counts)
    return idx.astype(np.int32), h.counts[idx].astype(np.int64)


def cell(v: str, ok_us=(), *, failed5xx: int = 0, server_us=None, tokens=None) -> CellRecord:
    kinds = [0] * len(Kind)
    kinds[Kind.OK] = len(ok_us)
    kinds[Kind.HTTP_5XX] = failed5xx
    hists = {"latency": sparse(ok_us), "service": sparse(ok_us), "ttfb": sparse(ok_us), "lag": sparse([50] * len(ok_us))}
    if server_us is not None:
        hists["server"] = sparse(server_us)
    if tokens is not None:
        hists["output_tokens"] = sparse(tokens)
    status = {**({200: len(ok_us)} if len(ok_us) else {}), **({503: failed5xx} if failed5xx else {})}
    return CellRecord(interval=0, variant=v, kinds=tuple(kinds), status=status, bytes_in=10 * len(ok_us),
                      ok_window=len(ok_us), warmup=0, hists=hists)


def metrics(cells: list[CellRecord]) -> RunMetrics:
    names = sorted({c.variant for c in cells})
    m = RunMetrics(names)
    counters = {c.variant: {"scheduled": int(sum(c.kinds)), "scheduled_warm": 0, "dropped": 0, "dropped_warm": 0,
                            "bytes_out": 5} for c in cells}
    rec = IntervalRecord(worker=0, t=1.0, interval=0, final=True, cpu_s=0.1, flush_ms=0.1, loop_lag_ms=0.5,
                         in_flight=0, counters=counters, cells=tuple(cells), in_flight_by_variant={})
    m.add(IntervalRecord.from_bytes(rec.to_bytes()))
    return m


def facts(names, **kw) -> RunFacts:
    return RunFacts(name="t", seed=1, started_at=0.0, elapsed=1.0, mode="open", split="split", workers=1,
                    targets={n: [f"http://127.0.0.1/{n}"] for n in names}, **kw)


def two_variants(**kw) -> SummaryInputs:
    m = metrics([cell("A", [1000, 2000, 3000], server_us=[500, 600, 700]), cell("B", [4000] * 4)])
    raw = m.summary((0.0, 1.0))
    readings = {"A": [header_reading(raw["A"], "response header server-timing")]}
    return SummaryInputs(facts=facts(["A", "B"]), metrics=m, window=(0.0, 1.0),
                         slos=(parse_slo("p99 < 100ms"),), server_time=readings,
                         server_time_why="the endpoint sent no server-timing header", **kw)


def test_to_json_round_trips_and_is_json():
    s = build_summary(two_variants())
    d = s.to_json()
    assert json.loads(json.dumps(d)) == d
    assert RunSummary.from_json(d) == s
    assert RunSummary.from_json(d).to_json() == d
    assert d["schema"] == "stinger.summary/1" and d["split"] == "split" and "overall" in d
    assert d["variants"]["A"]["latency_ms"]["count"] == 3
    assert [r["variant"] for r in d["slo"]] == ["A", "B"] and d["slo_passed"] is True


def test_server_time_by_the_rule_and_the_note_for_the_variant_without():
    s = build_summary(two_variants())
    assert s.server_time.source == {"A": "response header server-timing"}
    assert s.server_time.missing == ("B",)
    assert s.to_json()["server_time"]["note"].startswith("no server time for B: the endpoint sent no server-timing")
    assert s.origins == {"A": Origin.HEADER}
    # a metrics reading for A loses to its header; B takes its metrics reading
    inputs = two_variants()
    prom = Hist(count=4, mean=0.9)
    readings = {"A": [*inputs.server_time["A"], ServerTimeReading(Origin.METRICS, "prom", Hist(count=9, mean=9.0))],
                "B": [ServerTimeReading(Origin.METRICS, "prom", prom)]}
    s = build_summary(SummaryInputs(**{**{f: getattr(inputs, f) for f in inputs.__slots__}, "server_time": readings}))
    assert s.server_time.source == {"A": "response header server-timing", "B": "prom"}
    assert s.variants["B"].hist("server_time_ms") == prom and s.server_time.missing is None
    assert "note" not in s.to_json()["server_time"]


def test_with_blocks_fills_only_the_variants_with_no_server_time():
    s = build_summary(two_variants())
    cw = {n: ServerTimeReading(Origin.AFTER_RUN, f"CloudWatch {n}", Hist(count=7, mean=3.0)) for n in ("A", "B")}
    out = with_blocks(s, [Block("sagemaker", {"variants": {}}, server_time=cw, warnings=("cloud said so",))])
    assert out.server_time.source["A"] == "response header server-timing"     # the header still wins
    assert out.server_time.source["B"] == "CloudWatch B"
    assert out.variants["B"].hist("server_time_ms") == Hist(count=7, mean=3.0)
    assert out.variants["A"] == s.variants["A"]
    assert out.server_time.missing == () and "note" not in out.to_json()["server_time"]
    assert out.to_json()["sagemaker"] == {"variants": {}} and out.warnings[-1] == "cloud said so"
    assert s.server_time.missing == ("B",)   # the summary given is unchanged
    assert RunSummary.from_json(out.to_json()) == out


def test_with_run_end_puts_the_abort_first():
    s = with_run_end(build_summary(two_variants(warnings=("scheduler",))), aborted="abort: p99 > 5ms",
                     stopped_early=False, warnings=["output thread"], run_dir="/tmp/r",
                     requests_file={"path": "requests.csv", "rows": 7, "t0_unix": 0.0})
    d = s.to_json()
    assert d["warnings"][0] == "abort: p99 > 5ms" and d["warnings"][-1] == "output thread"
    assert d["aborted"] == "abort: p99 > 5ms" and d["run_dir"] == "/tmp/r" and d["requests_file"]["rows"] == 7


def test_a_variant_that_mostly_failed_is_loud_and_nothing_succeeded_is_no_success():
    m = metrics([cell("A", [1000] * 5), cell("B", failed5xx=6)])
    s = build_summary(SummaryInputs(facts=facts(["A", "B"]), metrics=m, window=(0.0, 1.0)))
    assert set(s.failures or {}) == {"B"} and s.no_success == ("B",)
    assert s.failures["B"]["top_status"] == [{"status": 503, "count": 6}]
    # with no successful response, B's latency has a count and nothing else
    assert s.to_json()["variants"]["B"]["latency_ms"] == {"count": 0, **dict.fromkeys(
        ("mean", "stddev", "min", "max", "p50", "p90", "p95", "p99", "p99.9"))}


def test_an_attributed_run_judges_overall_and_drops_a_minor_unattributed_failure():
    m = metrics([cell("A", [1000] * 8), cell("unattributed", failed5xx=2)])
    inputs = SummaryInputs(facts=facts(["A", "unattributed"], unattributed="unattributed"), metrics=m,
                           window=(0.0, 1.0), slos=(parse_slo("error_rate < 50%"),))
    s = build_summary(inputs)
    assert [r["variant"] for r in s.slo] == ["A", "overall"]
    assert s.failures is None and s.no_success == ()


def test_the_derived_rate_comes_from_the_catalogue():
    m = metrics([cell("A", [1000] * 4, tokens=[10, 10, 20, 20])])
    s = build_summary(SummaryInputs(facts=facts(["A"]), metrics=m, window=(0.0, 1.0)))
    t = s.variants["A"].throughput
    assert t.rates == {"output_tokens_per_s": 60.0} and s.to_json()["variants"]["A"]["throughput"]["output_tokens_per_s"] == 60.0
    assert s.split == "single"


def test_an_older_summary_json_reads_with_neutral_values_and_keeps_unknown_keys():
    old = {"schema": "stinger.summary/1", "name": None, "started_at": "2025-01-01T00:00:00Z", "elapsed_s": 3.0,
           "mode": "open", "split": "single", "workers": 1, "targets": {"default": ["http://x/"]},
           "window": {"start_s": 0.0, "end_s": 3.0},
           "variants": {"default": {"requests": {"scheduled": 3, "ok": 3, "failed": 0, "dropped": 0},
                                    "errors": {"connect": 0}, "status_codes": {"200": 3}, "error_rate": 0.0,
                                    "throughput": {"offered_rps": 1.0, "achieved_rps": 1.0, "ratio": 1.0},
                                    "bytes": {"received": 3, "sent": 3},
                                    "latency_ms": {"count": 3, "mean": 1.0, "p50": 1.0, "p99": 2.0},
                                    "some_future_ms": {"count": 1, "p50": 4.0}, "note": "kept"}},
           "slo": [], "slo_passed": True, "warnings": ["w"], "a_block": {"x": 1}, "a_future_flag": True}
    s = RunSummary.from_json(old)
    assert s.interrupted is False and s.lost_workers == () and s.no_success == ()
    v = s.variants["default"]
    assert v.requests.in_flight == 0 and v.hist("latency_ms").p99 == 2.0 and v.hist("latency_ms").p90 is None
    assert v.hist("some_future_ms").p50 == 4.0 and v.extra == {"note": "kept"}
    assert s.blocks["a_block"].data == {"x": 1} and s.extra == {"a_future_flag": True}   # an object is a block
    assert s.to_json()["a_block"] == {"x": 1} and s.to_json()["a_future_flag"] is True
