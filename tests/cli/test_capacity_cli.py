"""`stinger capacity` and `stinger ab --split capacity` against slots servers.

A slots server (K slots, each request holds one for S ms, the rest queue)
sustains exactly K/S req/s, and no more: that is the ground truth. Each search
runs as the real CLI in a subprocess, once per module fixture, with short
steps; the steps are chosen well clear of the capacity where it matters (a
step at 1.125x capacity achieves at most 89 % of its offered rate, so it fails
`achieved_ratio>=0.95` whatever the machine's speed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "import sys; from stinger.cli import main; main(sys.argv[1:])"]
STEP = ["--step-duration", "2s", "--step-warmup", "0.5s"]


def stinger(*args: str, cwd: Path, timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def capacity_files(out: Path) -> dict[str, dict]:
    """run directory name -> its capacity.json."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(out.glob("*/capacity.json"))}


@pytest.fixture(scope="module")
def slots200():
    with RefServer("slots", slots=2, service_ms=10) as server:
        assert server.capacity == pytest.approx(200)
        yield server


@pytest.fixture(scope="module")
def slots400():
    with RefServer("slots", slots=4, service_ms=10) as server:
        assert server.capacity == pytest.approx(400)
        yield server


# ------------------------------------------------------------------ stinger capacity (rate)
@pytest.fixture(scope="module")
def rate_search(slots200, tmp_path_factory):
    """One search with a price, shared: 150 pass, 300 fail, 225 fail, 187.5 pass, 206.25 (either way)."""
    out = tmp_path_factory.mktemp("capacity")
    proc = stinger("capacity", "--url", slots200.url + "/", *STEP, "--start", "150", "--precision", "10%",
                   "--price-per-hour", "1.0", "--instances", "2", "--quiet", "--out", str(out), cwd=out)
    return proc, out


def test_capacity_prints_json_near_the_known_capacity(rate_search, slots200):
    proc, _ = rate_search
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    capacity = slots200.capacity
    found = printed["max_sustainable"]
    assert found is not None and abs(found - capacity) / capacity <= 0.10, printed
    lo, hi = printed["bracket"]
    assert lo == found and hi is not None and lo < hi
    assert hi >= capacity * 0.95, printed  # the first fail is at or above the capacity
    assert printed["stop_reason"] == "converged"
    # the server cannot complete more than its capacity
    assert 0 < printed["throughput_at_max_rps"] <= capacity * 1.05


def test_capacity_json_is_written_with_every_step(rate_search, slots200):
    proc, out = rate_search
    assert proc.returncode == 0, proc.stderr
    files = capacity_files(out)
    assert len(files) == 1, files
    report = next(iter(files.values()))
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["schema"] == "stinger.capacity/1"
    assert report["mode"] == "rate" and report["unit"] == "req/s"
    assert report["max_sustainable"] == printed["max_sustainable"]
    assert report["bracket"] == printed["bracket"]
    targets = [r["target"] for r in report["steps"]]
    assert targets[:2] == [150, 300], targets  # grow from --start by --growth 2
    for r in report["steps"]:
        assert r["achieved_rps"] <= slots200.capacity * 1.05, r
        if r["target"] >= 1.5 * slots200.capacity:
            assert not r["passed"], r
    assert report["at_max"]["p95_ms"] is not None


def test_capacity_cost_per_million(rate_search):
    proc, out = rate_search
    assert proc.returncode == 0, proc.stderr
    report = next(iter(capacity_files(out).values()))
    throughput = report["throughput_at_max_rps"]
    cost = report["cost"]
    assert cost["price_per_hour"] == 1.0 and cost["instances"] == 2
    assert cost["per_million"] == pytest.approx(2 * 1e6 / 3600 / throughput, rel=1e-3)


