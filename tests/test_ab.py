"""A/B runs through `stinger.orchestrate.ab.run_ab` (what `stinger.ab` calls) against reference servers.

What is checked is what holds by construction: a delay server answers no
sooner than its delay, so a 10 ms variant is slower than a 5 ms one at p50;
an unreachable variant fails every request. The verdict file, the summary and
a later `compare` of the saved run must all tell the same story (one code path).
"""

from __future__ import annotations

import json

import pytest

from stinger.orchestrate.ab import AbOptions, run_ab
from stinger.orchestrate.compare import compare_variants, regressed, variant_data_from_run
from stinger.outputs.rundir import read_run, verdict_dict
from stinger.spec import parse_spec
from stinger.testing.procs import free_port
from stinger.testing.servers import RefServer


@pytest.fixture(scope="module")
def delay_servers():
    with RefServer("delay", delay_ms=5) as fast, RefServer("delay", delay_ms=10) as slow:
        yield fast, slow


def _run(data: dict, mode: str = "split"):
    spec = parse_spec(data)
    out = run_ab(spec, AbOptions(mode=mode),
                 quiet=True)
    return out.verdict, out.extra, out.report


@pytest.fixture(scope="module")
def three_variant_run(delay_servers, tmp_path_factory):
    """A (5 ms) vs B (10 ms) vs C (the 5 ms server again), with a warm-up; run once."""
    fast, slow = delay_servers
    out = tmp_path_factory.mktemp("ab-api")
    data = {
        "name": "api-ab",
        "variants": [{"name": "A", "url": fast.url + "/"}, {"name": "B", "url": slow.url + "/"},
                     {"name": "C", "url": fast.url + "/"}],
        "load": {"rate": 90, "duration": "4s", "warmup": "1s", "timeout": "5s"},
        "output": {"dir": str(out)},
    }
    return _run(data)


def _row(rows, metric_prefix: str):
    found = [r for r in rows if r.metric.startswith(metric_prefix)]
    assert len(found) == 1, [r.metric for r in rows]
    return found[0]


def test_slower_variant_loses_at_p50(three_variant_run):
    v, _extra, _report = three_variant_run
    assert (v.a_name, v.b_name) == ("A", "B")
    p50 = _row(v.rows, "latency p50")
    # a delay server never answers sooner than its delay
    assert p50.a >= 4.9 and p50.b >= 9.9, (p50.a, p50.b)
    assert p50.diff > 2.5, p50
    assert p50.significant and p50.better == "a", p50
    assert v.significant
    assert "latency p50 (ms)" in regressed(v)
    assert "B is slower than A" in v.sentence


def test_verdict_counts_only_the_measured_window(three_variant_run):
    """The statistics use the requests the summary reports: warm-up requests stay out of both."""
    v, _, report = three_variant_run
    variants = report.summary["variants"]
    assert variants["A"]["requests"]["warmup"] > 0
    for r in v.rows:
        if r.kind in ("latency", "latency_rank"):
            assert r.n_a == variants["A"]["latency_ms"]["count"], r
            assert r.n_b == variants["B"]["latency_ms"]["count"], r
    err = _row(v.rows, "error rate")
    assert err.n_a == variants["A"]["requests"]["scheduled"]
    assert err.n_b == variants["B"]["requests"]["scheduled"]


def test_verdict_files_match_the_returned_verdict(three_variant_run):
    v, extra, report = three_variant_run
    run_dir = report.run_dir
    saved = json.loads((run_dir / "verdict.json").read_text())
    assert saved == json.loads(json.dumps(verdict_dict(v, extra), default=str))
    md = (run_dir / "verdict.md").read_text()
    assert v.sentence in md
    assert "| latency p50 (ms) |" in md


def test_third_variant_is_compared_with_a(three_variant_run):
    _v, extra, report = three_variant_run
    assert set(report.summary["variants"]) == {"A", "B", "C"}
    other = extra["others"]["C"]
    assert (other["a"], other["b"]) == ("A", "C")
    p50 = next(r for r in other["rows"] if r["metric"].startswith("latency p50"))
    # C is the very same server as A: whatever the test decides, the medians are close
    assert abs(p50["diff"]) < 0.25 * p50["a"], p50
    saved = json.loads((report.run_dir / "verdict.json").read_text())
    assert saved["others"]["C"]["rows"] == other["rows"]


def test_compare_of_the_saved_run_reproduces_the_ab_verdict(three_variant_run):
    """`stinger compare RUN:A RUN:B` reads the run directory; `stinger ab` used live metrics: same rows."""
    v, _, report = three_variant_run
    saved = read_run(report.run_dir)
    a = variant_data_from_run(saved, "A")
    b = variant_data_from_run(saved, "B")
    v2, _ = compare_variants(a, b, seed=saved.summary["seed"])   # the run's own (fresh) seed
    assert [r.metric for r in v2.rows] == [r.metric for r in v.rows]
    for live, disk in zip(v.rows, v2.rows, strict=True):
        assert disk.a == pytest.approx(live.a) and disk.b == pytest.approx(live.b), live.metric
        assert disk.ci_low == pytest.approx(live.ci_low, nan_ok=True), live.metric   # nan: undecided (too few)
        assert disk.ci_high == pytest.approx(live.ci_high, nan_ok=True), live.metric
        assert disk.significant == live.significant, live.metric


def test_unreachable_variant_loses_on_errors_without_latency_rows(delay_servers, tmp_path):
    fast, _ = delay_servers
    data = {
        "variants": [{"name": "up", "url": fast.url + "/"},
                     {"name": "down", "url": f"http://127.0.0.1:{free_port()}/"}],
        "load": {"rate": 40, "duration": "2s", "timeout": "2s", "connect_timeout": "1s"},
        "output": {"dir": str(tmp_path)},
    }
    v, _, report = _run(data)
    down = report.summary["variants"]["down"]["requests"]
    assert down["ok"] == 0 and down["failed"] == down["scheduled"] > 0
    # nothing succeeded on B, so there is no latency to compare: no latency rows, no crash
    assert not [r for r in v.rows if r.kind in ("latency", "latency_rank")]
    err = _row(v.rows, "error rate")
    assert err.a == 0 and err.b == 100
    assert err.significant and err.better == "a"
    assert regressed(v) == [err.metric]
    assert json.loads((report.run_dir / "verdict.json").read_text())["significant"] is True
