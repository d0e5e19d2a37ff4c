"""What a run asks of its targets' coordinator halves, by ability (`targets/abilities.py`), never by name.

The sides of a run are those of its kinds (each variant's api and carrier, each monitor
type the spec names); each is asked once, with the run's targets (`RunTargets`), and
takes its own variants from them:

    preflight(spec)             every `Preflight` side, before any load (one line, exit 2)
    extra_monitors(spec)        every `ExtraMonitors` side's monitors, started with the run's
    after_run(spec, ...)        every `AfterRun` side's block, for the summary (`core.summary.with_blocks`)

This module is the only caller of those abilities in a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from stinger.core.blocks import Block
from stinger.scale.coordinator import RunOutcome
from stinger.spec import Spec
from stinger.targets.abilities import (
    AfterRun,
    AfterRunContext,
    ExtraMonitors,
    Preflight,
    RunTargets,
    RunVariant,
    ServerTimeLabels,
    coordinator_side,
    sides_of,
)


def run_targets(spec: Spec) -> RunTargets:
    """What the coordinator halves are told of this run."""
    return RunTargets(variants=tuple(RunVariant(v.name, v.target, v.weight) for v in spec.all_variants()),
                      split=spec.split, monitors=tuple(d for d in spec.monitors or () if isinstance(d, dict)))


def preflight(spec: Spec) -> None:
    """Each side with the `Preflight` ability checks its variants' endpoints now (a KServe model is
    ready, a cloud endpoint's credentials sign and its variants exist): one line each, before any load."""
    run = run_targets(spec)
    for side in sides_of(run):
        if isinstance(side, Preflight):
            side.preflight(run)


def extra_monitors(spec: Spec) -> list[Any]:
    """The monitors the run's sides add (a cloud endpoint's instance poller)."""
    run = run_targets(spec)
    return [m for side in sides_of(run) if isinstance(side, ExtraMonitors) for m in side.extra_monitors(run)]


def server_time_labels(spec: Spec) -> dict[str, tuple[str, ...]]:
    """Per variant, the model names its endpoint's own metrics carry (`ServerTimeLabels` of the sides of
    its api and carrier); a variant none of whose sides says has none."""
    out: dict[str, tuple[str, ...]] = {}
    for v in run_targets(spec).variants:
        sides = [coordinator_side(k) for k in (v.target.type, v.target.via)]
        out[v.name] = tuple(dict.fromkeys(label for s in sides if isinstance(s, ServerTimeLabels)
                                          for label in s.server_time_labels(v.target)))
    return out


def after_run(spec: Spec, summary: dict[str, Any], points: Callable[[], list[Any]], outcome: RunOutcome,
              outputs: list[Any]) -> list[Block]:
    """After the load: each `AfterRun` side's block (a cloud endpoint's metrics read back, with a visible
    countdown while it waits, beside client latency), for `core.summary.with_blocks`. `summary` is the
    side's copy to read; a warning a side still appends to it becomes its block's warning."""
    run = run_targets(spec)
    sides = [s for s in sides_of(run) if isinstance(s, AfterRun)]
    if not sides:
        return []
    console = next((c for o in outputs if (c := getattr(o, "console", None)) is not None), None)

    def notice(text: str) -> None:
        if console is not None:
            console.print(text)

    ctx = AfterRunContext(run=run, summary=summary, points=points(), t0_wall=outcome.started_at,
                          t1_wall=outcome.started_at + outcome.elapsed, notice=notice, console=console)
    blocks = []
    for side in sides:
        before = len(summary.get("warnings") or ())
        block: Block | None = side.after_run(ctx)
        if block is not None:
            said = tuple((summary.get("warnings") or [])[before:])
            blocks.append(replace(block, warnings=(*block.warnings, *said)) if said else block)
    return blocks
