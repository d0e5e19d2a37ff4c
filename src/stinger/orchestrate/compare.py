"""Comparing two variants: what the statistics need of each (`VariantData`, from a live
run or a saved run directory), the comparisons, and the verdict.

`stinger ab` and `stinger compare RUN_A RUN_B` share this one code path, so a
comparison of saved runs says exactly what the live A/B test said. No verdict is
drawn between two variants that both failed every request: there is nothing
to compare, and "no significant difference" would read as a pass.

Every metric the catalogue marks compared (`core.catalogue.COMPARED`: latency, and
what a target adds: time to first token, time to first output token where it is
not time to first token, inter-token latency, time per output token, tokens/s)
gets its rows, from its one-second interval histograms, live or from the run
directory's HDR log; none is named here. With goodput objectives (`--goodput`),
the goodput share is a row too (two proportions, as the error rate), when both
variants were judged on the same objectives. Two separate runs (not two
variants of one run) are held to a band (`core.stats.drift`): a difference counts
only beyond the practical margin (`--margin`, default 5 % of the baseline's value)
and the drift each run shows between its own halves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stinger.core.catalogue import BY_NAME, COMPARED
from stinger.core.metrics import RunMetrics
from stinger.core.stats import (
    Comparison,
    Margin,
    accuracy_paired,
    accuracy_unpaired,
    agreement,
    band_rows,
    error_rate_diff,
    goodput_diff,
    mann_whitney,
    quantile_diffs,
    regression_error_diff,
    throughput_diff,
)
from stinger.core.verdict import Verdict, verdict

QUANTILES = BY_NAME["latency"].compare

#: one metric's per-interval histograms (stored unit, e.g. us) and the run's interval index of each
Series = tuple[list[tuple[np.ndarray, np.ndarray]], list[int]]


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
    metrics: dict[str, Series] = field(default_factory=dict)   # every other compared catalogue metric
    goodput: dict | None = None      # summary.json's `goodput` of the variant (objectives, good, of), if any

    @property
    def total(self) -> int:
        return self.ok + self.failed + self.dropped

    def series(self, name: str) -> Series | None:
        """A compared metric's interval histograms and seconds (latency's are `intervals`/`seconds`)."""
        if name == "latency":
            return (self.intervals, self.seconds if self.seconds is not None else [])
        return self.metrics.get(name)


def _series_of(cells) -> dict[str, Series]:
    """Every compared metric's non-empty interval histograms from `(interval, {metric: Histogram})` pairs."""
    out: dict[str, Series] = {}
    for i, hists in cells:
        for name, h in hists.items():
            if h.total_count:
                intervals, seconds = out.setdefault(name, ([], []))
                intervals.append(h.values_counts())
                seconds.append(int(i))
    return out


def variant_data_from_metrics(metrics: RunMetrics, summary_variants: dict) -> dict[str, VariantData]:
    out = {}
    preds: dict[str, list[dict]] = {}
    for variant, payload, pred, label in metrics.predictions:
        preds.setdefault(variant, []).append({"payload": payload, "prediction": pred, "label": label})
    for name, vm in metrics.variants.items():
        cells = []
        for i in sorted(vm.cells):
            cell = vm.cells[i]   # once: an old cell is read back from the spill file
            cells.append((i, {m: cell.histogram(m) for m in COMPARED if cell.hists.get(m)}))
        series = _series_of(cells)
        intervals, seconds = series.pop("latency", ([], []))
        req = summary_variants[name]["requests"]
        out[name] = VariantData(name=name, intervals=intervals, ok=req["ok"], failed=req["failed"],
                                dropped=req["dropped"], predictions=preds.get(name, []), seconds=seconds,
                                source=f"live:{id(metrics)}", metrics=series,
                                goodput=summary_variants[name].get("goodput"))
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
    step = float(saved.summary.get("interval_s") or 1.0)
    by_start: dict[int, dict] = {}
    for name in COMPARED:
        for start, h in saved.interval_histograms(name).get(variant, []):
            by_start.setdefault(round(start / step), {})[name] = h
    series = _series_of(sorted(by_start.items()))
    intervals, seconds = series.pop("latency", ([], []))
    preds = [p for p in saved.predictions() if p.get("variant") == variant]
    return VariantData(name=rename or variant, intervals=intervals, ok=req["ok"], failed=req["failed"],
                       dropped=req["dropped"], predictions=preds, seconds=seconds,
                       source=str(Path(saved.path).resolve()), metrics=series,
                       goodput=variants[variant].get("goodput"))


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


