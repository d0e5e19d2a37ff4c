"""`ab --sequential`: the run stops as soon as the mSPRT decides, and the verdict says so."""

from __future__ import annotations

import pytest

from stinger.orchestrate.ab import AbOptions, run_ab
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow


def test_sequential_ab_stops_early_on_a_clear_difference(tmp_path):
    with RefServer("delay", delay_ms=5.0) as a, RefServer("delay", delay_ms=15.0) as b:
        data = {"variants": [{"name": "A", "url": a.url + "/"}, {"name": "B", "url": b.url + "/"}],
                "load": {"rate": 40, "duration": 90}, "server_time": None, "output": {"dir": str(tmp_path)}}
        spec = parse_spec(data)
        out = run_ab(spec, AbOptions(mode="split", sequential=True), quiet=True)
    v, extra, report = out.verdict, out.extra, out.report
    seq = extra["sequential"]
    assert seq["decision"] == "different" and seq["stopped_early"] is True
    assert seq["p_value"] < 0.05
    s = report.summary
    assert s["stopped_early"] is True and not s["interrupted"]
    assert s["elapsed_s"] < 60                       # decided long before the 90 s bound
    for name in ("A", "B"):
        r = s["variants"][name]["requests"]
        assert r["unaccounted"] == 0
        assert r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"]
    p50 = next(row for row in v.rows if row.metric.startswith("latency p50"))
    assert p50.significant and p50.better == "a"


def test_sequential_stop_reports_the_always_valid_interval_and_is_tuned_to_the_min_effect(tmp_path):
    # issue 9 item 3: with the mixture at the smallest effect worth detecting
    # (5 ms), a 10 ms difference stops at the earliest allowed look (warm-up +
    # 12 s), and the verdict is the always-valid CI, not the fixed-sample table.
    from stinger.orchestrate.ab import earliest_stop_s

    with RefServer("delay", delay_ms=5.0) as a, RefServer("delay", delay_ms=15.0) as b:
        data = {"variants": [{"name": "A", "url": a.url + "/"}, {"name": "B", "url": b.url + "/"}],
                "load": {"rate": 40, "duration": 60, "warmup": "1s"}, "server_time": None,
                "output": {"dir": str(tmp_path)}}
        spec = parse_spec(data)
        out = run_ab(spec, AbOptions(mode="split", sequential=True, min_effect_ms=5.0), quiet=True)
    seq, v = out.extra["sequential"], out.verdict
    assert seq["stopped_early"] and seq["tau_ms"] == 5.0 and seq["earliest_stop_s"] == earliest_stop_s(1.0) == 13.0
    assert out.report.summary["elapsed_s"] < earliest_stop_s(1.0) + 4
    assert seq["ci_low_ms"] <= seq["estimate_ms"] <= seq["ci_high_ms"] and seq["ci_low_ms"] > 5.0
    assert v.sentence.startswith("B is slower than A in mean latency by ") and "always-valid 95 % CI" in v.sentence
    assert any("stopped the run early" in n for n in v.notes)
    md = (out.run_dir / "verdict.md").read_text()
    assert "always-valid" in md and "for reference" in md
