"""A/B verdicts on too little data (a new-user review's finding).

- too few requests in a variant: no CI and no significance call for its rows (`core.stats.too_few`,
  one rule for `stinger ab`, `stinger compare`, token and goodput rows), the sentence says the test
  could not decide and points to `stinger plan`.

Real runs against reference delay servers on 127.0.0.1 (a few seconds of load each).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stinger.core.stats import MIN_PER_VARIANT, goodput_diff, min_count, quantile_diffs
from stinger.core.verdict import verdict
from stinger.testing.servers import RefServer

CLI = [sys.executable, "-c", "import sys; from stinger.cli import main; main(sys.argv[1:])"]


def stinger(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _hist(ms: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
    v, c = np.unique(np.round(np.asarray(ms) * 1000).astype(np.int64), return_counts=True)
    return [(v, c)]


def test_one_request_against_five_is_no_verdict():
    """The review's case in numbers: A one cold 45.5 ms request, B five near 10 ms: before, "B faster at
    p50 by 34.8 ms (CI 34.7-35.1), significant"; now no CI, no p, and the sentence cannot decide."""
    rows = quantile_diffs(_hist([45.5]), _hist([10.6, 10.7, 10.8, 10.9, 11.0]), [0.5, 0.95, 0.99])
    v = verdict(rows)
    assert not v.significant
    for r in v.rows:
        assert r.undecided and r.p_value is None and np.isnan(r.ci_low), r
    assert "could not decide" in v.sentence and "stinger plan" in v.sentence, v.sentence
    assert "n=1 and 5" in v.sentence and f"at least {MIN_PER_VARIANT}" in v.sentence, v.sentence
    assert v.sentence.count("too few") == 1, v.sentence   # p95's and p99's larger minimums: in the table
    assert "undecided: too few requests (n=1 and 5" in v.to_markdown()


def test_minimum_grows_with_the_quantile_and_applies_to_goodput():
    assert (min_count(0.5), min_count(0.95), min_count(0.99)) == (MIN_PER_VARIANT, 20, 100)
    few = verdict([goodput_diff(0, 3, 3, 3)])            # 0 of 3 against 3 of 3: Fisher p 0.1
    assert few.rows[0].undecided and not few.significant
    enough = verdict([goodput_diff(0, 30, 30, 30)])
    assert enough.rows[0].undecided is None and enough.significant
    # a quantile row decided for p50 but not yet for p99 at 40 requests each: the sentence says both
    rng = np.random.default_rng(0)
    rows = quantile_diffs(_hist(list(20 + rng.random(40))), _hist(list(10 + rng.random(40))), [0.5, 0.99])
    v = verdict(rows)
    assert [r.undecided is None for r in v.rows] == [True, False]
    assert v.significant and "faster" in v.sentence and "not decided" in v.sentence, v.sentence


@pytest.fixture(scope="module")
def servers():
    with RefServer("delay", delay_ms=20) as slow, RefServer("delay", delay_ms=10) as fast:
        yield slow, fast


def test_ab_and_compare_of_six_requests_cannot_decide(servers, tmp_path):
    """`stinger ab --rate 5 --requests 6`: too few per variant; `stinger compare` of the run says the same."""
    slow, fast = servers
    proc = stinger("ab", "--a", slow.url + "/", "--b", fast.url + "/", "--rate", "5", "--requests", "6",
                   "--seed", "2", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    v = json.loads((run / "verdict.json").read_text())
    assert not v["significant"], v["sentence"]
    assert "could not decide" in v["sentence"] and "stinger plan" in v["sentence"], v["sentence"]
    assert all(r["undecided"] and r["p_value"] is None for r in v["rows"]), v["rows"]
    assert "could not decide" in " ".join(proc.stdout.split())
    assert "undecided: too few requests" in (run / "report.html").read_text()   # the report's table says why too
    cmp = stinger("compare", f"{run}:A", f"{run}:B", cwd=tmp_path)
    assert "could not decide" in " ".join(cmp.stdout.split()), cmp.stdout + cmp.stderr