def aligned_seconds(a: VariantData, b: VariantData, metric: str = "latency") -> tuple[list, list] | None:
    """A's and B's interval histograms of `metric` on the union of their seconds (empty where a variant
    had none), or None when either lacks the seconds it was measured in."""
    sa, sb = a.series(metric), b.series(metric)
    if sa is None or sb is None:
        return None
    (ia, ta), (ib, tb) = sa, sb
    if (metric == "latency" and (a.seconds is None or b.seconds is None)) or len(ta) != len(ia) \
            or len(tb) != len(ib):
        return None
    by_a, by_b = dict(zip(ta, ia, strict=True)), dict(zip(tb, ib, strict=True))
    union = sorted(set(by_a) | set(by_b))
    return [by_a.get(s, _EMPTY) for s in union], [by_b.get(s, _EMPTY) for s in union]


def metric_rows(a: VariantData, b: VariantData, metric: str = "latency", *, same_run: bool,
                seed: int | None = 0, n_boot: int = 2000) -> list[Comparison]:
    """One compared catalogue metric's rows: its quantiles (block bootstrap) and, when the catalogue
    says so, Mann-Whitney; none when either variant has no value of it.

    ``same_run``: A and B ran side by side in one run (split or paired), so
    their seconds are shared and are resampled jointly; two separate runs are
    resampled independently.
    """
    m = BY_NAME[metric]
    sa, sb = a.series(metric), b.series(metric)
    if not sa or not sb or not sa[0] or not sb[0]:
        return []
    kw: dict[str, Any] = {"metric": m.label, "unit": m.shown_unit, "scale": m.scale,
                          "lower_is_better": m.lower_is_better, "kind": m.name}
    both = aligned_seconds(a, b, metric) if same_run else None
    ai, bi = both if both is not None else (sa[0], sb[0])
    rows = quantile_diffs(ai, bi, m.compare, seed=seed, n_boot=n_boot, joint=both is not None, **kw)
    if m.rank:
        rows.append(mann_whitney(ai, bi, joint=both is not None, metric=m.label, kind=m.name, scale=m.scale))
    return rows


def _same_values(x: Series | None, y: Series | None) -> bool:
    """Two metrics' interval histograms hold the same values (ttfo of a model that does not reason is ttft)."""
    if not x or not y or len(x[0]) != len(y[0]) or x[1] != y[1]:
        return False
    return all(np.array_equal(va, vb) and np.array_equal(ca, cb) for (va, ca), (vb, cb) in zip(x[0], y[0], strict=True))


def compared_metrics(a: VariantData, b: VariantData) -> list[str]:
    """The compared catalogue metrics that get rows for A and B: both have values, and a metric with a
    `twin` only where either variant's values differ from the twin's (the same rows twice cost Holm)."""
    out = []
    for name in COMPARED:
        sa, sb = a.series(name), b.series(name)
        if not sa or not sb or not sa[0] or not sb[0]:
            continue
        twin = BY_NAME[name].twin
        if twin and _same_values(sa, a.series(twin)) and _same_values(sb, b.series(twin)):
            continue
        out.append(name)
    return out


def one_sided(a: VariantData, b: VariantData) -> list[tuple[str, str]]:
    """What only one variant has (label, whose name): compared catalogue metrics with values on one side
    (a twin only when its twin is not listed: ttfo of a model that does not reason is ttft), and goodput.
    Runs of different kinds of target (an openai run against a plain HTTP run): their rows cannot be
    compared, and leaving them out silently would read as a comparison of everything."""
    out: list[tuple[str, str]] = []
    names: list[str] = []
    for name in COMPARED:
        sa, sb = a.series(name), b.series(name)
        has_a, has_b = bool(sa and sa[0]), bool(sb and sb[0])
        if has_a != has_b and BY_NAME[name].twin not in names:
            names.append(name)
            out.append((BY_NAME[name].label, a.name if has_a else b.name))
    ga, gb = bool(a.goodput and a.goodput.get("of")), bool(b.goodput and b.goodput.get("of"))
    if ga != gb:
        out.append(("goodput", a.name if ga else b.name))
    return out


def not_compared(a: VariantData, b: VariantData) -> str | None:
    """'not compared: time to first token (only in baseline), ...', or None when both have the same rows."""
    parts = [f"{label} (only in {who})" for label, who in one_sided(a, b)]
    return "not compared: " + ", ".join(parts) if parts else None


