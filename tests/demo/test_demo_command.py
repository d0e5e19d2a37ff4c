"""`stinger demo`: the embedded demo end to end, as a user runs it.

The command starts the demo model server as its own child, A/B-tests the
`fast` and `accurate` variants with paired traffic, writes a run directory
and stops the server by PID whatever happens. The tests watch the command's
process tree while it runs, so they can check afterwards that every demo
server it started is gone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

CLI = [sys.executable, "-c", "import sys; from stinger.cli import main; main(sys.argv[1:])"]


def run_watching_servers(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str, str, set[int]]:
    """Run `stinger ARGS`; return (exit code, stdout, stderr, PIDs of demo servers seen in its tree)."""
    proc = subprocess.Popen([*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    seen: set[psutil.Process] = set()
    deadline = time.monotonic() + timeout
    try:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                for child in parent.children(recursive=True):
                    try:
                        if "stinger.demo.server" in " ".join(child.cmdline()):
                            seen.add(child)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            time.sleep(0.05)
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:  # only our own child, by its PID
            proc.kill()
            proc.wait(10)
    return proc.returncode, out, err, seen


def assert_gone(servers: set[psutil.Process]) -> None:
    # psutil.Process.is_running() checks the creation time too, so a recycled PID is not mistaken for ours
    alive = [p.pid for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"demo server processes left running: {alive}"


@pytest.mark.slow
def test_demo_runs_a_paired_ab_of_fast_vs_accurate(tmp_path):
    out = tmp_path / "runs"
    code, _stdout, stderr, servers = run_watching_servers(["demo", "--duration", "4s", "--quiet", "--out", str(out)],
                                                         tmp_path)
    assert code == 0, stderr
    assert servers, "the demo server was never seen in the command's process tree"
    assert_gone(servers)
    run_dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    run_dir = run_dirs[0]
    md = (run_dir / "verdict.md").read_text()
    assert "fast" in md and "accurate" in md
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert (verdict["a"], verdict["b"]) == ("fast", "accurate")
    assert any(r["kind"] == "accuracy" for r in verdict["rows"]), verdict["rows"]
    assert 0 < verdict["agreement"] <= 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["split"] == "paired" and summary["pairing"] == "independent"
    assert set(summary["variants"]) == {"fast", "accurate"}
    # the sentence states the latency difference the two models really have (issue 15: the same-instant
    # schedule made fast wait for accurate in the one worker, and the demo said "no significant difference"
    # with server times of 1.2 and 19.6 ms); judged against the server's own time in the same run
    server = {n: summary["variants"][n]["server_time_ms"]["p50"] for n in ("fast", "accurate")}
    own = server["accurate"] - server["fast"]
    p50 = next(r for r in verdict["rows"] if r["metric"].startswith("latency p50"))
    assert p50["significant"] and p50["better"] == "a", (verdict["sentence"], p50)
    assert 0.5 * own <= p50["diff"] <= 2 * own, (p50["diff"], server)
    assert verdict["sentence"].startswith("accurate is slower than fast at p50 by"), verdict["sentence"]
    for name, vs in summary["variants"].items():
        req = vs["requests"]
        assert req["scheduled"] > 0 and req["ok"] == req["scheduled"], (name, req)
        assert 0 < vs["quality"]["accuracy"] <= 1 and vs["quality"]["labelled"] > 0, vs.get("quality")
    assert (run_dir / "predictions.jsonl").is_file()
    # the saved spec names a dataset that outlives the demo (it is kept in the run directory)
    import yaml

    data = Path(yaml.safe_load((run_dir / "spec.yaml").read_text())["payload"]["data"])
    assert data.is_file() and data.parent == run_dir.resolve(), data
    # nothing is written outside --out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_demo_bad_duration_is_a_usage_error_and_stops_the_server(tmp_path):
    out = tmp_path / "runs"
    code, _, stderr, servers = run_watching_servers(["demo", "--duration", "soon", "--quiet", "--out", str(out)],
                                                    tmp_path)
    assert code == 2, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("stinger: error: "), stderr
    assert "duration" in lines[0]
    assert_gone(servers)
    assert not out.exists() or not any(out.iterdir())
