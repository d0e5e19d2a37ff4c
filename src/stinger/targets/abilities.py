"""The coordinator halves of target kinds: what orchestration and the CLI may ask a kind, by ability.

A kind (an api, a carrier, or a monitor a vendor brings) may have a **coordinator half**: an
object that holds no sockets and imports its heavy dependencies only when a method runs
(`coordinator_side(kind)`, from `SIDES`). What it can do is one of the protocols below, each
tested with `isinstance`, never by the kind's name:

    Preflight         check the endpoint before any load (one-line TargetError / UsageError)
    VariantDiscovery  the endpoint's own variants, for `ab` without --a/--b
    EndpointSplit     a `split:` mode in which the endpoint picks each request's variant
    ExtraMonitors     monitors the run gets without asking (an endpoint's instance poller)
    AfterRun          a block of the summary read after the load (CloudWatch beside client latency)
    Priced            the price of the instances behind the endpoint (cost per million inferences)
    ServerTimeLabels  the model names an endpoint's metrics carry (server time matched by model)
    TargetFlags       the CLI flags of the kind (`--openai URL --model M`), generated from declarations

`orchestrate/abilities.py` is the only caller in a run: it finds the sides of the run's kinds
(each variant's `type` and `via`, and each monitor type the spec names), asks each side once,
and hands it the run's targets (`RunTargets`), from which a side takes its own variants.

To give a kind an ability: a class with the ability's members in the kind's module, and one
line in `SIDES` (a vendor package adds its lines through `stinger.vendors`: seam `sides`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from stinger.targets.base import TargetConfig

if TYPE_CHECKING:  # pragma: no cover
    from stinger.core.blocks import Block


# ------------------------------------------------------------------ what a side is told
@dataclass(frozen=True, slots=True)
class RunVariant:
    """One variant of a run as a coordinator half sees it."""

    name: str
    target: TargetConfig
    weight: float = 1.0


@dataclass(frozen=True)
class RunTargets:
    """What a coordinator half is told of a run: its variants (plan order), its split and the
    spec's own `monitors:` entries as written. It reads like the spec's part it stands for
    (`all_variants()`, `split`, `monitors`), so a side can take its own variants from it."""

    variants: tuple[RunVariant, ...]
    split: str = "split"
    monitors: tuple[Mapping[str, Any], ...] = ()

    def all_variants(self) -> list[RunVariant]:
        return list(self.variants)

    def kinds(self) -> list[str]:
        """Every kind the run uses, in first-seen order: each target's api and carrier, then each
        monitor type the spec names."""
        seen = [k for v in self.variants for k in (v.target.type, v.target.via)]
        seen += [m["type"] for m in self.monitors if isinstance(m, Mapping) and isinstance(m.get("type"), str)]
        return list(dict.fromkeys(seen))


@dataclass(frozen=True)
class AfterRunContext:
    """What an `AfterRun` side is given once the load is over."""

    run: RunTargets
    summary: dict[str, Any]              # the run's summary so far (window, variants, warnings, ...)
    points: Sequence[Any]                # the monitors' points (`monitors.base.Point`)
    t0_wall: float                       # the run's wall-clock start and end
    t1_wall: float
    notice: Callable[[str], None]        # a line for the person watching (a countdown); no-op when quiet
    console: Any = None                  # the terminal's console, None when nothing is shown (package E
                                         # renders blocks generically and drops this)


@dataclass(frozen=True, slots=True)
class Discovered:
    """One variant an endpoint says it has (`VariantDiscovery`)."""

    name: str             # a variant name for the spec (unique, file-safe)
    weight: float
    config: TargetConfig  # the target that sends to it (pinned to it, or shared and attributed)


@dataclass(frozen=True, slots=True)
class TargetFlag:
    """One command-line flag a kind owns (`--model`, `--region`, ...)."""

    option: str                 # "--max-tokens"
    field: str | None           # the target field it sets; None: it sets something else (said in `help`)
    help: str
    type: type = str
    is_flag: bool = False
    metavar: str | None = None
    multiple: bool = False
    # what a flag with no target field does (declared, so the CLI applies it without knowing the kind):
    monitor: str | None = None   # a `--monitor KIND=WHAT` entry it adds when given (`cloudwatch=off`)


# ------------------------------------------------------------------ the abilities
@runtime_checkable
class Preflight(Protocol):
    """Check the endpoint before any load, in the coordinator: each of this kind's variants in
    `run`. Raises a one-line `TargetError`/`UsageError` (exit 2) when the endpoint cannot
    serve the run: a model that is not loaded, credentials that do not sign, a variant the
    endpoint does not have."""

    def preflight(self, run: RunTargets) -> None:
        ...


@runtime_checkable
class VariantDiscovery(Protocol):
    """The variants an endpoint has (a cloud endpoint's production variants), as targets of this kind:
    each pinned to one (`pin`), or all sharing one target the endpoint splits (`pin=False`)."""

    def discover_variants(self, config: TargetConfig, *, pin: bool) -> tuple[Discovered, ...]:
        ...


@runtime_checkable
class EndpointSplit(Protocol):
    """A `split:` mode in which the endpoint picks each request's variant and names it in a
    response header; the engine attributes each response (`WorkerPlan.split == ATTRIBUTED`)."""

    split_name: ClassVar[str]          # the spec's `split:` value it adds
    attribution_header: ClassVar[str]  # the response header naming the variant that served

    def split_problem(self, run: RunTargets) -> str | None:
        """Why this split cannot apply to these variants (one line), None when it can."""
        ...

    def for_attribution(self, config: TargetConfig, names: tuple[str, ...]) -> TargetConfig:
        """The one shared target that attributes responses to the variants `names` (plan order)."""
        ...

    def attribution(self, run: RunTargets, variants: Mapping[str, Any], points: Sequence[Any]) -> dict[str, Any]:
        """The summary's `attribution` block: the split achieved per variant (from the summary's
        `variants`) beside what the endpoint said it would do (from the monitors' `points`)."""
        ...

    def verdict_notes(self, block: Mapping[str, Any]) -> list[str]:
        """What the verdict must say of a split the endpoint made (from the `attribution` block)."""
        ...


@runtime_checkable
class ExtraMonitors(Protocol):
    """Monitors the run gets without asking (one DescribeEndpoint poller per endpoint)."""

    def extra_monitors(self, run: RunTargets) -> list[Any]:
        ...


@runtime_checkable
class AfterRun(Protocol):
    """A block of the summary read after the load (may wait, bounded; says so through
    `ctx.notice`); None when this run has nothing for it."""

    def after_run(self, ctx: AfterRunContext) -> Block | None:
        ...


@runtime_checkable
class Priced(Protocol):
    """The price per instance-hour of what serves a target, for the cost per million inferences."""

    def with_price(self, config: TargetConfig, usd_per_hour: float) -> TargetConfig:
        ...


@runtime_checkable
class ServerTimeLabels(Protocol):
    """The model names an endpoint's own metrics carry for a target (server time by model)."""

    def server_time_labels(self, config: TargetConfig) -> tuple[str, ...]:
        ...


@runtime_checkable
class TargetFlags(Protocol):
    """The CLI flags of a kind: an alias that names the target (`--openai URL`), the flags that set
    its fields, what a bare `ab --a VALUE` sets, and `--target KIND=ARG`'s reading of ARG."""

    alias: ClassVar[str | None]
    alias_metavar: ClassVar[str]
    alias_help: ClassVar[str]          # what the target is, for --help ("An OpenAI-compatible LLM endpoint ...")
    flags: ClassVar[tuple[TargetFlag, ...]]
    variant_key: ClassVar[str]

    def from_flag(self, arg: str) -> dict[str, Any]:
        """The `target:` mapping the alias (or `--target KIND=ARG`) gives for ARG."""
        ...


# ------------------------------------------------------------------ which kind has a side
# kind -> "module:Class" of its coordinator half (made once, on first use)
SIDES: dict[str, str] = {
    "http": "stinger.targets.http:HttpSide",
    "fake": "stinger.targets.fake:FakeSide",
    "openai": "stinger.targets.openai:OpenAISide",
    "kserve": "stinger.targets.kserve:KServeSide",
    "grpc": "stinger.targets.grpc:GrpcSide",
    "anthropic": "stinger.targets.anthropic:AnthropicSide",
}
_made: dict[str, Any] = {}


def coordinator_side(kind: str) -> Any | None:
    """The coordinator half of `kind` (an api, a carrier or a monitor type), None when it has none.
    One object per class: kinds that share a side (a vendor's carrier and monitor) share it."""
    from importlib import import_module

    from stinger.core.plugins import vendor_lines

    ref = {**SIDES, **vendor_lines("sides")}.get(kind)
    if ref is None:
        return None
    if ref not in _made:
        module, _, name = ref.partition(":")
        _made[ref] = getattr(import_module(module), name)()
    return _made[ref]


def _all_sides() -> list[Any]:
    """Every registered kind's coordinator half (each once), ours and the vendors'."""
    from stinger.core.plugins import vendor_lines

    out: list[Any] = []
    for kind in {**SIDES, **vendor_lines("sides")}:
        side = coordinator_side(kind)
        if side is not None and all(side is not s for s in out):
            out.append(side)
    return out


BASIC_SPLITS = ("split", "paired")   # stinger picks each request's variant (engine/slots.py)


def split_modes() -> tuple[str, ...]:
    """Every `split:` a spec may name: stinger's own, then each `EndpointSplit` side's."""
    return BASIC_SPLITS + tuple(s.split_name for s in _all_sides() if isinstance(s, EndpointSplit))


def endpoint_split(mode: str) -> EndpointSplit | None:
    """The side whose endpoint splits the traffic in `mode` (`split:`), None for stinger's own modes."""
    if mode in BASIC_SPLITS or mode == "single":
        return None
    return next((s for s in _all_sides() if isinstance(s, EndpointSplit) and s.split_name == mode), None)


def sides_of(run: RunTargets) -> list[Any]:
    """The distinct coordinator halves of the run's kinds, in first-seen order."""
    out: list[Any] = []
    for kind in run.kinds():
        side = coordinator_side(kind)
        if side is not None and all(side is not s for s in out):
            out.append(side)
    return out

