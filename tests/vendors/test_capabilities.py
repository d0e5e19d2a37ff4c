"""A vendor is its package and one line: run, ab and planning ask its abilities, never its name.

A test-only vendor, `acme` (a module put in `sys.modules` and named in `stinger.vendors.VENDORS`
by the `acme` fixture, after everything else was imported), brings a carrier (`via: acme`, the
in-memory fake whose endpoint picks a variant for each answer and names it in `x-acme-variant`),
its config pair, and a coordinator half with every ability of `targets/abilities.py`. Real runs
through `run_spec` and `_api.ab` must:

* call its preflight with the run's variants before any load (and stop on its refusal, one line);
* sample its extra monitor beside the run's own and put its after-run block (and the server time
  it read) in the summary;
* use the variants it discovers (`_api.discover_variants`, what `ab --ENDPOINT-FLAG` asks);
* plan and run its split mode (`split: acme`) through the generic attributed path: one shared
  target, every request on the `unattributed` row, each answer attributed by its header, the
  side's `attribution` block and verdict notes in the summary and the verdict.

None of this names the vendor outside this file: before the abilities only SageMaker could.
"""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar, Literal

import numpy as np
import pytest

from stinger.core.blocks import Block
from stinger.core.records import UNATTRIBUTED
from stinger.core.server_time import Origin, ServerTimeReading
from stinger.core.summary import Hist
from stinger.errors import SpecError, TargetError
from stinger.monitors.base import Point
from stinger.spec import parse_spec
from stinger.targets import abilities
from stinger.targets.abilities import (
    AfterRun,
    AfterRunContext,
    Discovered,
    EndpointSplit,
    ExtraMonitors,
    Preflight,
    Priced,
    RunTargets,
    ServerTimeLabels,
    TargetFlags,
    VariantDiscovery,
)
from stinger.targets.base import Interpretation, Needs, ResponseBatch
from stinger.targets.fake import Config as FakeConfig
from stinger.targets.fake import FakeCarrier, _response

HEADER = "x-acme-variant"
SOURCE = "acme's own latency metric"


# ------------------------------------------------------------------ the vendor: its worker half
class AcmeConfig(FakeConfig):
    """plain via acme: the fake's fields, plus the endpoint's variants and how it picks them."""

    via: Literal["acme"] = "acme"  # type: ignore[assignment]
    serve: tuple[str, ...] = ("blue",)     # the endpoint answers from these in turn (its own split)
    pin: str | None = None                  # every request to this variant (the endpoint's pinning)
    variant_names: tuple[str, ...] = ()     # the plan's variants, to attribute answers (for_attribution)
    price_per_hour: float | None = None


class AcmeCarrier(FakeCarrier):
    """The fake, answering from the endpoint's variants in turn and naming each in `x-acme-variant`."""

    name: ClassVar[str] = "acme"

    def __init__(self, config: AcmeConfig, api: Any = None) -> None:
        super().__init__(config, api)
        body = config.body.encode()
        order = (config.pin,) if config.pin else config.serve
        self.answers = [_response(200, body, {**config.headers, HEADER: v}) for v in order]
        self.index = {name: i for i, name in enumerate(config.variant_names)}

    def answer(self) -> bytes | None:
        self.requests += 1
        return self.answers[(self.requests - 1) % len(self.answers)]

    def needs(self) -> Needs:
        return Needs(headers=(HEADER,))

    def unwrap(self, batch: ResponseBatch) -> tuple[ResponseBatch, Interpretation]:
        """The variant each answer names, as the plan's index (rows naming none keep theirs)."""
        said = batch.headers.get(HEADER)
        if not self.index or said is None:
            return batch, Interpretation()
        variant = batch.variant.copy()
        for i, v in enumerate(said):
            name = v.decode("latin-1") if isinstance(v, bytes) else v
            if name in self.index:
                variant[i] = self.index[name]
        return batch, Interpretation(variant=variant)


class _Beat:
    """The side's extra monitor: one point a sample."""

    name = "acme"

    def start(self) -> None:
        pass

    def sample(self, t: float) -> list[Point]:
        return [Point(t, "acme.beat", 1.0)]

    def stop(self) -> None:
        pass


