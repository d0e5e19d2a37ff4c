"""Comparing two variants: what the statistics need of each (`VariantData`, from a live
run or a saved run directory), the comparisons, and the verdict.

`stinger ab` and `stinger compare RUN_A RUN_B` share this one code path, so a
comparison of saved runs says exactly what the live A/B test said. No verdict is
drawn between two variants that both failed every request: there is nothing
to compare, and "no significant difference" would read as a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    seconds: list[int] | None = None                 # the run's interval index of each of `intervals`
    source: str | None = None                        # the run it came from: same source = shared seconds

    @property
    def total(self) -> int:
        return self.ok + self.failed + self.dropped


def variant_data_from_metrics(metrics: RunMetrics, summary_variants: dict) -> dict[str, VariantData]:
    out = {}
    preds: dict[str, list[dict]] = {}
    for variant, payload, pred, label in metrics.predictions:
        preds.setdefault(variant, []).append({"payload": payload, "prediction": pred, "label": label})
    for name, vm in metrics.variants.items():
        intervals, seconds = [], []
        for i in sorted(vm.cells):
            if vm.cells[i].hists.get("latency"):
                h = vm.cells[i].histogram("latency")
                if h.total_count:
                    intervals.append(h.values_counts())
                    seconds.append(int(i))
        req = summary_variants[name]["requests"]
        out[name] = VariantData(name=name, intervals=intervals, ok=req["ok"], failed=req["failed"],
                                dropped=req["dropped"], predictions=preds.get(name, []), seconds=seconds,
                                source=f"live:{id(metrics)}")
    return out


def variant_data_from_run(saved, variant: str | None = None, rename: str | None = None) -> VariantData:
    """One variant of a saved run directory (the only one when `variant` is None)."""
    from pathlib import Path

    from stinger.errors import UsageError

    variants = saved.summary.get("variants", {})
    if variant is None:
        if len(variants) != 1:
            raise UsageError(f"{saved.path} has variants {sorted(variants)}; name one with RUN_DIR:VARIANT")
        variant = next(iter(variants))
    if variant not in variants:
        raise UsageError(f"{saved.path} has no variant {variant!r}; it has {sorted(variants)}")
    req = variants[variant]["requests"]
    kept = [(start, h) for start, h in saved.interval_histograms("latency").get(variant, []) if h.total_count]
    intervals = [h.values_counts() for _, h in kept]
    step = float(saved.summary.get("interval_s") or 1.0)
    seconds = [round(start / step) for start, _ in kept]
    preds = [p for p in saved.predictions() if p.get("variant") == variant]
    return VariantData(name=rename or variant, intervals=intervals, ok=req["ok"], failed=req["failed"],
                       dropped=req["dropped"], predictions=preds, seconds=seconds,
                       source=str(Path(saved.path).resolve()))


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


_EMPTY = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def aligned_seconds(a: VariantData, b: VariantData) -> tuple[list, list] | None:
    """A's and B's interval histograms on the union of their seconds (empty where a variant had none),
    or None when either lacks the seconds it was measured in."""
    if a.seconds is None or b.seconds is None or len(a.seconds) != len(a.intervals) \
            or len(b.seconds) != len(b.intervals):
        return None
    by_a, by_b = dict(zip(a.seconds, a.intervals, strict=True)), dict(zip(b.seconds, b.intervals, strict=True))
    union = sorted(set(by_a) | set(by_b))
    return [by_a.get(s, _EMPTY) for s in union], [by_b.get(s, _EMPTY) for s in union]


def latency_rows(a: VariantData, b: VariantData, *, same_run: bool, seed: int | None = 0,
                 n_boot: int = 2000) -> list[Comparison]:
    """The verdict's latency rows: p50/p95/p99 (block bootstrap) and Mann-Whitney.

    ``same_run``: A and B ran side by side in one run (split or paired), so
    their seconds are shared and are resampled jointly; two separate runs are
    resampled independently.
    """
    both = aligned_seconds(a, b) if same_run else None
    if both is not None:
        ai, bi = both
        return [*quantile_diffs(ai, bi, QUANTILES, seed=seed, n_boot=n_boot, joint=True),
                mann_whitney(ai, bi, joint=True)]
    return [*quantile_diffs(a.intervals, b.intervals, QUANTILES, seed=seed, n_boot=n_boot),
            mann_whitney(a.intervals, b.intervals)]


def compare_variants(a: VariantData, b: VariantData, *, paired: bool = False, alpha: float = 0.05,
                     seed: int = 0, same_run: bool | None = None) -> tuple[Verdict, dict]:
    """The verdict of B against A. ``same_run``: both variants come from one split or paired run
    (their seconds are shared and resampled jointly); False for two separate runs; None (default):
    decided from the data's `source`, so `stinger compare RUN:A RUN:B` of one A/B run says exactly
    what the live `stinger ab` said."""
    if same_run is None:
        same_run = a.source is not None and a.source == b.source
    if a.total and b.total and not a.ok and not b.ok:
        return no_verdict(a, b), {}
    rows: list[Comparison] = []
    if a.intervals and b.intervals:
        rows.extend(latency_rows(a, b, same_run=same_run, seed=seed))
    if a.total and b.total:
        rows.append(error_rate_diff(a.failed + a.dropped, a.total, b.failed + b.dropped, b.total))
    q_rows, extra = quality_rows(a, b, paired=paired)
    rows.extend(q_rows)
    if a.capacity_bracket and b.capacity_bracket:
        rows.append(throughput_diff(a.capacity_bracket, b.capacity_bracket))
    v = verdict(rows, a_name=a.name, b_name=b.name, alpha=alpha)
    return v, extra



def regressed(v: Verdict) -> list[str]:
    """Metrics on which B (the candidate) is significantly worse than A (the baseline)."""
    return [r.metric for r in v.rows if r.significant and r.better == "a"]




def no_verdict(a: VariantData, b: VariantData) -> Verdict:
    """The verdict when both variants failed every request: none, said plainly."""
    sentence = (f"No verdict: both {a.name} and {b.name} failed every request "
                f"({a.failed + a.dropped:,} and {b.failed + b.dropped:,}); fix the endpoints or the requests first.")
    return Verdict(rows=[], sentence=sentence, significant=False, a_name=a.name, b_name=b.name,
                   notes=[("no comparison was made: with no successful response there is no latency to compare, "
                           "and equal error rates of 100 % say nothing about which variant is better")])


def load_compare_arg(arg: str, default_name: str) -> tuple[VariantData, dict]:
    """`RUN_DIR` or `RUN_DIR:VARIANT` (a saved run) -> (the variant's data renamed, its summary)."""
    from pathlib import Path

    from stinger.outputs.rundir import read_run

    if Path(arg).is_dir() or ":" not in arg:
        path, variant = arg, ""
    else:
        path, _, variant = arg.rpartition(":")
    saved = read_run(path)
    data = variant_data_from_run(saved, variant or None)
    summary = saved.summary.get("variants", {}).get(data.name, {})
    data.name = default_name
    return data, summary


def load_warnings(a_summary: dict, b_summary: dict) -> list[str]:
    """Two runs under different loads are not comparable as they stand: say how they differ."""
    out = []
    ra, rb = a_summary.get("throughput", {}).get("offered_rps"), b_summary.get("throughput", {}).get("offered_rps")
    if ra and rb and abs(ra - rb) / max(ra, rb) > 0.10:
        out.append(f"the runs had different loads: baseline offered {ra:,.1f} req/s, candidate {rb:,.1f} req/s; "
                   f"latency depends on load, so differences may come from the load, not the model")
    return out
