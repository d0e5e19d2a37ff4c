"""The inputs of a run's summary, gathered from what execute and the monitors measured.

The summary has one author, `core.summary.build_summary` (pure); this module gathers what it is
given: the run's facts from the spec and the scheduler's outcome, the measured window, each
variant's server-time readings (the header's from the records, the metrics monitors'), the
monitors' figures (series, resources by role, the generator check), labelled predictions'
quality and an endpoint split's attribution block.
"""

from __future__ import annotations

from typing import Any

from stinger.core.blocks import Block
from stinger.core.metrics import RunMetrics
from stinger.core.records import UNATTRIBUTED
from stinger.core.secrets import redact_url
from stinger.core.server_time import choose, p50_at_most
from stinger.core.summary import (
    MonitorFigures,
    RunFacts,
    RunSummary,
    SummaryInputs,
    header_reading,
)
from stinger.core.summary import build_summary as author
from stinger.scale.coordinator import RunOutcome
from stinger.spec import Spec
from stinger.targets.abilities import endpoint_split


def build_summary(spec: Spec, outcome: RunOutcome, slos: list, mon, *, workers: int,
                  duration: float | None = None) -> RunSummary:
    """`duration`: the run's planned length (from --duration or the load shape)."""
    m: RunMetrics = outcome.metrics
    load = spec.load
    plans_duration = duration if duration is not None else load.duration
    cut = outcome.interrupted or outcome.stopped_early
    window = m.window(load.warmup, plans_duration if not cut else None,
                      elapsed=None if plans_duration and not cut else outcome.elapsed)
    raw = m.summary(window)
    several = len(raw) > 1

    # server time: the header's (recorded per request) and the metrics monitors'; the rule chooses
    readings, why = mon.server_time_readings(spec, window)
    st = spec.server_time
    header = (f"response header {st.header}" + (f" ({st.metric})" if st.metric else "")) if st else "response header"
    for name, vs in raw.items():
        if (r := header_reading(vs, header)) is not None:
            readings[name] = [r, *readings.get(name, ())]
    # the generator's judgment compares its lag with the server's own time (a bound counts at its top)
    p50s = [p for name in raw if (c := choose(readings.get(name, ()))) is not None
            and (p := p50_at_most(c.hist)) is not None]
    figures = mon.summary(m, raw, server_p50=max(p50s) if p50s else None)

    blocks = []
    unattributed = None
    split_side = endpoint_split(spec.split) if several else None
    if split_side is not None:   # a split the endpoint makes: its side attributes the answers
        from stinger.orchestrate.abilities import run_targets

        blocks.append(Block("attribution", split_side.attribution(run_targets(spec), raw, mon.points())))
        unattributed = UNATTRIBUTED
    if m.breakdown or m.origins:
        blocks.append(breakdown_block(spec, m, window))
    shape = load.shape
    facts = RunFacts(
        name=spec.name, seed=load.seed, started_at=outcome.started_at, elapsed=outcome.elapsed,
        mode=load.resolved_mode(), split=spec.split, workers=workers,
        targets={v.name: [redact_url(u) for u in v.all_urls()] for v in spec.all_variants()},
        interrupted=outcome.interrupted,
        terminated=outcome.interrupted_by == "SIGTERM",   # SIGTERM (not Ctrl-C) stopped the run: exit code 143
        incomplete=outcome.incomplete,   # a load worker was lost: part of the schedule was never sent (exit code 3)
        lost_workers=[{"worker": lw.worker, "pid": lw.pid, "reason": lw.reason, "share": round(lw.share, 4),
                       "since_s": round(lw.since, 3), "lost_requests": lw.lost_requests, "then": lw.then,
                       **({} if lw.rebalanced_at is None else {"rebalanced_at_s": round(lw.rebalanced_at, 3)})}
                      for lw in outcome.lost_workers],
        stopped_early=outcome.stopped_early, pairing=spec.pairing, drain=load.drain, timeout=load.timeout,
        spike=(shape.spike.at, shape.spike.length) if shape is not None and shape.spike is not None else None,
        unattributed=unattributed)
    return author(SummaryInputs(
        facts=facts, metrics=m, window=window, slos=tuple(slos),
        monitors=MonitorFigures(series=figures.get("series"), resources=figures.get("resources"),
                                generator=figures.get("generator"), warnings=tuple(mon.warnings)),
        server_time=readings, server_time_why=why, quality=model_quality(m.predictions), blocks=blocks,
        warnings=(*outcome.warnings, *(w for b in blocks for w in b.warnings))))


def breakdown_block(spec: Spec, m: RunMetrics, window: tuple[float, float] = (0.0, 0.0)) -> Block:
    """summary.json's `breakdown` (`core.breakdown.groups`, the same rows the live view shows)."""
    from stinger.core.breakdown import groups

    data, warnings = groups(m.breakdown, m.origins, **breakdown_params(spec), window_s=window[1] - window[0])
    return Block("breakdown", data, warnings=tuple(warnings))


def breakdown_params(spec: Spec) -> dict[str, Any]:
    """What `core.breakdown.groups` needs from the spec: the served-by header and weights, and each
    variant's URLs by index (redacted), for the summary's block and the live snapshots alike."""
    return {"served_by": spec.served_by,
            "urls": {v.name: {str(i): redact_url(u) for i, u in enumerate(v.all_urls())} for v in spec.all_variants()}}


def model_quality(predictions: Any) -> dict[str, dict]:   # core.metrics.Predictions, or a list
    """Per variant, from labelled predictions: accuracy (classes) or mean absolute error (numbers)."""
    if not predictions:
        return {}  # and no statistics import (scipy costs the coordinator ~0.5 CPU-s per run)
    from stinger.orchestrate.compare import _is_classification

    by_variant: dict[str, list[dict]] = {}
    for variant, _payload, pred, label in predictions:
        if label is not None:
            by_variant.setdefault(variant, []).append({"prediction": pred, "label": label})
    out = {}
    for name, preds in by_variant.items():
        if _is_classification(preds):
            right = sum(1 for p in preds if p["prediction"] == p["label"])
            out[name] = {"labelled": len(preds), "accuracy": round(right / len(preds), 6)}
        else:
            try:
                err = sum(abs(float(p["prediction"]) - float(p["label"])) for p in preds) / len(preds)
            except (TypeError, ValueError):
                continue  # a prediction that is not a number cannot be scored against a numeric label
            out[name] = {"labelled": len(preds), "mae": round(err, 6)}
    return out