def goodput_row(a: VariantData, b: VariantData) -> tuple[Comparison | None, str | None]:
    """The goodput share's row (Fisher, Newcombe) when both variants were judged on the same objectives;
    else None and, when only the objectives differ, a note saying why there is no row."""
    ga, gb = a.goodput, b.goodput
    if not ga or not gb or not ga.get("of") or not gb.get("of"):
        return None, None
    if list(ga.get("objectives") or ()) != list(gb.get("objectives") or ()):
        return None, (f"goodput not compared: {a.name} was judged on {ga.get('objectives')} and {b.name} on "
                      f"{gb.get('objectives')}; give both runs the same --goodput objectives")
    return goodput_diff(int(ga["good"]), int(ga["of"]), int(gb["good"]), int(gb["of"])), None


def latency_rows(a: VariantData, b: VariantData, *, same_run: bool, seed: int | None = 0,
                 n_boot: int = 2000) -> list[Comparison]:
    """The verdict's latency rows: p50/p95/p99 (block bootstrap) and Mann-Whitney."""
    return metric_rows(a, b, "latency", same_run=same_run, seed=seed, n_boot=n_boot)


def compare_variants(a: VariantData, b: VariantData, *, paired: bool = False, alpha: float = 0.05,
                     seed: int = 0, same_run: bool | None = None,
                     margin: Margin | None = None) -> tuple[Verdict, dict]:
    """The verdict of B against A. ``same_run``: both variants come from one split or paired run
    (their seconds are shared and resampled jointly); False for two separate runs; None (default):
    decided from the data's `source`, so `stinger compare RUN:A RUN:B` of one A/B run says exactly
    what the live `stinger ab` said.

    ``margin`` (two separate runs only: the variants of one run share their seconds, and their
    verdict is the live one): each compared metric's rows count a difference only beyond the band
    of the margin and the runs' own drift (`core.stats.band_rows`).
    """
    if same_run is None:
        same_run = a.source is not None and a.source == b.source
    if a.total and b.total and not a.ok and not b.ok:
        return no_verdict(a, b), {}
    if (not a.total or not b.total) and not (a.capacity_bracket and b.capacity_bracket):
        return no_requests(a, b), {}   # (a capacity A/B compares its searches' brackets: no requests of its own)
    rows: list[Comparison] = []
    for metric in compared_metrics(a, b):
        got = metric_rows(a, b, metric, same_run=same_run, seed=seed)
        sa, sb = a.series(metric), b.series(metric)
        if got and sa and sb and margin is not None and not same_run:
            m = BY_NAME[metric]
            got = band_rows(got, sa[0], sb[0], margin, qs=m.compare, scale=m.scale, time_unit=m.shown_unit == "ms")
        rows.extend(got)
    if a.total and b.total:
        rows.append(error_rate_diff(a.failed + a.dropped, a.total, b.failed + b.dropped, b.total))
    good, good_note = goodput_row(a, b)
    if good is not None:
        rows.append(good)
    q_rows, extra = quality_rows(a, b, paired=paired)
    rows.extend(q_rows)
    if a.capacity_bracket and b.capacity_bracket:
        rows.append(throughput_diff(a.capacity_bracket, b.capacity_bracket))
    v = verdict(rows, a_name=a.name, b_name=b.name, alpha=alpha)
    if good_note:
        v.notes.append(good_note)
    missing = not_compared(a, b)
    if missing:   # in the sentence too: the verdict covers only what both have
        v.sentence = v.sentence.rstrip(".") + f"; {missing}."
        v.notes.append(f"{missing}: a metric one side did not measure has no difference to test")
    return v, extra



def regressed(v: Verdict) -> list[str]:
    """Metrics on which B (the candidate) is significantly worse than A (the baseline) (beyond the
    margin band, when the rows have one: `core.verdict`)."""
    return [r.metric for r in v.rows if r.significant and r.better == "a"]




def no_verdict(a: VariantData, b: VariantData) -> Verdict:
    """The verdict when both variants failed every request: none, said plainly."""
    sentence = (f"No verdict: both {a.name} and {b.name} failed every request "
                f"({a.failed + a.dropped:,} and {b.failed + b.dropped:,}); fix the endpoints or the requests first.")
    return Verdict(rows=[], sentence=sentence, significant=False, a_name=a.name, b_name=b.name,
                   notes=[("no comparison was made: with no successful response there is no latency to compare, "
                           "and equal error rates of 100 % say nothing about which variant is better")])


def no_requests(a: VariantData, b: VariantData) -> Verdict:
    """The verdict when a variant got no request at all (a zero weight, every session on the other): none."""
    empty = " and ".join(v.name for v in (a, b) if not v.total)
    sentence = (f"No verdict: {empty} got no requests ({a.name} {a.total:,}, {b.name} {b.total:,}), so there is "
                f"nothing to compare; give each variant traffic (positive --weights; with --sessions, more sessions) and run again.")
    return Verdict(rows=[], sentence=sentence, significant=False, a_name=a.name, b_name=b.name,
                   notes=["no comparison was made: a variant with no requests has no latency, no error rate and "
                          "no other figure to compare, and the run fails (exit code 1)"])


