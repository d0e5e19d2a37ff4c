"""A/B tests of model variants: run them and state an honest verdict.

Modes (the spec's `split`):
- `split`: one arrival process, each request goes to a variant drawn by weight
  (as a cloud endpoint's production-variant traffic split does);
- `paired`: every scheduled payload goes to every variant, so a difference
  cannot come from the input; by default each request at an instant of its own
  (`pairing: independent`, engine/slots.py), or all at one (`simultaneous`);
- a split the endpoint makes (an `EndpointSplit` side's mode, targets/abilities.py):
  one stream to an endpoint that splits by its own weights; each response counted
  in the variant a response header names, compared as a split; the side's notes
  say the weights beside the split achieved;
- `capacity`: a capacity search per variant, then the max sustainable
  throughputs compared (bracket arithmetic).

The comparison itself is `stinger.orchestrate.compare` (shared with `stinger
compare`); interference and saturation, measured in every split or paired run,
qualify it (`stinger.orchestrate.ab_confounds`); what is shown and kept goes
through outputs (`outputs/base.py`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stinger.core.metrics import RunMetrics
from stinger.core.verdict import Verdict
from stinger.orchestrate.compare import (
    VariantData,
    compare_variants,
    variant_data_from_metrics,
)
from stinger.outputs.rundir import verdict_dict
from stinger.targets.abilities import endpoint_split


@dataclass
class AbOptions:
    mode: str = "split"            # split | paired | capacity
    alpha: float = 0.05
    sequential: bool = False       # stop as soon as the latency difference is decided (mSPRT)
    min_effect_ms: float | None = None  # sequential: the smallest mean-latency difference worth detecting
    capacity: Any = None           # CapacityOptions for mode "capacity"
    prices: tuple[float, float] | None = None    # capacity mode: USD/h per instance of A and of B
    instances: tuple[int, int] | None = None     # capacity mode: instances behind A and behind B
    control: Any = None            # live load changes (scale/control.py RunControl); not in capacity mode


#: Complete seconds per variant before the sequential test may decide, and the seconds
#: it waits for late worker messages: the earliest possible stop is warm-up + their sum.
SEQUENTIAL_MIN_SECONDS = 10
SEQUENTIAL_MARGIN_SECONDS = 2


def earliest_stop_s(warmup_s: float = 0.0) -> float:
    """The earliest moment (s from the start) a sequential A/B test can stop."""
    return warmup_s + SEQUENTIAL_MIN_SECONDS + SEQUENTIAL_MARGIN_SECONDS


class SequentialWatcher:
    """Feeds per-second mean latencies of A and B to an mSPRT as intervals complete.

    Per-interval means, not requests: requests within a second are correlated,
    and the mSPRT assumes independent observations. A and B share their seconds
    (split and paired runs), so the test runs on the per-second differences
    B - A (seconds where either variant had no request are skipped): what a slow
    second does to both cancels. The mixture scale tau is the smallest effect
    worth detecting (``min_effect_ms``); without one, the sd of the per-second
    differences.
    """

    def __init__(self, a: str, b: str, alpha: float, min_effect_ms: float | None = None) -> None:
        from stinger.core.stats import SequentialTest

        self.a, self.b = a, b
        self.min_effect_ms = min_effect_ms
        self.test = SequentialTest(alpha=alpha, metric="mean", min_n=SEQUENTIAL_MIN_SECONDS, paired=True,
                                   tau=min_effect_ms)
        self.done_upto = -1
        self.decision = "continue"
        self.stopped_at_s: float | None = None

    def __call__(self, metrics: RunMetrics, elapsed: float) -> bool:
        # leave a margin for late worker messages
        last_complete = int(elapsed / metrics.interval) - SEQUENTIAL_MARGIN_SECONDS
        if last_complete <= self.done_upto:
            return False
        pairs = []
        for i in range(self.done_upto + 1, last_complete + 1):
            means = []
            for name in (self.a, self.b):
                c = metrics.variants[name].cells.get(i)
                h = c.histogram("latency") if c is not None and "latency" in c.hists else None
                means.append(h.mean / 1e3 if h is not None and h.total_count else None)
            if None not in means:
                pairs.append(means)
        self.done_upto = last_complete
        if pairs:
            arr = np.asarray(pairs, dtype=np.float64)
            self.decision = self.test.update(arr[:, 0], arr[:, 1])
            if self.decision == "different" and self.stopped_at_s is None:
                self.stopped_at_s = float(elapsed)
        return self.decision == "different"

    def summary(self, stopped_early: bool, warmup_s: float = 0.0) -> dict:
        # one look's estimate and the always-valid interval that belongs to it (the deciding look)
        est, lo, hi, seconds = self.test.reported or (self.test.estimate, math.nan, math.nan, self.test.n_a)
        return {"decision": self.decision, "p_value": self.test.p_value, "stopped_early": stopped_early,
                "estimate_ms": est if self.test.n_a else None,
                "ci_low_ms": lo if math.isfinite(lo) else None, "ci_high_ms": hi if math.isfinite(hi) else None,
                "seconds": seconds, "tau_ms": self.test.tau, "min_effect_ms": self.min_effect_ms,
                "level": 1.0 - self.test.alpha, "earliest_stop_s": earliest_stop_s(warmup_s)}


def sequential_sentence(seq: dict, a: str, b: str) -> str:
    """The verdict of a test that stopped early: the always-valid interval, not the fixed-sample table."""
    est, lo, hi = seq["estimate_ms"], seq["ci_low_ms"], seq["ci_high_ms"]
    from stinger.core.verdict import _nums

    d, lo_s, hi_s = _nums((abs(est), lo if est >= 0 else -hi, hi if est >= 0 else -lo))
    word = "slower" if est > 0 else "faster"
    return (f"{b} is {word} than {a} in mean latency by {d} ms (always-valid {100 * seq['level']:g} % CI "
            f"{lo_s}–{hi_s} ms; sequential test stopped early after {seq['seconds']} seconds per variant, "
            f"p = {seq['p_value']:.2g}).")


_EARLY_NOTE = ("The sequential test stopped the run early; the verdict above is its always-valid interval. "
               "The table is the fixed-sample analysis of the data collected, shown for reference: its p-values "
               "and intervals do not account for stopping when the data decided.")


@dataclass
class AbOutcome:
    """What an A/B test produced: the verdict, its extra data, the run (None in capacity mode),
    the directory holding the verdict, and in capacity mode each variant's capacity report."""

    verdict: Verdict
    extra: dict
    report: Any = None                 # RunReport of the split or paired run
    run_dir: Any = None                # Path of the directory with verdict.json, if written
    capacity: dict | None = None       # variant -> capacity report (capacity mode)

    @property
    def interrupted(self) -> bool:
        if self.report is not None:
            return bool(self.report.outcome.interrupted)
        return any(c.get("interrupted") for c in (self.capacity or {}).values())

    @property
    def exit_code(self) -> int:
        """A split or paired test: its run's code (`stinger run`'s rules); capacity mode:
        `core.exit_codes.ab_capacity_exit_code`."""
        from stinger.core.exit_codes import ab_capacity_exit_code

        if self.report is not None:
            return self.report.exit_code
        return ab_capacity_exit_code(self.capacity or {})


