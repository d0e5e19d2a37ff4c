"""What makes an A/B latency comparison wrong on a real deployment, measured in every A/B run.

Two things, each judged from the run's own records (pure rules in `core`):

- **interference** (`core.stats.interference`): variants sharing a worker, a GPU
  or a host make each other wait. Per variant, the latency (and server time) of
  the requests sent while another variant's was in flight against those sent
  alone. Found under *simultaneous* pairing, it confounds the latency
  comparison: each pair's second request waits for the first, so latency
  measures who went first, not the models; the sentence says so, drops its
  latency claims, and says what to run instead. Found under independent pairing
  or a split, it is what sharing costs at this traffic mix and hits both
  variants alike (the schedule picks no order), so the comparison stands and a
  note says how much each variant waited for the other.
- **saturation** (`core.saturation`): a variant that could not keep up was
  measured on a growing queue. The sentence says which variant, first, before
  any latency claim, and every latency row carries the caveat (`‡` in tables).

`verdict.json` gets `interference` (per variant, `found`, `confounded`) and
`saturated` (the names) with `saturation` (per variant, why).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from stinger.core.metrics import RunMetrics
from stinger.core.saturation import Saturation, saturation
from stinger.core.stats.interference import Interference, interference
from stinger.core.verdict import Verdict, sentence

_LATENCY_KINDS = ("latency", "latency_rank")
_EMPTY = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def _hist(cell, name: str):
    if cell is None or not cell.hists.get(name):
        return _EMPTY
    h = cell.histogram(name)
    return h.values_counts() if h.total_count else _EMPTY


def measure_interference(metrics: RunMetrics, names: list[str], *, alpha: float = 0.05,
                         seed: int | None = 0) -> dict[str, Interference]:
    """Each variant's interference, from its per-second latency and server-time histograms."""
    out = {}
    for name in names:
        vm = metrics.variants[name]
        seconds = [i for i in sorted(vm.cells) if vm.cells[i].hists.get("latency")]
        if not seconds:
            continue
        cells = [vm.cells[i] for i in seconds]
        with_server = any(c.hists.get("server") for c in cells)
        out[name] = interference(
            [_hist(c, "latency") for c in cells], [_hist(c, "latency_ov") for c in cells],
            [_hist(c, "server") for c in cells] if with_server else None,
            [_hist(c, "server_ov") for c in cells] if with_server else None,
            alpha=alpha, seed=seed)
    return out


def measure_saturation(metrics: RunMetrics, summary: dict, names: list[str]) -> dict[str, Saturation]:
    """Each variant's saturation, from its per-second counts and p50 over the measured window."""
    window = summary.get("window") or {}
    start, end = float(window.get("start_s") or 0.0), float(window.get("end_s") or 0.0)
    step = metrics.interval
    generator_bound = bool((summary.get("generator") or {}).get("client_bound"))
    out = {}
    for name in names:
        vm = metrics.variants[name]
        t, sched, ok, dropped, p50 = [], [], [], [], []
        for i in sorted(vm.cells):
            if not (i * step >= start - 1e-9 and i * step < end):
                continue
            c = vm.cells[i]
            t.append(i * step)
            sched.append(c.scheduled)
            ok.append(int(c.kinds[0]))
            dropped.append(c.dropped)
            h = c.histogram("latency") if c.hists.get("latency") else None
            p50.append(h.value_at_percentile(50) / 1e3 if h is not None and h.total_count else math.nan)
        out[name] = saturation(t, sched, ok, dropped, p50, generator_bound=generator_bound)
    return out


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _partner(name: str, names: list[str]) -> str:
    others = [n for n in names if n != name]
    return others[0] if len(others) == 1 else "another variant"


def _effect_text(name: str, inf: Interference, names: list[str]) -> str:
    eff = inf.effect("latency") or inf.effect("server time")
    if eff is None:
        return name
    lo, hi = eff.ci_low, eff.ci_high
    return (f"{name}'s p50 {eff.metric} was {eff.diff:,.1f} ms higher while a request of {_partner(name, names)} "
            f"was in flight ({100 * eff.level:g} % CI {lo:,.1f}–{hi:,.1f} ms, {100 * inf.share:.0f} % of its requests)")


def qualify(v: Verdict, extra: dict, *, names: list[str], pairing: str | None,
            interference_by: dict[str, Interference], saturation_by: dict[str, Saturation]) -> Verdict:
    """The verdict with what interference and saturation do to it: `extra` gets their blocks;
    the returned verdict's sentence, notes and latency rows say what they mean for the reader.

    `pairing`: "simultaneous" or "independent" for a paired run, None for a split."""
    found = [n for n in names if n in interference_by and interference_by[n].found]
    confounded = bool(found) and pairing == "simultaneous"
    saturated = [n for n in names if n in saturation_by and saturation_by[n].saturated]
    if interference_by:
        extra["interference"] = {
            "found": found, "confounded": confounded, "schedule": pairing or "split",
            "variants": {n: i.to_dict() for n, i in interference_by.items()}}
    extra["saturated"] = saturated
    extra["saturation"] = {n: s.to_dict() for n, s in saturation_by.items()}
    if not found and not saturated:
        return v
    rows = list(v.rows)
    notes = list(v.notes)
    clauses = []
    if saturated:
        if len(saturated) == 1:
            why = f": {saturation_by[saturated[0]].reason}, so"
        else:
            why = " (" + "; ".join(f"{n}: {saturation_by[n].reason}" for n in saturated) + "), so"
        clauses.append(f"{_and(saturated)} could not keep up with the load{why} latency was measured on a queue "
                       f"growing over the run, not the model's speed; compare at a rate "
                       f"{'they' if len(saturated) > 1 else 'it'} can sustain (stinger capacity finds it)")
        caveat = f"measured while {_and(saturated)} could not keep up with the load (saturated)"
        rows = [dataclasses.replace(r, caveat=caveat) if r.kind in _LATENCY_KINDS else r for r in rows]
    effects = "; ".join(_effect_text(n, interference_by[n], names) for n in found)
    if confounded:
        clauses.append(f"the latency comparison is confounded by shared infrastructure: sent at the same instants, "
                       f"each variant waited for the other ({effects}), so latency measured which request went first, "
                       f"not the models; to compare latency, run the paired test with independent instants (the "
                       f"default pairing: drop --pairing simultaneous) or --split split")
        caveat = "confounded: both variants sent at the same instants on shared infrastructure, each waited for the other"
        rows = [dataclasses.replace(r, caveat=caveat) if r.kind in _LATENCY_KINDS else r for r in rows]
        rest = sentence([r for r in rows if r.kind not in _LATENCY_KINDS], v.a_name, v.b_name)
    else:
        rest = v.sentence
        if found:
            notes.append(f"The variants share capacity: {effects}. Under "
                         f"{'independent instants' if pairing else 'a split'} the schedule picks no order, so each "
                         f"variant waited for the other as often as this traffic mix makes it, and the comparison "
                         f"stands for this shared deployment; each variant alone would be faster.")
    text = rest
    if clauses:
        lead = "; ".join(clauses)
        text = lead[0].upper() + lead[1:] + ". " + rest
    significant = any(r.significant for r in rows if not (confounded and r.kind in _LATENCY_KINDS))
    return dataclasses.replace(v, rows=rows, sentence=text, notes=notes, significant=significant)
