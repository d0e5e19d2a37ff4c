"""runs.py: the run directory written by a real short run, and read back."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from stinger.errors import UsageError
from stinger.orchestrate.run import run_spec
from stinger.outputs.rundir import HLOG, INTERVALS, SPEC, SUMMARY, new_run_dir, read_run
from stinger.spec import parse_spec
from stinger.testing.procs import stop_process, wait_http


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    """Python's own http.server on 127.0.0.1 (a subprocess, stopped by its PID)."""
    root = tmp_path_factory.mktemp("www")
    (root / "index.json").write_text('{"ok": true}')
    proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                             "--directory", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://127.0.0.1:N/) ..."
        port = int(line.split(" port ")[1].split()[0])
        url = f"http://127.0.0.1:{port}/index.json"
        wait_http(url, timeout=20)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def saved(http_server, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    data = {"name": "round trip", "target": {"url": http_server,
                                             "headers": {"Authorization": "Bearer SECRET123", "X-Trace": "t1"}},
            "load": {"rate": 20, "duration": "1s", "workers": 1}, "output": {"dir": str(out)}}
    spec = parse_spec(data)
    report = run_spec(spec, quiet=True)
    return report


def test_run_directory_has_the_files(saved):
    d = saved.run_dir
    assert d is not None and d.is_dir()
    assert d.name.endswith("-round-trip")
    for name in (SPEC, SUMMARY, INTERVALS, HLOG):
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name


def test_read_run_round_trips_the_summary(saved):
    back = read_run(saved.run_dir)
    expected = json.loads(json.dumps(saved.summary, default=str))
    assert back.summary == expected
    assert back.summary["run_dir"] == str(saved.run_dir)
    v = back.summary["variants"]["default"]
    assert v["requests"]["scheduled"] == 20 and v["requests"]["ok"] == 20 and v["requests"]["unaccounted"] == 0


def test_intervals_and_histograms_add_up(saved):
    back = read_run(saved.run_dir)
    v = back.summary["variants"]["default"]
    assert back.intervals, "no interval rows"
    assert sum(int(r["ok"]) for r in back.intervals) == v["requests"]["ok"]
    assert sum(int(r["scheduled"]) for r in back.intervals) == v["requests"]["scheduled"]
    hists = back.interval_histograms("latency")
    assert set(hists) == {"default"}
    assert sum(h.total_count for _, h in hists["default"]) == v["latency_ms"]["count"] == 20
    starts = [s for s, _ in hists["default"]]
    assert starts == sorted(starts)
    assert back.interval_histograms("no-such-metric") == {}
    assert back.predictions() == []


def test_saved_spec_is_a_valid_spec_without_secrets(saved):
    d = saved.run_dir
    data = yaml.safe_load((d / SPEC).read_text())
    s = parse_spec(data)
    assert s.load.rate == 20 and s.load.duration == 1.0
    assert s.target.headers["Authorization"] == "<redacted>"
    assert s.target.headers["X-Trace"] == "t1"
    for f in d.rglob("*"):
        if f.is_file():
            assert b"SECRET123" not in f.read_bytes(), f


def test_new_run_dir_is_fresh_each_time(tmp_path):
    a = new_run_dir(tmp_path, "my run/1")
    b = new_run_dir(tmp_path, "my run/1")
    c = new_run_dir(tmp_path / "nested" / "deeper")
    assert a != b and a.is_dir() and b.is_dir() and c.is_dir()
    assert a.parent == tmp_path and "/" not in a.name and " " not in a.name
    assert a.name.endswith("my-run-1")


def test_new_run_dir_uncreatable_is_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError) as info:
        new_run_dir(blocker)
    assert "\n" not in str(info.value)


def test_read_run_missing_dir(tmp_path):
    with pytest.raises(UsageError) as info:
        read_run(tmp_path / "nope")
    assert "does not exist" in str(info.value) and "\n" not in str(info.value)


def test_read_run_not_a_run_dir(tmp_path):
    with pytest.raises(UsageError) as info:
        read_run(tmp_path)
    assert "not a stinger run directory" in str(info.value)


def test_read_run_file_instead_of_dir(tmp_path):
    f = tmp_path / "summary.json"
    f.write_text("{}")
    with pytest.raises(UsageError):
        read_run(f)


def test_read_run_corrupt_summary(tmp_path):
    (tmp_path / SUMMARY).write_text("{not json")
    with pytest.raises(UsageError) as info:
        read_run(tmp_path)
    assert "invalid JSON" in str(info.value) and "\n" not in str(info.value)


def test_read_run_without_optional_files(tmp_path):
    (tmp_path / SUMMARY).write_text(json.dumps({"variants": {}}))
    back = read_run(tmp_path)
    assert back.intervals == [] and back.interval_histograms() == {} and back.predictions() == []
    assert back.series() == []


@pytest.mark.parametrize(("summary", "code"), [
    ({"slo_passed": True, "no_success": []}, 0),
    ({"slo_passed": False, "no_success": []}, 1),
    ({"slo_passed": True, "no_success": ["default"]}, 1),
    ({"slo_passed": False, "interrupted": True, "terminated": False}, 130),
    ({"slo_passed": True, "interrupted": True, "terminated": True}, 143),
    ({}, 0),   # a summary from before these fields existed
])
def test_exit_code_rules(summary, code):
    from stinger.core.exit_codes import exit_code_of

    assert exit_code_of(summary) == code
