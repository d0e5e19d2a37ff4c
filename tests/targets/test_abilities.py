"""targets/abilities.py: a run asks its kinds' coordinator halves by ability, and a vendor is one line.

A test-only vendor package (a module put in `sys.modules`, named in `stinger.vendors.VENDORS`)
gives the `fake` carrier a coordinator half with Preflight, ExtraMonitors and AfterRun; a real
run through `run_spec` must call the preflight with the run's variants before any load,
sample the extra monitor beside the run's own, and put the after-run block in summary.json.
Before the abilities a run named SageMaker and nothing else could add any of this.
"""

from __future__ import annotations

import sys
import types
from typing import ClassVar

import click
import numpy as np
import pytest

from stinger.core.blocks import Block
from stinger.core.records import Kind
from stinger.core.server_time import Origin, ServerTimeReading
from stinger.core.summary import Hist
from stinger.errors import TargetError
from stinger.monitors.base import Point
from stinger.spec import parse_spec
from stinger.targets import abilities
from stinger.targets.abilities import (
    SIDES,
    AfterRun,
    AfterRunContext,
    ExtraMonitors,
    Preflight,
    RunTargets,
    RunVariant,
    TargetFlags,
    coordinator_side,
    sides_of,
)
from stinger.targets.base import Interpretation, merge_interpretations, merge_needs, registry


class _Beat:
    """A monitor that reports one series, `beat`, each second."""

    name = "beat"

    def start(self) -> None:
        pass

    def sample(self, t: float) -> list[Point]:
        return [Point(t, "beat.count", 1.0)]

    def stop(self) -> None:
        pass


class TestSide:
    """The test vendor's half of the fake carrier: it records what it is asked."""

    asked: ClassVar[list] = []

    def preflight(self, run: RunTargets) -> None:
        self.asked.append(("preflight", [(v.name, v.target.tag) for v in run.all_variants()]))
        if any(v.name == "refused" for v in run.all_variants()):
            raise TargetError("test vendor: variant 'refused' is not served here")

    def extra_monitors(self, run: RunTargets) -> list:
        self.asked.append(("extra_monitors", len(run.variants)))
        return [_Beat()]

    def after_run(self, ctx: AfterRunContext) -> Block | None:
        ok = sum(v["requests"]["ok"] for v in ctx.summary["variants"].values())
        beats = sum(1 for p in ctx.points if p.series == "beat.count")
        ctx.notice("test vendor: reading after the run")
        self.asked.append(("after_run", ok))
        ctx.summary["warnings"].append("test vendor: said into its copy of the summary")   # the older way
        # its own meter's server time of variant a (a mean and a count, as a cloud's per-minute metrics)
        meter = {"a": ServerTimeReading(Origin.AFTER_RUN, "test vendor's meter", Hist(count=7, mean=2.5))}
        return Block("testvendor", {"ok_seen": ok, "beats": beats, "window_s": ctx.t1_wall - ctx.t0_wall},
                     server_time=meter, warnings=("test vendor: a warning of its block",))


@pytest.fixture
def vendor(monkeypatch):
    import stinger.vendors

    package = types.ModuleType("stinger_test_vendor")
    package.PLUGINS = {"sides": {"fake": "stinger_test_vendor:TestSide"}}
    package.TestSide = TestSide
    monkeypatch.setitem(sys.modules, "stinger_test_vendor", package)
    monkeypatch.setitem(stinger.vendors.VENDORS, "test", "stinger_test_vendor")
    monkeypatch.setattr(abilities, "_made", {})
    TestSide.asked = []
    yield TestSide
    abilities._made.clear()


def fake_run(*names: str) -> dict:
    target = {"type": "fake", "delay": "1ms"}
    where = ({"target": target} if len(names) == 1 else
             {"variants": [{"name": n, "target": target} for n in names]})
    return {**where, "load": {"rate": 40, "duration": "1.5s", "workers": 1}, "output": {"dir": "unused"}}


def test_a_run_asks_a_vendors_side_by_ability_preflight_monitors_and_an_after_run_block(vendor):
    from stinger.orchestrate.run import run_spec

    data = fake_run("a", "b")
    report = run_spec(parse_spec(data), quiet=True, write=False)
    s = report.summary
    assert vendor.asked[0] == ("preflight", [("a", "plain@fake"), ("b", "plain@fake")])
    assert vendor.asked[1] == ("extra_monitors", 2)
    ok = sum(v["requests"]["ok"] for v in s["variants"].values())
    assert ok == 60 and vendor.asked[2] == ("after_run", ok)
    assert s["testvendor"]["ok_seen"] == ok and s["testvendor"]["beats"] >= 1
    assert s["testvendor"]["window_s"] == pytest.approx(s["elapsed_s"], abs=0.01)
    # the block's server-time reading fills the variant that had none, by the one rule, and is said so
    assert s["variants"]["a"]["server_time_ms"] == Hist(count=7, mean=2.5).to_json()
    assert s["server_time"]["source"] == {"a": "test vendor's meter"}
    assert "server_time_ms" not in s["variants"]["b"] and s["server_time"]["missing"] == ["b"]
    assert s["warnings"][-2:] == ["test vendor: a warning of its block", "test vendor: said into its copy of the summary"]
    assert report.run_summary is not None and report.run_summary.to_json() == s


def test_a_sides_preflight_refusal_is_one_line_before_any_load(vendor, tmp_path):
    from stinger.errors import UsageError
    from stinger.orchestrate.run import run_spec

    data = fake_run("ok", "refused")
    data["output"] = {"dir": str(tmp_path / "runs")}
    with pytest.raises(UsageError, match="variant 'refused' is not served here"):
        run_spec(parse_spec(data), quiet=True, write=True)
    assert not (tmp_path / "runs").exists() and [a for a, _ in vendor.asked] == ["preflight"]