# ------------------------------------------------------------------ stinger capacity --mode concurrency
def test_capacity_concurrency_mode_finds_a_user_count(slots200, tmp_path):
    """Closed model: 2 slots x 10 ms; U users wait about U x 5 ms, so p95<28ms holds up to ~4-5 users."""
    proc = stinger("capacity", "--url", slots200.url + "/", "--mode", "concurrency", "--start", "2",
                   "--slo", "p95<28ms", "--slo", "achieved_ratio>=0.95",
                   "--step-duration", "1.5s", "--step-warmup", "0.5s", "--quiet", "--out", str(tmp_path),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    users = printed["max_sustainable"]
    assert users is not None and float(users) == int(users), printed
    # 2 users keep the 2 slots busy with no queue (~10 ms); 8 users queue ~40 ms on average
    assert 2 <= users <= 8, printed
    report = next(iter(capacity_files(tmp_path).values()))
    assert report["mode"] == "concurrency" and report["unit"] == "users"
    # a closed model offers what it achieves: the achieved ratio is not judged
    assert report["slo"] == ["p95<28ms"]
    for r in report["steps"]:
        assert float(r["target"]) == int(r["target"]), r
        assert r["achieved_rps"] <= slots200.capacity * 1.05, r


# ------------------------------------------------------------------ stinger ab --split capacity
@pytest.fixture(scope="module")
def ab_capacity(slots200, slots400, tmp_path_factory):
    """A: 200 req/s, B: 400 req/s. At 50 % precision: A [150, 225), B [300, 450)."""
    out = tmp_path_factory.mktemp("ab-capacity")
    proc = stinger("ab", "--split", "capacity", "--a", slots200.url + "/", "--b", slots400.url + "/", *STEP,
                   "--start", "150", "--precision", "50%", "--quiet", "--out", str(out), cwd=out)
    return proc, out


def test_ab_capacity_says_b_sustains_more(ab_capacity, slots200, slots400):
    proc, out = ab_capacity
    assert proc.returncode == 0, proc.stderr
    assert "B sustains more load than A" in proc.stdout, proc.stdout
    files = capacity_files(out)
    by_variant = {name.rsplit("-", 1)[-1]: rep for name, rep in files.items()}
    assert set(by_variant) == {"A", "B"}, list(files)
    a_lo, a_hi = by_variant["A"]["bracket"]
    b_lo, b_hi = by_variant["B"]["bracket"]
    assert a_hi is not None and b_lo is not None
    assert a_hi <= b_lo, (by_variant["A"]["bracket"], by_variant["B"]["bracket"])  # brackets do not overlap
    # each bracket holds its server's true capacity
    assert a_lo <= slots200.capacity * 1.05 and a_hi >= slots200.capacity * 0.95
    assert b_lo <= slots400.capacity * 1.05 and (b_hi is None or b_hi >= slots400.capacity * 0.95)


def test_ab_capacity_saves_its_verdict(ab_capacity):
    """Like split and paired mode, the capacity A/B leaves its verdict (with the throughput row) on disk."""
    proc, out = ab_capacity
    assert proc.returncode == 0, proc.stderr
    verdicts = sorted(out.rglob("verdict.json"))
    assert verdicts, f"no verdict.json under --out: {sorted(p.relative_to(out) for p in out.rglob('*'))}"
    verdict = json.loads(verdicts[0].read_text())
    row = next(r for r in verdict["rows"] if r["kind"] == "throughput")
    assert row["significant"] is True and row["better"] == "b", row


def test_report_renders_a_capacity_search_and_an_ab_verdict_from_files(rate_search, ab_capacity):
    """`stinger report` works on every kind of directory the commands leave, from its files alone."""
    _, out = rate_search
    [cap_dir] = [p.parent for p in out.glob("*/capacity.json")]
    proc = stinger("report", str(cap_dir), cwd=out)
    assert proc.returncode == 0, proc.stderr
    assert "capacity curve" in proc.stdout and "max sustainable" in proc.stdout
    proc = stinger("report", "--json", str(cap_dir), cwd=out)
    assert json.loads(proc.stdout)["schema"] == "stinger.capacity/1"
    _, ab_out = ab_capacity
    [verdict_dir] = [p.parent for p in ab_out.rglob("verdict.json")]
    proc = stinger("report", str(verdict_dir), cwd=ab_out)
    assert proc.returncode == 0, proc.stderr
    assert "B sustains more load than A" in " ".join(proc.stdout.split())


def test_capacity_and_ab_offer_confirm_and_monitor(tmp_path):
    """Issue 9: failing steps are re-tested (--confirm) and monitors come from flags on every command."""
    for command in ("capacity", "ab", "run"):
        proc = stinger(command, "--help", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "--monitor" in proc.stdout, command
        if command != "run":
            assert "--confirm" in proc.stdout, command
    proc = stinger("capacity", "--url", "http://127.0.0.1:9/", "--confirm", "9", cwd=tmp_path)
    assert proc.returncode == 2 and "--confirm" in proc.stderr
