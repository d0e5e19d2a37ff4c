"""orchestrate/ab_confounds.py: what interference and saturation do to a verdict (no network: the
verdict, the interference and the saturation are built here; tests/test_ab_shared.py runs them for real)."""

from __future__ import annotations

import json

from stinger.core.saturation import Saturation
from stinger.core.stats import Comparison
from stinger.core.stats.interference import Effect, Interference
from stinger.core.verdict import verdict
from stinger.orchestrate.ab_confounds import qualify
from stinger.outputs.rundir import verdict_dict

NAMES = ["A", "B"]


def _row(metric, diff, p, kind="latency", unit="ms"):
    return Comparison(metric=metric, a=2.0, b=2.0 + diff, diff=diff, ci_low=diff - 1, ci_high=diff + 1, p_value=p,
                      p_adjusted=p, significant=p < 0.05, better=None, method="m", kind=kind, unit=unit,
                      favours="a" if diff > 0 else "b")


def _verdict():
    return verdict([_row("latency p50 (ms)", 0.2, 0.001), _row("latency p95 (ms)", 0.3, 0.3),
                    _row("error rate (%)", 0.0, 1.0, kind="error_rate", unit="points")])


def _interference(found: bool, diff: float = 20.0) -> Interference:
    eff = Effect("latency", 0.5, 2.0, 2.0 + diff, diff, diff - 1, diff + 1, 0.975, 0.001)
    return Interference(alone=40, overlapped=60, effects=(eff,), found=found, reason="r")


KEPT_UP = Saturation(False, True, "kept up", 1.0, 0.0, 0.0)
BEHIND = Saturation(True, True, "it answered 62 % of the requests offered in the second half of the run while its "
                                "latency grew by 353 ms a second", 0.62, 0.353, 0.0)


def test_simultaneous_interference_confounds_the_latency_comparison():
    extra: dict = {}
    v = qualify(_verdict(), extra, names=NAMES, pairing="simultaneous",
                interference_by={"A": _interference(True), "B": _interference(False)},
                saturation_by={"A": KEPT_UP, "B": KEPT_UP})
    assert v.sentence.startswith("The latency comparison is confounded by shared infrastructure")
    assert "A's p50 latency was 20.0 ms higher while a request of B was in flight" in v.sentence
    assert "--pairing simultaneous" in v.sentence and "--split split" in v.sentence
    assert "slower" not in v.sentence and "faster" not in v.sentence      # no latency claim survives
    assert "No significant difference between A and B in error rate" in v.sentence
    assert not v.significant                      # the only significant row was a confounded latency row
    assert all(r.caveat and "confounded" in r.caveat for r in v.rows if r.kind == "latency")
    assert "‡ confounded" in v.to_markdown()
    inter = verdict_dict(v, extra)["interference"]
    assert inter["found"] == ["A"] and inter["confounded"] is True and inter["schedule"] == "simultaneous"
    assert inter["variants"]["A"]["effects"][0]["diff_ms"] == 20.0
    json.dumps(verdict_dict(v, extra))            # verdict.json is plain JSON


def test_independent_interference_is_a_note_not_a_confound():
    before = _verdict()
    extra: dict = {}
    v = qualify(before, extra, names=NAMES, pairing="independent",
                interference_by={"A": _interference(True), "B": _interference(False)},
                saturation_by={"A": KEPT_UP, "B": KEPT_UP})
    assert v.sentence == before.sentence and v.significant
    assert any(n.startswith("The variants share capacity: A's p50 latency") for n in v.notes)
    assert extra["interference"]["confounded"] is False and extra["saturated"] == []
    assert all(r.caveat is None for r in v.rows)


def test_a_saturated_variant_is_named_first_and_its_rows_marked():
    extra: dict = {}
    v = qualify(_verdict(), extra, names=NAMES, pairing=None, interference_by={},
                saturation_by={"A": KEPT_UP, "B": BEHIND})
    assert v.sentence.startswith("B could not keep up with the load: it answered 62 %")
    assert v.sentence.index("could not keep up") < v.sentence.index("slower")
    assert extra["saturated"] == ["B"] and extra["saturation"]["B"]["saturated"] is True
    assert "interference" not in extra
    latency = [r for r in v.rows if r.kind == "latency"]
    assert latency and all("B could not keep up" in r.caveat for r in latency)
    assert all(r.caveat is None for r in v.rows if r.kind != "latency")
    md = v.to_markdown()
    assert "| latency p50 (ms) ‡ |" in md and "‡ measured while B could not keep up" in md


def test_nothing_found_leaves_the_verdict_as_it_was():
    before = _verdict()
    extra: dict = {}
    v = qualify(before, extra, names=NAMES, pairing="independent",
                interference_by={"A": _interference(False), "B": _interference(False)},
                saturation_by={"A": KEPT_UP, "B": KEPT_UP})
    assert v is before
    assert extra["saturated"] == [] and extra["interference"]["found"] == []


def test_pairing_without_paired_traffic_is_a_usage_error():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "stinger.cli", "ab", "--a", "http://127.0.0.1:9/a", "--b",
                        "http://127.0.0.1:9/b", "--pairing", "simultaneous", "--rate", "1", "--duration", "1s"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("stinger: error: --pairing applies to paired traffic")