@dataclass
class CompareArg:
    """One side of `stinger compare`: the variant's data, its summary section and its run's summary."""

    data: VariantData
    variant: dict
    run: dict
    variant_name: str = ""
    target: str | None = None   # its target's kind from spec.yaml ("openai over http"), if it says


def parse_margin(text: str | None) -> Margin:
    """`--margin`: "5%" of the baseline's value, a time ("2ms", "500us"), or "0"/None for none."""
    from stinger.core.slo import parse_slo
    from stinger.core.units import parse_fraction
    from stinger.errors import UsageError

    t = "0" if text is None else str(text).strip()
    bad = UsageError(f"--margin {text!r} is not a share of the baseline such as 5% or a time such as 2ms")
    if t.endswith("%"):
        try:
            value = parse_fraction(t, what="--margin")
        except UsageError:
            raise bad from None
        if value == 1:
            raise bad
        return Margin(relative=value)
    try:
        if float(t) == 0:
            return Margin(relative=0.0)
    except ValueError:
        pass
    try:
        ms = parse_slo(f"p50<{t}").threshold
    except UsageError:
        ms = -1.0
    if not ms >= 0 or t[-1:].isdigit():
        raise bad
    return Margin(absolute_ms=ms)


def load_compare_arg(arg: str, default_name: str) -> CompareArg:
    """`RUN_DIR` or `RUN_DIR:VARIANT` (a saved run) -> the variant's data (renamed `default_name`),
    its summary section and the whole run's summary (its seed, its generator check)."""
    from pathlib import Path

    from stinger.outputs.rundir import read_run

    if Path(arg).is_dir() or ":" not in arg:
        path, variant = arg, ""
    else:
        path, _, variant = arg.rpartition(":")
    saved = read_run(path)
    data = variant_data_from_run(saved, variant or None)
    summary = saved.summary.get("variants", {}).get(data.name, {})
    variant_name, data.name = data.name, default_name
    return CompareArg(data, summary, saved.summary, variant_name, target_kind(saved.path, variant_name))


def target_kind(run_dir, variant: str) -> str | None:
    """The kind of target a saved run's variant measured ("openai over http"), from its spec.yaml."""
    import yaml

    from stinger.outputs.rundir import SPEC

    try:
        spec = yaml.safe_load((run_dir / SPEC).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    targets = [v.get("target") for v in spec.get("variants") or () if v.get("name") == variant]
    target = targets[0] if targets else spec.get("target")
    if not isinstance(target, dict) or not target.get("type"):
        return None
    return f"{target['type']} over {target['via']}" if target.get("via") else str(target["type"])


def load_warnings(a: CompareArg, b: CompareArg) -> list[str]:
    """Two runs under different loads, of different targets, or on a busy machine, are not comparable as
    they stand: say how."""
    out = []
    kinds = (a.target, b.target)
    if all(kinds) and kinds[0] != kinds[1]:
        missing = not_compared(a.data, b.data)
        out.append(f"the runs measured different kinds of target: {a.data.name} {kinds[0]}, {b.data.name} "
                   f"{kinds[1]}" + (f"; {missing}" if missing else ""))
    a_summary, b_summary = a.variant, b.variant
    ra, rb = a_summary.get("throughput", {}).get("offered_rps"), b_summary.get("throughput", {}).get("offered_rps")
    if ra and rb and abs(ra - rb) / max(ra, rb) > 0.10:
        out.append(f"the runs had different loads: baseline offered {ra:,.1f} req/s, candidate {rb:,.1f} req/s; "
                   f"latency depends on load, so differences may come from the load, not the model")
    same = a.data.source is not None and a.data.source == b.data.source
    runs = [("compared", a.run)] if same else [(a.data.name, a.run), (b.data.name, b.run)]
    for name, run in runs:
        gen = run.get("generator") or {}
        if gen.get("machine_busy") or gen.get("client_bound"):
            what = "client-bound" if gen.get("client_bound") else "on a busy machine"
            out.append(f"the {name} run was {what}: {gen.get('message') or 'see its generator check'}; "
                       f"its latencies include the machine's waits, so a difference may be the machine's")
        if run.get("events"):   # live load changes: its halves (the drift band) and its totals mix loads
            out.append(f"the {name} run's load changed while it ran ({len(run['events'])} load change(s) in its "
                       "events): its figures and the drift between its halves mix loads, so a difference may "
                       "come from the load, not the model")
    return out
