"""A/B tests of model variants: run them, compare them, state an honest verdict.

Modes (the spec's `split`):
- `split`: one arrival process, each request goes to a variant drawn by weight
  (as SageMaker's production-variant traffic split does);
- `paired`: every scheduled payload goes to every variant at the same intended
  time, so a difference cannot come from the input or the moment;
- `capacity`: a capacity search per variant, then the max sustainable
  throughputs compared (bracket arithmetic).

The comparison itself (`compare_variants`) works from what a run directory
holds: per-interval latency histograms, the summary's counts, and the
predictions with their labels. So `stinger compare RUN_A RUN_B` and
`stinger ab` use one code path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stinger.core.histogram import Histogram
from stinger.core.metrics import RunMetrics
from stinger.core.stats import (
    Comparison,
    accuracy_paired,
    accuracy_unpaired,
    agreement,
    error_rate_diff,
    mann_whitney,
    quantile_diffs,
    regression_error_diff,
    throughput_diff,
)
from stinger.core.verdict import Verdict, verdict

QUANTILES = (0.5, 0.95, 0.99)


@dataclass
class VariantData:
    """What the statistics need of one variant."""

    name: str
    intervals: list[tuple[np.ndarray, np.ndarray]]   # per-interval latency histograms (us), nonempty
    ok: int
    failed: int
    dropped: int
    predictions: list[dict]                          # {"payload", "prediction", "label"}
    capacity_bracket: tuple[float, float] | None = None

    @property
    def total(self) -> int:
        return self.ok + self.failed + self.dropped


def variant_data_from_metrics(metrics: RunMetrics, summary_variants: dict) -> dict[str, VariantData]:
    out = {}
    preds: dict[str, list[dict]] = {}
    for variant, payload, pred, label in metrics.predictions:
        preds.setdefault(variant, []).append({"payload": payload, "prediction": pred, "label": label})
    for name, vm in metrics.variants.items():
        intervals = []
        for i in sorted(vm.cells):
            if vm.cells[i].hists.get("latency"):
                intervals.append(vm.cells[i].histogram("latency").values_counts())
        req = summary_variants[name]["requests"]
        out[name] = VariantData(name=name, intervals=intervals, ok=req["ok"], failed=req["failed"],
                                dropped=req["dropped"], predictions=preds.get(name, []))
    return out


def variant_data_from_run(saved, variant: str | None = None, rename: str | None = None) -> VariantData:
    """One variant of a saved run directory (the only one when `variant` is None)."""
    from stinger.errors import UsageError

    variants = saved.summary.get("variants", {})
    if variant is None:
        if len(variants) != 1:
            raise UsageError(f"{saved.path} has variants {sorted(variants)}; name one with RUN_DIR:VARIANT")
        variant = next(iter(variants))
    if variant not in variants:
        raise UsageError(f"{saved.path} has no variant {variant!r}; it has {sorted(variants)}")
    req = variants[variant]["requests"]
    intervals = [h.values_counts() for _, h in saved.interval_histograms("latency").get(variant, [])
                 if h.total_count]
    preds = [p for p in saved.predictions() if p.get("variant") == variant]
    return VariantData(name=rename or variant, intervals=intervals, ok=req["ok"], failed=req["failed"],
                       dropped=req["dropped"], predictions=preds)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_classification(preds: list[dict]) -> bool:
    """Integer-valued (or non-numeric) labels and predictions: classes; otherwise regression."""
    for p in preds[:2000]:
        for v in (p["prediction"], p["label"]):
            if _is_number(v) and float(v) != int(v):
                return False
    return True


def quality_rows(a: VariantData, b: VariantData, *, paired: bool) -> tuple[list[Comparison], dict]:
    """Model-quality comparisons when the dataset had labels; also prediction agreement when paired."""
    pa = [p for p in a.predictions if p.get("label") is not None]
    pb = [p for p in b.predictions if p.get("label") is not None]
    extra: dict[str, Any] = {}
    if not pa or not pb:
        return [], extra
    classification = _is_classification(pa + pb)
    rows: list[Comparison] = []
    if paired:
        # match the k-th answer for payload p from A with the k-th from B
        by_a: dict[int, list[dict]] = {}
        for p in pa:
            by_a.setdefault(p["payload"], []).append(p)
        seen: dict[int, int] = {}
        pairs = []
        for p in pb:
            k = seen.get(p["payload"], 0)
            lst = by_a.get(p["payload"], [])
            if k < len(lst):
                pairs.append((lst[k], p))
                seen[p["payload"]] = k + 1
        if pairs:
            ap = np.array([x["prediction"] for x, _ in pairs], dtype=object)
            bp = np.array([y["prediction"] for _, y in pairs], dtype=object)
            labels = np.array([x["label"] for x, _ in pairs], dtype=object)
            extra["agreement"] = round(agreement(ap, bp), 4)
            extra["pairs"] = len(pairs)
            if classification:
                rows.append(accuracy_paired(ap == labels, bp == labels))
            else:
                la = labels.astype(float)
                rows.append(regression_error_diff(np.abs(ap.astype(float) - la), np.abs(bp.astype(float) - la),
                                                  paired=True, metric="mae"))
        return rows, extra
    if classification:
        ca = sum(1 for p in pa if p["prediction"] == p["label"])
        cb = sum(1 for p in pb if p["prediction"] == p["label"])
        rows.append(accuracy_unpaired(ca, len(pa), cb, len(pb)))
    else:
        ea = np.array([abs(float(p["prediction"]) - float(p["label"])) for p in pa])
        eb = np.array([abs(float(p["prediction"]) - float(p["label"])) for p in pb])
        rows.append(regression_error_diff(ea, eb, paired=False, metric="mae"))
    return rows, extra


def compare_variants(a: VariantData, b: VariantData, *, paired: bool = False, alpha: float = 0.05,
                     seed: int = 0) -> tuple[Verdict, dict]:
    rows: list[Comparison] = []
    if a.intervals and b.intervals:
        rows.extend(quantile_diffs(a.intervals, b.intervals, QUANTILES, seed=seed))
        rows.append(mann_whitney(a.intervals, b.intervals))
    if a.total and b.total:
        rows.append(error_rate_diff(a.failed + a.dropped, a.total, b.failed + b.dropped, b.total))
    q_rows, extra = quality_rows(a, b, paired=paired)
    rows.extend(q_rows)
    if a.capacity_bracket and b.capacity_bracket:
        rows.append(throughput_diff(a.capacity_bracket, b.capacity_bracket))
    v = verdict(rows, a_name=a.name, b_name=b.name, alpha=alpha)
    return v, extra


def verdict_dict(v: Verdict, extra: dict) -> dict:
    return {
        "a": v.a_name,
        "b": v.b_name,
        "significant": v.significant,
        "sentence": v.sentence,
        "rows": [r.to_dict() for r in v.rows],
        "notes": list(getattr(v, "notes", []) or []),
        **extra,
    }


def regressed(v: Verdict) -> list[str]:
    """Metrics on which B (the candidate) is significantly worse than A (the baseline)."""
    return [r.metric for r in v.rows if r.significant and r.better == "a"]


def print_verdict(v: Verdict, extra: dict, console) -> None:
    from rich.markdown import Markdown

    console.print(Markdown(v.to_markdown()))
    if "agreement" in extra:
        console.print(f"prediction agreement (paired): {100 * extra['agreement']:.1f}% of {extra['pairs']:,} pairs")


def write_verdict(run_dir, v: Verdict, extra: dict) -> None:
    (run_dir / "verdict.json").write_text(json.dumps(verdict_dict(v, extra), indent=2, default=str) + "\n")
    (run_dir / "verdict.md").write_text(v.to_markdown() + "\n")


# --------------------------------------------------------------------------- running
@dataclass
class AbOptions:
    mode: str = "split"            # split | paired | capacity
    alpha: float = 0.05
    sequential: bool = False       # stop as soon as the latency difference is decided (mSPRT)
    capacity: Any = None           # CapacityOptions for mode "capacity"
    prices: tuple[float, float] | None = None    # capacity mode: USD/h per instance of A and of B
    instances: tuple[int, int] | None = None     # capacity mode: instances behind A and behind B


class SequentialWatcher:
    """Feeds per-interval mean latencies of A and B to an mSPRT as intervals complete.

    Per-interval means, not requests: requests within a second are correlated,
    and the mSPRT assumes independent observations.
    """

    def __init__(self, a: str, b: str, alpha: float) -> None:
        from stinger.core.stats import SequentialTest

        self.a, self.b = a, b
        self.test = SequentialTest(alpha=alpha, metric="mean", min_n=20)
        self.done_upto = -1
        self.decision = "continue"

    def __call__(self, metrics: RunMetrics, elapsed: float) -> bool:
        last_complete = int(elapsed / metrics.interval) - 2  # leave a margin for late worker messages
        if last_complete <= self.done_upto:
            return False
        means = {self.a: [], self.b: []}
        for name in (self.a, self.b):
            vm = metrics.variants[name]
            for i in range(self.done_upto + 1, last_complete + 1):
                c = vm.cells.get(i)
                if c is None or "latency" not in c.hists:
                    continue
                h = c.histogram("latency")
                if h.total_count:
                    means[name].append(h.mean / 1e3)
        self.done_upto = last_complete
        if means[self.a] or means[self.b]:
            self.decision = self.test.update(np.asarray(means[self.a]), np.asarray(means[self.b]))
        return self.decision == "different"


def run_ab(spec, spec_data: dict, opts: AbOptions, *, console=None, quiet: bool = False) -> tuple[Verdict, dict, Any]:
    """Run an A/B test (split, paired or capacity); print and save the verdict."""
    from stinger.outputs.terminal import make_console
    from stinger.orchestrate.run import run_spec

    console = console or make_console()
    variants = spec.all_variants()
    if len(variants) < 2:
        from stinger.errors import UsageError

        raise UsageError("an A/B test needs two variants: --a URL --b URL, or variants: in the spec")
    a_name, b_name = variants[0].name, variants[1].name
    if opts.mode == "capacity":
        return _run_ab_capacity(spec, spec_data, opts, console=console, quiet=quiet)
    watcher = SequentialWatcher(a_name, b_name, opts.alpha) if opts.sequential else None
    report = run_spec(spec, spec_data, console=console, quiet=quiet, stop_when=watcher)
    data = variant_data_from_metrics(report.outcome.metrics, report.summary["variants"])
    v, extra = compare_variants(data[a_name], data[b_name], paired=spec.split == "paired", alpha=opts.alpha,
                                seed=spec.load.seed)
    if watcher is not None:
        extra["sequential"] = {"decision": watcher.decision, "p_value": watcher.test.p_value,
                               "stopped_early": report.outcome.stopped_early}
    if len(variants) > 2:
        extra["others"] = {}
        for other in variants[2:]:
            vo, _ = compare_variants(data[a_name], data[other.name], paired=spec.split == "paired",
                                     alpha=opts.alpha, seed=spec.load.seed)
            extra["others"][other.name] = verdict_dict(vo, {})
    if report.run_dir is not None:
        write_verdict(report.run_dir, v, extra)
    if not quiet:
        print_verdict(v, extra, console)
        if watcher is not None:
            console.print(f"sequential test (mSPRT on per-second mean latency): {watcher.decision}, "
                          f"always-valid p = {watcher.test.p_value:.4g}")
        if report.run_dir is not None:
            console.print(f"[dim]verdict: {report.run_dir / 'verdict.md'}[/]")
    return v, extra, report


def _run_ab_capacity(spec, spec_data: dict, opts: AbOptions, *, console, quiet: bool):
    from stinger.orchestrate.capacity import CapacityOptions, run_capacity
    from stinger.spec import parse_spec

    from dataclasses import replace

    base_opts = opts.capacity or CapacityOptions()
    results = {}
    for k, v in enumerate(spec.all_variants()[:2]):
        copts = replace(base_opts, price_per_hour=opts.prices[k] if opts.prices else base_opts.price_per_hour,
                        instances=opts.instances[k] if opts.instances else base_opts.instances)
        data = {k: val for k, val in spec_data.items() if k not in ("variants", "target", "split")}
        data["target"] = v.target.model_dump(mode="json", exclude_none=True)  # every field of any target type
        data["name"] = f"{spec.name or 'ab'}-{v.name}"
        if not quiet:
            console.print(f"[bold]variant {v.name}[/]")
        one = parse_spec(data, source="ab capacity")
        results[v.name] = run_capacity(one, one.model_dump(mode="json", by_alias=True, exclude_none=True), copts,
                                       console=console, quiet=quiet)
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
    extra["capacity"] = {n: {"max_sustainable": results[n]["max_sustainable"], "bracket": results[n]["bracket"],
                             "throughput_at_max_rps": results[n].get("throughput_at_max_rps"),
                             "cost": results[n].get("cost"), "run_dir": results[n].get("run_dir")} for n in names}
    from stinger.outputs.rundir import new_run_dir

    run_dir = new_run_dir(spec.output.dir, f"{spec.name or 'ab'}-capacity")
    write_verdict(run_dir, v, extra)
    if not quiet:
        print_verdict(v, extra, console)
        costs = {n: c["cost"]["per_million"] for n, c in extra["capacity"].items() if c.get("cost")}
        if len(costs) == 2:
            console.print("cost per million inferences at max sustainable throughput: "
                          + ", ".join(f"{n} ${c:,.4f}" for n, c in costs.items()))
        console.print(f"[dim]verdict: {run_dir / 'verdict.md'}[/]")
    return v, extra, None


# --------------------------------------------------------------------------- planning
def plan_ab(*, min_effect: str, baseline: str | None = None, sd_ms: float | None = None,
            error_rate: str | None = None, power: float = 0.8, alpha: float = 0.05,
            rate: float | None = None) -> str:
    """Requests per variant (and run time at `rate`) to detect `min_effect`; one paragraph of text."""
    from stinger.core.stats import design_effect, plan_duration, plan_sample_size
    from stinger.errors import UsageError

    if not 0 < power < 1:
        raise UsageError(f"--power must be between 0 and 1 (e.g. 0.8), got {power:g}")
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1 (e.g. 0.05), got {alpha:g}")
    if rate is not None and rate <= 0:
        raise UsageError(f"--rate must be > 0 requests per second, got {rate:g}")
    text = str(min_effect).strip()
    if error_rate is not None or text.endswith("%"):
        base = _fraction_arg(error_rate, "--error-rate") if error_rate is not None else None
        if base is None:
            raise UsageError("a proportion needs its baseline: --error-rate 2% (or the accuracy)")
        effect = _fraction_arg(text, "--min-effect")
        if effect == 0:
            raise UsageError("--min-effect must be a non-zero difference, e.g. 1%")
        n = plan_sample_size(baseline_rate=base, min_effect=effect, alpha=alpha, power=power, metric="proportion")
        what = f"a change of {100 * effect:g} percentage points from a baseline rate of {100 * base:g}%"
    else:
        from stinger.core.slo import parse_slo

        try:
            effect = parse_slo(f"p50<{text}").threshold
        except UsageError:
            raise UsageError(f"--min-effect {text!r} is not a latency such as 5ms or a rate such as 1%") from None
        deff = 1.0
        source = "given"
        if baseline is not None:
            from stinger.outputs.rundir import read_run

            path, _, variant = baseline.partition(":")
            data = variant_data_from_run(read_run(path), variant or None)
            if not data.intervals:
                raise UsageError(f"{path} has no latency histograms to plan from")
            h = Histogram()
            for values, counts in data.intervals:
                h.record_many(np.repeat(values, counts))
            sd_ms = h.stddev / 1e3
            deff = design_effect(data.intervals)
            source = f"from {path} ({h.total_count:,} requests, design effect {deff:.2f} for correlation in time)"
        if effect <= 0:
            raise UsageError(f"--min-effect must be a positive latency such as 5ms, got {text!r}")
        if sd_ms is None or sd_ms <= 0:
            raise UsageError("give --baseline RUN_DIR (best) or --sd-ms, the baseline latency's standard deviation")
        n = plan_sample_size(baseline_sd_ms=sd_ms, min_effect=effect, alpha=alpha, power=power, metric="mean",
                             design_effect=deff)
        what = f"a {effect:g} ms shift in mean latency (baseline sd {sd_ms:.2f} ms, {source})"
    out = (f"To detect {what} with power {power:g} at alpha {alpha:g} (two-sided): "
           f"{n:,} requests per variant")
    if rate:
        secs = plan_duration(n, rate)
        out += f", about {secs:,.{0 if secs >= 10 else 1}f} s at {rate:g} req/s per variant (plus warm-up)"
    return out + "."


def _fraction_arg(text: str, flag: str) -> float:
    from stinger.errors import UsageError

    t = str(text).strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a fraction such as 2% or 0.02") from None
    if not 0 <= v <= 1:
        raise UsageError(f"{flag} must be between 0 and 1 (or 0% and 100%), got {text!r}")
    return v