# ------------------------------------------------------------------ the vendor: its coordinator half
class AcmeSide:
    """Every ability, each recording that it was asked."""

    asked: ClassVar[list[tuple[str, Any]]] = []

    # TargetFlags (the CLI generates flags from these: issue 17 package D)
    alias: ClassVar[str | None] = None
    alias_metavar: ClassVar[str] = "ENDPOINT"
    alias_help: ClassVar[str] = "An acme endpoint (a test vendor)"
    flags: ClassVar[tuple[Any, ...]] = ()
    variant_key: ClassVar[str] = "pin"
    # EndpointSplit
    split_name: ClassVar[str] = "acme"
    attribution_header: ClassVar[str] = HEADER

    def from_flag(self, arg: str) -> dict[str, Any]:
        return {"type": "plain", "via": "acme", "serve": arg.split(",")}

    def preflight(self, run: RunTargets) -> None:
        self.asked.append(("preflight", [v.name for v in run.all_variants()]))
        if any(v.name == "refused" for v in run.all_variants()):
            raise TargetError("acme: variant 'refused' is not served here")

    def discover_variants(self, config: Any, *, pin: bool) -> tuple[Discovered, ...]:
        self.asked.append(("discover_variants", pin))
        weights = {"blue": 1.0, "green": 2.0}
        if pin:
            return tuple(Discovered(f"{n}_acme", w, config.model_copy(update={"pin": n}))
                         for n, w in weights.items())
        shared = config.model_copy(update={"serve": ("blue", "green", "green"), "pin": None})
        return tuple(Discovered(n, w, shared) for n, w in weights.items())

    def split_problem(self, run: RunTargets) -> str | None:
        variants = run.all_variants()
        if len(variants) < 2 or any(v.target.via != "acme" or v.target.pin for v in variants):
            return "needs two or more variants sharing one unpinned acme target"
        return None

    def for_attribution(self, config: Any, names: tuple[str, ...]) -> Any:
        self.asked.append(("for_attribution", names))
        return config.model_copy(update={"variant_names": names})

    def attribution(self, run: RunTargets, variants: Any, points: Any) -> dict[str, Any]:
        counts = {v.name: variants[v.name]["requests"]["scheduled"] for v in run.all_variants()}
        self.asked.append(("attribution", counts))
        return {"header": HEADER, "variants": {n: {"requests": c} for n, c in counts.items()},
                "attributed": sum(counts.values()),
                "unattributed": {"scheduled": variants[UNATTRIBUTED]["requests"]["scheduled"]}}

    def verdict_notes(self, block: Any) -> list[str]:
        said = ", ".join(f"{n} {r['requests']}" for n, r in block["variants"].items())
        return [f"acme split the traffic: {said}"]

    def extra_monitors(self, run: RunTargets) -> list[Any]:
        self.asked.append(("extra_monitors", len(run.variants)))
        return [_Beat()]

    def after_run(self, ctx: AfterRunContext) -> Block | None:
        ok = {name: v["requests"]["ok"] for name, v in ctx.summary["variants"].items() if name != UNATTRIBUTED}
        beats = sum(1 for p in ctx.points if p.series == "acme.beat")
        self.asked.append(("after_run", ok))
        readings = {name: ServerTimeReading(Origin.AFTER_RUN, SOURCE, Hist(count=n, mean=1.5)) for name, n in ok.items() if n}
        return Block("acme", {"ok_seen": ok, "beats": beats}, server_time=readings)

    def with_price(self, config: Any, usd_per_hour: float) -> Any:
        return config.model_copy(update={"price_per_hour": usd_per_hour})

    def server_time_labels(self, config: Any) -> tuple[str, ...]:
        return (config.pin or "all",)


@pytest.fixture
def acme(monkeypatch):
    """Register the vendor as a package would be: its module, its PLUGINS, its one VENDORS line."""
    import stinger.vendors

    package = types.ModuleType("stinger_test_acme")
    package.AcmeConfig, package.AcmeCarrier, package.AcmeSide = AcmeConfig, AcmeCarrier, AcmeSide
    package.PLUGINS = {"carriers": {"acme": "stinger_test_acme:AcmeCarrier"},
                       "pairs": {"plain@acme": "stinger_test_acme:AcmeConfig"},
                       "sides": {"acme": "stinger_test_acme:AcmeSide"}}
    monkeypatch.setitem(sys.modules, "stinger_test_acme", package)
    monkeypatch.setitem(stinger.vendors.VENDORS, "acme", "stinger_test_acme")
    monkeypatch.setattr(abilities, "_made", {})
    AcmeSide.asked = []
    yield AcmeSide
    abilities._made.clear()


def acme_run(variants: dict[str, dict], **extra: Any) -> dict:
    where = ({"target": next(iter(variants.values()))} if len(variants) == 1 else
             {"variants": [{"name": n, "target": t} for n, t in variants.items()]})
    return {**where, "load": {"rate": 40, "duration": "1.5s", "workers": 1}, "output": {"dir": "unused"}, **extra}


def _asked(side: type[AcmeSide], what: str) -> list[Any]:
    return [a for name, a in side.asked if name == what]


# ------------------------------------------------------------------ the tests
def test_the_vendors_side_has_every_ability_and_its_split_mode_is_known_only_with_it(acme, monkeypatch):
    side = abilities.coordinator_side("acme")
    for ability in (Preflight, VariantDiscovery, EndpointSplit, ExtraMonitors, AfterRun, Priced,
                    ServerTimeLabels, TargetFlags):
        assert isinstance(side, ability), ability.__name__
    assert "acme" in abilities.split_modes() and abilities.endpoint_split("acme") is side
    import stinger.vendors

    monkeypatch.delitem(stinger.vendors.VENDORS, "acme")
    assert "acme" not in abilities.split_modes() and abilities.endpoint_split("acme") is None
    with pytest.raises(SpecError, match="split: unknown split 'acme'"):
        parse_spec({"target": {"type": "fake"}, "split": "acme", "load": {"rate": 1, "duration": 1}})


