"""`stinger compare --margin`, a busy machine named, and `stinger plan` at its edges (issue 15 items 9, 11).

Real runs against a reference delay server on loopback; the CLI in this process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stinger.cli import main
from stinger.testing.servers import RefServer


def stinger(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:
        code = 0
    out, err = capsys.readouterr()
    return code, out, err


def only_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if (p / "summary.json").exists()]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs of one 5 ms server (5.5 s at 100 req/s: a partial last second) and one of a 15 ms server."""
    out = tmp_path_factory.mktemp("edges")
    dirs = {}
    with RefServer("delay", delay_ms=5) as fast, RefServer("delay", delay_ms=15) as slow:
        for name, srv in (("one", fast), ("two", fast), ("slow", slow)):
            with pytest.raises(SystemExit) as exc:
                main(["run", "--url", srv.url + "/", "--rate", "100", "--duration", "5.5s", "--out", str(out / name),
                      "-q", "--seed", "3"])
            assert exc.value.code in (0, None), exc.value.code
            dirs[name] = only_dir(out / name)
    return dirs


def test_margin_is_stated_and_a_clear_regression_still_fails(runs, capsys, tmp_path):
    report = tmp_path / "compare.html"
    code, out, err = stinger(capsys, "compare", str(runs["one"]), str(runs["slow"]), "--margin", "5%",
                             "--report", str(report))
    assert code == 1 and "regression: the candidate is significantly worse on latency p50 (ms)" in err
    assert "margin" in out and "(±)" in out
    assert "P(B" not in out + err   # the rank row carries the variants' names
    html = report.read_text()
    assert "margin (±)" in html and "P(candidate faster)" in html and "P(B" not in html


@pytest.mark.parametrize("bad", ["five", "-3%", "2", "150%"])
def test_a_bad_margin_is_a_one_line_usage_error(runs, capsys, bad):
    code, _, err = stinger(capsys, "compare", str(runs["one"]), str(runs["two"]), "--margin", bad)
    assert code == 2, err
    assert "--margin" in err and "5%" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def _with_generator(src: Path, dst: Path, **generator) -> Path:
    """A copy of a run directory whose generator check said `generator` (what a run on a busy or a quiet
    machine saves in summary.json)."""
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    summary = json.loads((dst / "summary.json").read_text())
    summary["generator"] = {**summary.get("generator", {}), **generator}
    (dst / "summary.json").write_text(json.dumps(summary))
    return dst


def test_a_busy_run_is_named_in_compare(runs, tmp_path, capsys):
    quiet = _with_generator(runs["one"], tmp_path / "quiet", machine_busy=False, client_bound=False,
                            message="generator kept up: these results measure the endpoint")
    busy = _with_generator(runs["two"], tmp_path / "busy", machine_busy=True, client_bound=False,
                           message="generator kept up, though the machine is busy (a worker waited for a CPU "
                                   "31% of the time, p90 (limit 10%))")
    _, out, _ = stinger(capsys, "compare", str(quiet), str(busy))
    flat = " ".join(out.split())
    assert "the candidate run was on a busy machine: generator kept up, though the machine is busy" in flat, out
    assert "baseline run was" not in flat


def test_plan_reads_whole_seconds_only(runs, capsys):
    # 5.5 s at 100 req/s: five whole seconds; the half-full sixth, drawn as a whole second, read
    # the run as ~92 req/s and "550 requests in 6 s"
    code, out, err = stinger(capsys, "plan", "--baseline", str(runs["one"]), "--min-effect", "5ms")
    assert code == 0, err
    flat = " ".join(out.split())
    m = re.search(r"\(([\d,]+) requests in (\d+) whole seconds", flat)
    assert m and m.group(2) == "5", flat
    assert int(m.group(1).replace(",", "")) == pytest.approx(500, abs=15)
    rate = float(re.search(r"at ([\d,.]+) req/s per variant", flat).group(1).replace(",", ""))
    assert rate == pytest.approx(100, abs=3)


def test_plan_sizes_a_tail_only_effect(runs, capsys):
    code, out, err = stinger(capsys, "plan", "--baseline", str(runs["one"]), "--min-effect", "28ms", "--at", "p95")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "from p95 up (a tail-only increase: the median unchanged)" in flat
    code, _, err = stinger(capsys, "plan", "--baseline", str(runs["one"]), "--min-effect", "28ms", "--at", "p150")
    assert code == 2 and "--at 'p150' is not a percentile" in err


def test_plan_says_one_percentage_point(capsys):
    code, out, _ = stinger(capsys, "plan", "--min-effect", "1%", "--error-rate", "2%", "--rate", "100")
    assert code == 0
    assert "a change of 1 percentage point from" in " ".join(out.split())
    code, out, _ = stinger(capsys, "plan", "--min-effect", "2%", "--error-rate", "2%", "--rate", "100")
    assert "a change of 2 percentage points from" in " ".join(out.split())