def test_without_a_vendor_the_fake_has_a_side_with_flags_only():
    side = coordinator_side("fake")
    assert isinstance(side, TargetFlags)
    assert not isinstance(side, Preflight | ExtraMonitors | AfterRun)
    assert coordinator_side("plain") is None and coordinator_side("no-such-kind") is None


def test_the_sides_of_a_run_are_its_kinds_and_monitor_types_each_asked_once():
    http = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": 1}}).target
    run = RunTargets(variants=(RunVariant("a", http), RunVariant("b", http)), monitors=({"type": "cloudwatch"},))
    assert run.kinds() == ["plain", "http", "cloudwatch"]
    sides = sides_of(run)
    assert [type(s).__name__ for s in sides] == ["HttpSide", "SageMakerSide"]
    both = sides_of(RunTargets(variants=(), monitors=({"type": "cloudwatch"},)))
    assert both[0] is coordinator_side("sagemaker")   # a carrier and a monitor of one vendor share its side


def test_every_side_declares_flags_that_name_its_pair_and_the_cli_has_them():
    from stinger.cli import cli

    run_options = {o for p in cli.commands["run"].params if isinstance(p, click.Option) for o in p.opts}
    from stinger.core.plugins import vendor_lines

    required = {"openai": {"model": "m", "prompt": "p"}, "anthropic": {"model": "m", "prompt": "p"},
                "kserve": {"model": "m"}}
    for kind in {**SIDES, **vendor_lines("sides")}:   # ours and the vendors' (sagemaker)
        side = coordinator_side(kind)
        if not isinstance(side, TargetFlags):
            continue
        if side.alias is not None:
            assert side.alias in run_options, side.alias
        for flag in side.flags:
            assert flag.option in run_options, (kind, flag.option)
        arg = {"URL": "http://127.0.0.1:9/", "ENDPOINT": "ep1", "DELAY": "2ms"}[side.alias_metavar]
        target = {**side.from_flag(arg), **required.get(kind, {})}
        config = parse_spec({"target": target, "load": {"rate": 1, "duration": 1}}).target
        assert coordinator_side(config.type) is side or coordinator_side(config.via) is side, (kind, config.tag)
        fields = set(type(config).model_fields)
        assert side.variant_key in fields and all(f.field in fields for f in side.flags if f.field), kind


def test_each_seam_adds_the_vendors_lines(monkeypatch):
    import stinger.vendors

    package = types.ModuleType("stinger_test_vendor2")
    package.PLUGINS = {"carriers": {"pigeon": "x:Y"}, "pairs": {"plain@pigeon": "x:Z"}}
    monkeypatch.setitem(sys.modules, "stinger_test_vendor2", package)
    assert "pigeon" not in registry("carriers")
    monkeypatch.setitem(stinger.vendors.VENDORS, "pigeon", "stinger_test_vendor2")
    assert registry("carriers")["pigeon"] == "x:Y" and registry("pairs")["plain@pigeon"] == "x:Z"
    assert registry("carriers")["http"] == "stinger.targets.http:HttpCarrier"


def test_a_carriers_failure_wins_and_the_api_refines_the_rest():
    ok, throttled, invalid = int(Kind.OK), int(Kind.THROTTLED), int(Kind.INVALID)
    own = Interpretation(kind=np.array([throttled, ok, ok]), variant=np.array([1, 0, 1]),
                         columns={"ttfc": np.array([1.0, 2.0, 3.0])}, messages={throttled: "carrier: slow down"})
    said = Interpretation(kind=np.array([invalid, invalid, ok]), columns={"ttft": np.array([4.0, 5.0, 6.0])},
                          messages={invalid: "api: not JSON", throttled: "api: 429"})
    got = merge_interpretations(own, said)
    assert got.kind.tolist() == [throttled, invalid, ok]
    assert got.variant.tolist() == [1, 0, 1] and set(got.columns) == {"ttfc", "ttft"}
    assert got.messages == {invalid: "api: not JSON", throttled: "carrier: slow down"}
    assert merge_interpretations(None, said) is said
    assert merge_interpretations(own, Interpretation()).kind.tolist() == [throttled, ok, ok]


def test_the_engine_keeps_what_either_half_needs():
    from stinger.targets.base import Needs

    got = merge_needs(Needs(headers=("x-a",), error_bodies=True), Needs(headers=("x-b", "x-a"), body=True,
                                                                        chunk_times=True))
    assert got == Needs(headers=("x-a", "x-b"), body=True, chunk_times=True, head=False, error_bodies=True)


def test_monitors_outputs_and_backends_add_the_vendors_lines_too(monkeypatch):
    import stinger.vendors
    from stinger.monitors.registry import kinds
    from stinger.outputs.base import create
    from stinger.scale.base import backend_traits, backends

    class Quiet:
        def start(self, info): ...
        def interval(self, snapshot): ...
        def finish(self, result): ...

    package = types.ModuleType("stinger_test_vendor3")
    package.PLUGINS = {"monitors": {"beat": "stinger_test_vendor3:Beat"}, "outputs": {"quiet": "stinger_test_vendor3:Quiet"},
                       "backends": {"threads": "stinger.scale.inprocess:InProcessBackend"}}
    package.Quiet = Quiet
    monkeypatch.setitem(sys.modules, "stinger_test_vendor3", package)
    monkeypatch.setitem(stinger.vendors.VENDORS, "t3", "stinger_test_vendor3")
    assert kinds()["beat"] == "stinger_test_vendor3:Beat" and "process" in kinds()
    assert isinstance(create("quiet"), Quiet)
    assert "threads" in backends() and backend_traits("threads") == backend_traits("inprocess")
