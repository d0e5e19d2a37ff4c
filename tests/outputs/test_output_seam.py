"""outputs/base.py: the registry, the output thread (coalescing, never blocking the merge
path), and a real run feeding a deliberately slow output."""

from __future__ import annotations

import threading
import time

import pytest

from stinger.errors import UsageError
from stinger.outputs.base import (
    REGISTRY,
    CapacityOutput,
    Output,
    OutputThread,
    RunFinished,
    RunInfo,
    Snapshot,
    VerdictOutput,
    create,
    resolve,
)


def _snap(t: float) -> Snapshot:
    return Snapshot(elapsed=t, variants=())


class Recorder:
    """An output that records what it was told; `delay` makes `interval` slow."""

    name = "recorder"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.events: list[tuple] = []
        self.seen: list[float] = []
        self.busy = threading.Event()

    def start(self, info) -> None:
        self.events.append(("start", info))

    def interval(self, snapshot) -> None:
        self.busy.set()
        self.seen.append(snapshot.elapsed)
        time.sleep(self.delay)

    def finish(self, result) -> None:
        self.events.append(("finish", result))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_output_is_an_output(name):
    out = create(name)
    assert isinstance(out, Output)
    assert out.name == name


def test_terminal_and_rundir_have_the_optional_abilities():
    for name in ("terminal", "rundir"):
        out = create(name)
        assert isinstance(out, CapacityOutput) and isinstance(out, VerdictOutput), name


def test_unknown_output_name_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown output 'html'"):
        create("html")
    with pytest.raises(UsageError, match="needs start, interval and finish"):
        resolve([object()])


def test_a_slow_output_is_handed_the_latest_snapshot_and_never_blocks_post():
    slow = Recorder(delay=0.3)
    with OutputThread([slow]) as thread:
        thread.post(_snap(0.0))
        assert slow.busy.wait(5)           # the output is now inside its slow interval()
        for k in range(1, 51):             # meanwhile the merge path posts 50 more
            thread.post(_snap(float(k)))
        posted_while_busy = thread.posted
        time.sleep(0.8)
    # every post returned while the output slept (the count is complete), and the output was
    # then given the newest snapshot, skipping the 49 in between (coalesced)
    assert posted_while_busy == 51
    assert slow.seen[0] == 0.0 and slow.seen[1] == 50.0
    assert len(slow.seen) == 2


def test_a_failing_output_is_stopped_and_the_others_go_on():
    class Broken(Recorder):
        name = "broken"

        def interval(self, snapshot) -> None:
            raise RuntimeError("boom")

    good, bad = Recorder(), Broken()
    with OutputThread([bad, good]) as thread:
        for k in range(3):
            thread.post(_snap(float(k)))
            deadline = time.monotonic() + 5
            while thread.delivered <= k and time.monotonic() < deadline:
                time.sleep(0.01)
    assert good.seen == [0.0, 1.0, 2.0]
    assert len(thread.errors) == 1 and "broken failed" in thread.errors[0] and "boom" in thread.errors[0]


@pytest.mark.slow
def test_a_slow_output_does_not_delay_merging_in_a_real_run(tmp_path):
    """A 6 s run with an output that takes 1.5 s per snapshot: the coordinator keeps posting every
    0.5 s (merging is not held up), the output sees fewer, the run accounts for every request."""
    from stinger.orchestrate.run import run_spec
    from stinger.spec import parse_spec
    from stinger.testing.servers import RefServer

    slow = Recorder(delay=1.5)
    with RefServer("delay", delay_ms=2) as server:
        data = {"target": {"url": server.url + "/"}, "load": {"rate": 50, "duration": "6s", "workers": 1},
                "output": {"dir": str(tmp_path)}}
        spec = parse_spec(data)
        posted = []
        orig_post = OutputThread.post

        def counting_post(self, snapshot):
            posted.append(snapshot.elapsed)
            orig_post(self, snapshot)

        OutputThread.post = counting_post
        try:
            report = run_spec(spec, outputs=[slow])
        finally:
            OutputThread.post = orig_post
    req = report.summary["variants"]["default"]["requests"]
    assert req["ok"] == req["scheduled"] == 300 and req["unaccounted"] == 0
    # progress went on at its own pace while the output slept: more posts than deliveries
    # (6 s: the first post can come late on a busy machine, while the monitors start)
    assert len(posted) >= 7, posted
    assert 1 <= len(slow.seen) < len(posted) / 2, (slow.seen, posted)
    # the output saw the run start and end, with the merged result
    (kind0, info), (kind1, result) = slow.events
    assert kind0 == "start" and isinstance(info, RunInfo) and info.variants == ("default",)
    assert kind1 == "finish" and isinstance(result, RunFinished) and result.summary is report.summary


def test_with_no_live_output_the_coordinator_builds_no_snapshot(tmp_path, monkeypatch):
    """A quiet run (only the run directory) gives the coordinator no progress work at all."""
    import stinger.orchestrate.run as run_mod
    from stinger.outputs.rundir import RunDirOutput
    from stinger.spec import parse_spec
    from stinger.testing.servers import RefServer

    seen = {}

    def fake_execute(plans, **kw):
        seen.update(kw)
        return real_execute(plans, **kw)

    real_execute = run_mod.execute
    monkeypatch.setattr(run_mod, "execute", fake_execute)
    with RefServer("delay", delay_ms=1) as server:
        data = {"target": {"url": server.url + "/"}, "load": {"rate": 20, "duration": "0.5s", "workers": 1}}
        report = run_mod.run_spec(parse_spec(data), outputs=[RunDirOutput(tmp_path, "quiet")])
    assert seen["on_progress"] is None
    assert (report.run_dir / "summary.json").is_file()