def load_change_notes(summary: dict) -> list[str]:
    """What a live load change (or a lost worker's rebalance) does to the verdict: its tests pool the
    whole run as if at one constant load."""
    events = summary.get("events") or []
    if not events:
        return []
    at = ", ".join(f"{e['t']:g} s" for e in events if isinstance(e.get("t"), (int, float)))
    return [f"The load changed during the test ({len(events)} change{'s' if len(events) > 1 else ''}, at {at}): both "
            "variants met the same loads (one schedule), but the verdict's tests pool the whole run as if at one "
            "constant load; a difference that depends on the load is averaged over the loads and their durations."]


def run_ab(spec, opts: AbOptions, *, console=None, quiet: bool = False,
           outputs: list | None = None) -> AbOutcome:
    """Run an A/B test (split, paired or capacity); the outputs show and keep the run and the verdict."""
    from stinger.orchestrate.run import default_outputs, run_spec
    from stinger.outputs.base import tell

    if outputs is None:
        outputs = default_outputs(console=console, quiet=quiet)
    variants = spec.all_variants()
    if len(variants) < 2:
        from stinger.errors import UsageError

        raise UsageError("an A/B test needs two variants: --a URL --b URL, or variants: in the spec")
    a_name, b_name = variants[0].name, variants[1].name
    if opts.mode == "capacity":
        return _run_ab_capacity(spec, opts, outputs=outputs)
    watcher = SequentialWatcher(a_name, b_name, opts.alpha, opts.min_effect_ms) if opts.sequential else None
    report = run_spec(spec, stop_when=watcher, outputs=outputs, control=opts.control)
    data = variant_data_from_metrics(report.outcome.metrics, report.summary["variants"])
    v, extra = compare_variants(data[a_name], data[b_name], paired=spec.split == "paired", alpha=opts.alpha,
                                seed=spec.load.seed)
    from stinger.orchestrate.monitor_set import server_time_notes

    v.notes.extend(server_time_notes(report.summary))  # server time (header or Prometheus), or where it could come from
    split_side = endpoint_split(spec.split)
    if split_side is not None and "attribution" in report.summary:   # the endpoint's weights beside the split achieved
        v.notes.extend(split_side.verdict_notes(report.summary["attribution"]))
        extra["attribution"] = report.summary["attribution"]
    if watcher is not None:
        warmup = float(getattr(spec.load, "warmup", 0.0) or 0.0)
        seq = extra["sequential"] = watcher.summary(bool(report.outcome.stopped_early), warmup)
        if seq["stopped_early"] and seq["estimate_ms"] is not None and seq["ci_low_ms"] is not None:
            # The fixed-sample table is not the result of a test that stopped
            # when the data decided: its p-values ignore the stopping rule.
            v = dataclasses.replace(v, sentence=sequential_sentence(seq, a_name, b_name), significant=True,
                                    notes=[*v.notes, _EARLY_NOTE])
    v.notes.extend(load_change_notes(report.summary))
    v = _confounds(v, extra, spec, report, [x.name for x in variants], opts.alpha)
    _mark_interrupted(v, extra, report.summary)
    if len(variants) > 2:
        extra["others"] = {}
        for other in variants[2:]:
            vo, _ = compare_variants(data[a_name], data[other.name], paired=spec.split == "paired",
                                     alpha=opts.alpha, seed=spec.load.seed)
            extra["others"][other.name] = verdict_dict(vo, {})
    tell(outputs, "verdict", v, extra, report.run_dir)
    return AbOutcome(verdict=v, extra=extra, report=report, run_dir=report.run_dir)