def test_a_run_asks_preflight_samples_the_extra_monitor_and_keeps_the_after_run_block(acme):
    from stinger.orchestrate.run import run_spec

    target = {"type": "plain", "via": "acme", "delay": "1ms"}
    data = acme_run({"a": target, "b": {**target, "pin": "green"}})
    report = run_spec(parse_spec(data), quiet=True, write=False)
    s = report.summary
    assert _asked(acme, "preflight") == [["a", "b"]]          # once, with the run's variants, before the load
    assert _asked(acme, "extra_monitors") == [2]
    ok = {n: v["requests"]["ok"] for n, v in s["variants"].items()}
    assert sum(ok.values()) == 60 and _asked(acme, "after_run") == [ok]
    assert s["acme"]["ok_seen"] == ok and s["acme"]["beats"] >= 1   # the extra monitor was sampled in the run
    for name in ("a", "b"):   # the server time the block read, for variants that measured none per request
        assert s["variants"][name]["server_time_ms"]["mean"] == 1.5
        assert s["variants"][name]["server_time_ms"]["count"] == ok[name]
        assert s["server_time"]["source"][name] == SOURCE


def test_a_preflight_refusal_is_one_line_before_any_load(acme, tmp_path):
    from stinger.errors import UsageError
    from stinger.orchestrate.run import run_spec

    target = {"type": "plain", "via": "acme"}
    data = acme_run({"ok": target, "refused": target}, output={"dir": str(tmp_path / "runs")})
    with pytest.raises(UsageError, match="variant 'refused' is not served here"):
        run_spec(parse_spec(data), quiet=True, write=True)
    assert not (tmp_path / "runs").exists() and [a for a, _ in acme.asked] == ["preflight"]


def test_planning_attributes_the_vendors_split_through_the_generic_path(acme):
    from stinger.engine.plan import ATTRIBUTED
    from stinger.engine.slots import build_slots
    from stinger.orchestrate.planning import build_plans

    target = {"type": "plain", "via": "acme", "serve": ["blue", "green"]}
    spec = parse_spec(acme_run({"blue": target, "green": target}, split="acme"))
    (plan,) = build_plans(spec, workers=1)
    assert plan.split == ATTRIBUTED
    assert [v.name for v in plan.variants] == ["blue", "green", UNATTRIBUTED]
    shared = plan.variants[0].target
    assert all(v.target is shared for v in plan.variants) and shared.variant_names == ("blue", "green")
    assert _asked(acme, "for_attribution") == [("blue", "green")]
    _, variants, _ = next(build_slots(plan).open_chunks())   # every request on the last row: the endpoint picks
    assert len(variants) and np.all(variants == 2)
    with pytest.raises(SpecError, match="split: acme needs two or more variants sharing one unpinned acme target"):
        parse_spec(acme_run({"blue": {**target, "pin": "blue"}, "green": target}, split="acme"))


def test_ab_uses_the_discovered_variants_pinned(acme, tmp_path):
    from stinger._api import ab, discover_variants

    variants = discover_variants({"type": "plain", "via": "acme", "delay": "1ms"}, pin=True)
    assert [(v["name"], v["weight"], v["target"]["pin"]) for v in variants] == [
        ("blue_acme", 1.0, "blue"), ("green_acme", 2.0, "green")]
    out = ab({"variants": variants, "load": {"rate": 40, "duration": "1.5s", "workers": 1},
              "output": {"dir": str(tmp_path)}}, outputs=())
    assert _asked(acme, "discover_variants") == [True] and _asked(acme, "preflight") == [["blue_acme", "green_acme"]]
    s = out.summary
    assert set(s["variants"]) == {"blue_acme", "green_acme"} and s["split"] == "split"
    assert sum(v["requests"]["ok"] for v in s["variants"].values()) == 60
    assert (out.verdict["a"], out.verdict["b"]) == ("blue_acme", "green_acme")   # the baseline is the first found


def test_ab_in_the_vendors_split_mode_attributes_every_answer_by_its_header(acme, tmp_path):
    from stinger._api import ab, discover_variants, split_modes

    assert "acme" in split_modes()
    variants = discover_variants({"type": "plain", "via": "acme", "delay": "1ms"}, pin=False)
    out = ab({"variants": variants, "load": {"rate": 40, "duration": "1.5s", "workers": 1},
              "output": {"dir": str(tmp_path)}}, mode="acme", outputs=())
    s = out.summary
    assert s["split"] == "acme" and set(s["variants"]) == {"blue", "green", UNATTRIBUTED}
    # the endpoint answered blue, green, green in turn: 60 answers, each counted where its header said
    req = {n: v["requests"] for n, v in s["variants"].items()}
    assert (req["blue"]["ok"], req["green"]["ok"], req[UNATTRIBUTED]["ok"]) == (20, 40, 0)
    for r in req.values():   # every scheduled request accounted for, in the row it ended in
        assert r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"]
    assert s["attribution"]["variants"] == {"blue": {"requests": 20}, "green": {"requests": 40}}
    assert _asked(acme, "attribution") == [{"blue": 20, "green": 40}]
    assert "acme split the traffic: blue 20, green 40" in out.verdict["notes"]
