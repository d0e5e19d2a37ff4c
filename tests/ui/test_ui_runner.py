"""ui/runner.py: the stop escalates ({"stop": true}, then SIGTERM to the run's PID after the grace period, then
SIGKILL), one run at a time; and, once `stinger run` has `--control`, the closed model's users change."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from stinger.testing.servers import RefServer
from stinger.ui.runner import Busy, NotRunning, Runner

# a process that reads its stdin and ignores what it says (a run that does not honour {"stop": true})
DEAF = ("import sys, time, signal\n"
        "signal.signal(signal.SIGTERM, lambda *a: (sys.stdout.write('term\\n'), sys.stdout.flush(), sys.exit(7)))\n"
        "for line in sys.stdin: pass\n"
        "time.sleep(60)\n")
STUBBORN = ("import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "for line in sys.stdin: pass\ntime.sleep(60)\n")


def wait_ended(runner: Runner, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while (state := runner.state())["status"] != "ended":
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    return state


@pytest.mark.parametrize("script,code", [(DEAF, 7), (STUBBORN, -9)])
def test_a_run_that_does_not_stop_gets_sigterm_then_sigkill_after_the_grace(tmp_path: Path, script, code):
    fake = tmp_path / "fake.py"
    fake.write_text(script)
    # `command` + "run" + argv: the fake takes "run" and the flags as its arguments and ignores them
    runner = Runner(tmp_path / "runs", command=[sys.executable, str(fake)], control=True, grace=0.5)
    runner.start([], model="rate", spec={})
    with pytest.raises(Busy):
        runner.start([], model="rate", spec={})
    time.sleep(0.3)
    t0 = time.monotonic()
    runner.stop()
    state = wait_ended(runner)
    waited = time.monotonic() - t0
    assert state["exit_code"] == code and state["stopping"]
    assert waited >= 0.5 if code == 7 else waited >= 1.0      # one grace before SIGTERM, another before SIGKILL
    with pytest.raises(NotRunning):
        runner.stop()
    with pytest.raises(NotRunning):
        runner.change("rate", 10)


def test_the_closed_models_users_change_while_it_runs(tmp_path: Path):
    runner = Runner(tmp_path / "runs")
    with RefServer("delay", delay_ms=20) as srv:
        runner.start(["--url", srv.url + "/", "--users", "2", "--duration", "30s"], model="users", spec={})
        deadline = time.monotonic() + 60
        while not ((runner.state().get("live") or {}).get("points")):
            assert time.monotonic() < deadline and runner.state()["status"] != "ended", runner.state()
            time.sleep(0.1)
        change = runner.change("users", 6)
        assert change["users"] == 6
        time.sleep(2.5)
        runner.stop()
        state = wait_ended(runner, 60)
    assert state["exit_code"] == 0, state["stderr"]
    run = tmp_path / "runs" / state["run_dir"]
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines() if x.strip()]
    assert [e.get("users") for e in events if e.get("kind") == "load_change"] == [6]
