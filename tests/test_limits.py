"""Limits (issue 10 items 5 and 6): value ranges, per-machine safety ceilings and `--yes`,
the abort rules (`core.abort`, a table-tested policy) and the file-descriptor limit."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stinger.core.abort import DEAD_ENDPOINT, AbortPolicy, IntervalCounts, parse_abort_rule
from stinger.errors import UsageError


def cli(*argv: str, stub: bool = True) -> tuple[int, str]:
    """`stinger ARGV` in process with the load replaced by its preflight: (exit code, stderr)."""
    from stinger import _api
    from stinger.cli import main

    def no_load(spec, *, outputs=None, workers=None, **_):   # control, ...: what a run takes besides
        from stinger.orchestrate.planning import build_plans
        from stinger.orchestrate.preflight import ensure_fd_limit, preflight

        preflight(spec)
        ensure_fd_limit(build_plans(spec, workers=workers))
        raise SystemExit(0)

    saved = _api.run
    if stub:
        _api.run = no_load
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
            main(list(argv))
    finally:
        _api.run = saved
    return info.value.code or 0, err.getvalue()


URL = ["--url", "http://127.0.0.1:1/"]


# ------------------------------------------------------------------ ranges
@pytest.mark.parametrize("argv, words", [
    (["--rate", "1e308", "--duration", "1s"], "rate must be at most"),
    (["--ramp", "1:1e308:1s"], "rate must be at most"),
    (["--rate", "10", "--duration", "99999999h"], "at most 30 days"),
    (["--rate", "10", "--duration", "1s", "--workers", "1000000"], "workers must be between 1 and 1024"),
    (["--users", "100000000", "--duration", "1s"], "load.users"),
    (["--rate", "10", "--requests", str(10**15)], "load.requests"),
    (["--rate", "10", "--duration", "1s", "--abort-on", "error_rate>500%"], "abort rule"),
    (["--rate", "10", "--duration", "1s", "--abort-on", "latency>5"], "abort rule"),
])
def test_out_of_range_values_are_one_line_errors(argv, words):
    t = time.perf_counter()
    code, err = cli("run", *URL, *argv)
    assert time.perf_counter() - t < 5
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("stinger: error: ") and words in err, err


@pytest.mark.parametrize("argv, ceiling", [
    (["--rate", "10000000", "--duration", "1s"], "100,000 req/s"),
    (["--ramp", "1:200000:1s"], "100,000 req/s"),
    (["--users", "20000", "--duration", "1s"], "10,000 users"),
    (["--rate", "10", "--duration", "1s", "--workers", str((os.cpu_count() or 1) * 4 + 1)], "per core"),
])
def test_past_a_safety_ceiling_needs_yes(argv, ceiling):
    code, err = cli("run", *URL, *argv)
    assert code == 2 and ceiling in err and "--yes" in err and len(err.splitlines()) == 1, err
    code, err = cli("run", *URL, *argv, "--yes")
    assert code in (0, 2), err
    assert "ceiling" not in err   # confirmed: the ceiling no longer applies (the fd check may still speak)


def test_planned_workers_never_exceed_the_hard_limit():
    from stinger.cli import resolve_spec
    from stinger.orchestrate.planning import build_plans

    spec, _ = resolve_spec(None, {"urls": ("http://127.0.0.1:1/",), "rate": "10", "duration": "1s"})
    assert len(build_plans(spec, workers=10**6)) <= 1024


# ------------------------------------------------------------------ the abort policy (a table)
@pytest.mark.parametrize("text, metric, op, threshold, window", [
    ("error_rate>50%", "error_rate", ">", 0.5, 10.0),
    ("error_rate >= 0.9 : 30s", "error_rate", ">=", 0.9, 30.0),
    ("connect_rate>80%:5", "connect_rate", ">", 0.8, 5.0),
])
def test_abort_rules_parse(text, metric, op, threshold, window):
    r = parse_abort_rule(text)
    assert (r.metric, r.op, r.window) == (metric, op, window) and r.threshold == pytest.approx(threshold)


@pytest.mark.parametrize("text", ["", "error_rate", "error_rate<5%", "p95>300ms", "error_rate>2", "error_rate>5%:0s"])
def test_bad_abort_rules_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_abort_rule(text)


def _rows(*counts):
    return {i: IntervalCounts(*c) for i, c in enumerate(counts)}


@pytest.mark.parametrize("rules, rows, now, aborted", [
    # the default rule: every request of the last 5 s failed to connect
    ([], _rows(*[(0, 10, 10)] * 6), 6.5, True),
    ([], _rows(*[(0, 10, 10)] * 6), 5.5, False),             # the window is not complete yet
    ([], _rows(*[(0, 10, 10)] * 5, (1, 9, 9)), 7.0, False),  # one success in the window: not dead
    ([], _rows((5, 0, 0), *[(0, 10, 10)] * 6), 7.0, True),   # it was up, then went down
    ([], _rows(*[(0, 10, 0)] * 6), 6.5, False),              # failing (5xx), but connecting
    ([], _rows(*[(0, 0, 0)] * 3, (0, 1, 1), (0, 1, 1), (0, 1, 1)), 6.5, False),  # too few requests to judge
    (["error_rate>50%:2s"], _rows((10, 0, 0), (4, 6, 0), (3, 7, 0)), 4.0, True),
    (["error_rate>50%:2s"], _rows((10, 0, 0), (6, 4, 0), (5, 5, 0)), 4.0, False),
    (["error_rate>=50%:2s"], _rows((10, 0, 0), (6, 4, 0), (4, 6, 0)), 4.0, True),
])
def test_abort_policy(rules, rows, now, aborted):
    policy = AbortPolicy.from_texts(rules)
    assert (policy.check(rows, now) is not None) == aborted


def test_the_default_rule_does_not_judge_while_the_generator_lags():
    # a starved generator sees only its own backlog's connect failures for seconds: not a dead
    # endpoint (2 of 5 runs at 20,000 req/s beside a CPU hog were aborted as "unreachable")
    dead = _rows(*[(0, 10, 10)] * 6)
    assert AbortPolicy.from_texts([]).check(dead, 6.5, generator_lag=5.8) is None
    assert AbortPolicy.from_texts([]).check(dead, 6.5, generator_lag=0.2) is not None
    # the user's own rules always judge
    assert AbortPolicy.from_texts(["connect_rate>=90%:5s"]).check(dead, 6.5, generator_lag=5.8) is not None


def test_the_default_rule_names_itself():
    reason = AbortPolicy([DEAD_ENDPOINT]).check(_rows(*[(0, 10, 10)] * 6), 6.5)
    assert "endpoint is unreachable" in reason and "50 of 50" in reason


# ------------------------------------------------------------------ real runs
def _run_proc(args, timeout=60):
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_a_dead_endpoint_stops_the_run_reported_and_exit_3(tmp_path):
    """Before: a closed port was hammered for the whole schedule (here 60 s), exit 0."""
    from stinger.testing.procs import free_port

    port = free_port()
    t = time.monotonic()
    proc = _run_proc(["run", "--url", f"http://127.0.0.1:{port}/", "--rate", "50", "--duration", "60s",
                      "--out", str(tmp_path), "-q"])
    took = time.monotonic() - t
    assert proc.returncode == 3, proc.stderr
    assert took < 20, took
    [d] = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((d / "summary.json").read_text())
    assert "endpoint is unreachable" in summary["aborted"]
    assert "aborted" in proc.stderr and "Traceback" not in proc.stderr


def test_abort_on_a_user_rule(tmp_path):
    """`--abort-on 'error_rate>50%:2s'` against an endpoint answering 404 stops in seconds."""
    from stinger.testing.servers import RefServer

    with RefServer("delay", delay_ms=1) as s:
        t = time.monotonic()
        proc = _run_proc(["run", "--url", s.url + "/", "--check-status", "201", "--rate", "50", "--duration", "30s",
                          "--abort-on", "error_rate>50%:2s", "--out", str(tmp_path), "-q"])
        took = time.monotonic() - t
    assert proc.returncode == 3, proc.stderr
    assert took < 15, took
    [d] = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((d / "summary.json").read_text())
    assert "error_rate>50%:2s" in summary["aborted"]


def test_a_check_regex_that_never_finishes_does_not_hang_the_run(tmp_path):
    """Issue 10's last gap: a catastrophically backtracking --check-regex used to hold the flush thread
    for ever. Each search now has a time budget: the run ends on time, the answers fail the check, and
    the run says the regex was given up."""
    from stinger.testing.servers import RefServer

    with RefServer("delay", delay_ms=1, big_every=1, big_bytes=2000) as s:
        t = time.monotonic()
        proc = _run_proc(["run", "--url", s.url + "/", "--check-regex", "([^}]|[^}][^}])+$", "--rate", "20",
                          "--duration", "2s", "--out", str(tmp_path), "-q"])
        took = time.monotonic() - t
    assert took < 30, took
    assert proc.returncode == 1, proc.stderr            # nothing succeeded
    assert "Traceback" not in proc.stderr
    [d] = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((d / "summary.json").read_text())
    v = summary["variants"]["default"]
    assert v["requests"]["ok"] == 0 and v["errors"]["check_failed"] == v["requests"]["scheduled"] == 40
    assert any("no longer run" in w for w in summary["warnings"])


# ------------------------------------------------------------------ file descriptors
def _closed_plans(users: int, workers: int = 1):
    from stinger.cli import resolve_spec
    from stinger.orchestrate.planning import build_plans

    spec, _ = resolve_spec(None, {"urls": ("http://127.0.0.1:1/",), "users": users, "duration": "1s",
                                  "confirm": True})
    return build_plans(spec, workers=workers)


def test_fd_limit_is_raised_toward_the_hard_limit(monkeypatch):
    import resource

    from stinger.orchestrate.preflight import ensure_fd_limit

    calls = []
    monkeypatch.setattr(resource, "getrlimit", lambda r: (1024, 1_048_576))
    monkeypatch.setattr(resource, "setrlimit", lambda r, v: calls.append(v))
    ensure_fd_limit(_closed_plans(20_000))
    assert calls and calls[0][0] >= 20_000


def test_fd_limit_past_the_hard_limit_is_a_one_line_error_before_the_run(monkeypatch):
    """Before: 20,000 users sent 0 requests, exited 0 and printed 20 tracebacks."""
    import resource

    from stinger.orchestrate.preflight import ensure_fd_limit

    monkeypatch.setattr(resource, "getrlimit", lambda r: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda r, v: None)
    with pytest.raises(UsageError) as info:
        ensure_fd_limit(_closed_plans(20_000))
    msg = str(info.value)
    assert "4,096" in msg and "ulimit -n" in msg and "\n" not in msg


def test_fd_limit_through_the_cli(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda r: (1024, 2048))
    monkeypatch.setattr(resource, "setrlimit", lambda r, v: None)
    code, err = cli("run", *URL, "--users", "20000", "--duration", "1s", "--yes", "--workers", "1")
    assert code == 2 and "open files" in err and len(err.splitlines()) == 1, err


def test_a_spec_file_path_over_255_bytes(tmp_path):
    code, err = cli("run", str(tmp_path / ("s" * 300 + ".yaml")), *URL)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert len(err) < 300


def test_names_over_255_bytes(tmp_path):
    code, err = cli("run", *URL, "--rate", "1", "--duration", "1s", "--name", "n" * 300, "--out", str(tmp_path))
    assert code == 2 and "name" in err and len(err.splitlines()) == 1, err


def test_ok_input_still_passes(tmp_path):
    code, err = cli("run", *URL, "--rate", "100", "--duration", "1s", "--out", str(Path(tmp_path)))
    assert code == 0, err


def test_closed_model_past_the_soft_fd_limit_runs_every_request(tmp_path):
    """Before: with `ulimit -Sn 1024`, 3,000 users gave 58% 'connect' failures (EMFILE), exit 0.
    Now the soft limit is raised to what the users need (the hard limit allows it)."""
    from stinger.testing.servers import RefServer

    with RefServer("delay", delay_ms=50) as s:
        proc = subprocess.run(["bash", "-c", f"ulimit -Sn 1024 && exec {sys.executable} -m stinger.cli run "
                               f"--url {s.url}/ --users 1500 --duration 1s --workers 1 --out {tmp_path} -q"],
                              capture_output=True, text=True, timeout=90)
    if "hard limit" in proc.stderr:
        pytest.skip("this machine's hard fd limit is below 1,564")
    assert proc.returncode == 0, proc.stderr
    [d] = [p for p in tmp_path.iterdir() if p.is_dir()]
    req = json.loads((d / "summary.json").read_text())["variants"]["default"]["requests"]
    assert req["failed"] == 0 and req["ok"] > 1500
