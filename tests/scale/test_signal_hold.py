"""A stop signal that lands after the workers stopped must not cut the run directory short.

The second SIGINT of a double Ctrl-C (5-20 ms after the first) often arrives when the
workers have already sent their final records: the coordinator had restored Python's
default handler by then, so KeyboardInterrupt fired in the middle of writing the
results and the run directory was left without summary.json (1 of 2 double Ctrl-Cs in
`bench/soak.py signals`). Here an output raises the signal itself, at the worst moment:
after the run, before the run directory is written.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from stinger.orchestrate.run import default_outputs, run_spec
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer


class SignalOnFinish:
    name = "signal-on-finish"

    def __init__(self, n: int) -> None:
        self.n = n

    def start(self, info) -> None:
        pass

    def interval(self, snapshot) -> None:
        pass

    def finish(self, result) -> None:
        for _ in range(self.n):
            os.kill(os.getpid(), signal.SIGINT)   # this very process: the test's own


@pytest.fixture(autouse=True)
def _default_sigint():
    """Python's own SIGINT handler, as in a terminal: a shell starts background jobs with SIGINT ignored, and the
    run restores what it found, so these tests set the handler they judge the restoring against."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _run(tmp_path, n: int):
    with RefServer("delay", delay_ms=1) as s:
        data = {"target": {"url": s.url + "/"}, "load": {"rate": 50, "duration": "0.5s", "workers": 1},
                "output": {"dir": str(tmp_path)}}
        outputs = [SignalOnFinish(n), *default_outputs(quiet=True, write=True)]
        return run_spec(parse_spec(data), outputs=outputs)


def test_a_signal_while_the_results_are_written_is_held_and_the_run_directory_completes(tmp_path):
    report = _run(tmp_path, 2)
    files = {p.name for p in report.run_dir.iterdir()}
    assert {"summary.json", "series.csv", "spec.yaml"} <= files
    assert json.loads((report.run_dir / "summary.json").read_text())["variants"]["default"]["requests"]["ok"] == 25
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # restored after the run


def test_a_third_signal_past_the_run_still_stops_at_once(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, 3)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