def _confounds(v: Verdict, extra: dict, spec, report, names: list[str], alpha: float) -> Verdict:
    """Interference and saturation, measured in the run and said in the verdict (`ab_confounds`)."""
    from stinger.orchestrate.ab_confounds import measure_interference, measure_saturation, qualify

    metrics = report.outcome.metrics
    names = [n for n in names if n in metrics.variants]
    # a split the endpoint makes sends every request on one stream (the endpoint picks): no overlap is known
    inter = {} if endpoint_split(spec.split) is not None else measure_interference(metrics, names, alpha=alpha,
                                                                                    seed=spec.load.seed)
    sat = measure_saturation(metrics, report.summary, names)
    return qualify(v, extra, names=names, pairing=spec.pairing if spec.split == "paired" else None,
                   interference_by=inter, saturation_by=sat)
def _mark_interrupted(v: Verdict, extra: dict, summary: dict) -> None:
    """verdict.json says when the test was stopped before its end (`interrupted`; `terminated` for
    SIGTERM), and the verdict's notes say what that means for it."""
    extra["interrupted"] = bool(summary.get("interrupted"))
    if summary.get("interrupted"):
        extra["terminated"] = bool(summary.get("terminated"))
        how = "SIGTERM" if summary.get("terminated") else "Ctrl-C"
        v.notes.append(f"The test was stopped by {how} before its end: this verdict is on what was measured "
                       "until then (partial results).")


def _run_ab_capacity(spec, opts: AbOptions, *, outputs: list) -> AbOutcome:
    """One capacity search per variant (each with its own run directory), then their brackets compared."""
    from dataclasses import replace

    from stinger.orchestrate.capacity import CapacityOptions, run_capacity
    from stinger.outputs.base import run_dir_of, tell
    from stinger.outputs.rundir import RunDirOutput

    dirs = [o for o in outputs if isinstance(o, RunDirOutput)]
    shown = [o for o in outputs if not isinstance(o, RunDirOutput)]
    base_opts = opts.capacity or CapacityOptions()
    results = {}
    for k, v in enumerate(spec.all_variants()[:2]):
        copts = replace(base_opts, price_per_hour=opts.prices[k] if opts.prices else base_opts.price_per_hour,
                        instances=opts.instances[k] if opts.instances else base_opts.instances)
        # the variant's own target as the one target of a spec (a copy: nothing parsed again)
        one = spec.model_copy(update={"target": v.target, "variants": None, "split": "split",
                                      "name": f"{spec.name or 'ab'}-{v.name}"})
        results[v.name] = run_capacity(one, copts, outputs=shown + [d.fresh() for d in dirs], variant=v.name)
    names = list(results)
    datas = []
    for name in names:
        out = results[name]
        lo, hi = out["bracket"]
        lo = lo or 0.0
        hi = hi if hi is not None else base_opts.max_target
        datas.append(VariantData(name=name, intervals=[], ok=0, failed=0, dropped=0, predictions=[],
                                 capacity_bracket=(lo, hi)))
    v, extra = compare_variants(datas[0], datas[1], alpha=opts.alpha)
    _mark_interrupted(v, extra, {"interrupted": any(results[n].get("interrupted") for n in names)})
    extra["capacity"] = {n: {"max_sustainable": results[n]["max_sustainable"], "bracket": results[n]["bracket"],
                             "throughput_at_max_rps": results[n].get("throughput_at_max_rps"),
                             "cost": results[n].get("cost"), "run_dir": results[n].get("run_dir")} for n in names}
    verdict_dirs = [d.fresh(f"{spec.name or 'ab'}-capacity") for d in dirs]
    for d in verdict_dirs:
        d.open(spec)
    run_dir = run_dir_of(verdict_dirs)
    tell(shown + verdict_dirs, "verdict", v, extra, run_dir)
    return AbOutcome(verdict=v, extra=extra, run_dir=run_dir, capacity=results)
