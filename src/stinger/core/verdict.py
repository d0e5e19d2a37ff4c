"""The A/B verdict: many per-metric comparisons -> one multiple-testing-corrected decision.

This module owns the decision and its wording: Holm over every row that has a
p-value (so checking p50, p95, p99, mean, errors and accuracy at once keeps the
family-wise false-positive rate at alpha), which variant each significant row
favours, ONE sentence that claims no more than the table supports, and the
Markdown table for a pull request. The rows themselves come from
`stinger.core.stats`.

Confidence intervals are shown per row at their own level (not widened for
multiplicity); the "significant" column is the Holm-adjusted decision. The two
can disagree (a row's own interval excludes "no difference" while Holm, which
pays for testing every row, does not call it significant): such a row is marked
with a dagger and a note says why, so the table never contradicts itself
unexplained. Intervals are printed with as many digits as it takes for their
ends to differ from each other and from "no difference" ("5.2–5.2 ms" and a
significant "CI 0.5–0.52" never appear).

Rows of catalogue metrics (latency, time to first token, inter-token latency,
...) are worded from the catalogue (`core.catalogue`: label, unit, which way is
better), never by a metric's name here. `stinger compare` of two separate runs
gives such rows a tolerance (`Comparison.margin`, `.drift`): a row is significant
only when Holm says so AND its interval clears the band of +-max(margin, drift)
around "no difference"; a row Holm calls but the band holds is marked "within
margin" and is no regression.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field

from stinger.core.catalogue import BY_NAME
from stinger.core.format import num
from stinger.core.stats import Comparison, holm, min_count, too_few

__all__ = ["Verdict", "disagrees", "sentence", "verdict"]

_PER_REQUEST = "assumes independent requests"  # marker in the method of per-request fallbacks

_KIND_NAMES = {
    **{m.name: m.label for m in BY_NAME.values()},
    **{f"{m.name}_rank": m.label for m in BY_NAME.values()},
    "error_rate": "error rate",
    "goodput": "goodput",
    "accuracy": "accuracy",
    "throughput": "throughput",
    "regression_error": "prediction error",
}


@dataclass
class Verdict:
    rows: list[Comparison]
    sentence: str
    significant: bool
    a_name: str = "A"
    b_name: str = "B"
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """A table (metric | A | B | B - A | CI | p (adj.) | significant), the sentence, methods, notes."""
        if not self.rows:   # nothing was compared: no empty table, the sentence says why
            return "\n".join([f"**Verdict:** {self.sentence}", *(["", "Notes:"] if self.notes else []),
                              *(f"- {n}" for n in self.notes)]) + "\n"
        levels = {r.level for r in self.rows}
        ci_head = f"{100 * levels.pop():g} % CI" if len(levels) == 1 else "CI"
        a, b = self.a_name, self.b_name
        banded = any(r.margin is not None or r.drift is not None for r in self.rows)
        band_head, band_rule = (" margin (±) |", "---:|") if banded else ("", "")
        lines = [
            f"| metric | {a} | {b} | {b} − {a} | {ci_head} | p (adj.) |{band_head} significant |",
            f"|---|---:|---:|---:|---|---:|{band_rule}---|",
        ]
        daggers = []
        for r in self.rows:
            d, lo, hi = _nums((r.diff, r.ci_low, r.ci_high), null=_null(r))
            if not r.is_rank and r.diff > 0:
                d = "+" + d
            diff = f"P = {d}" if r.is_rank else d
            if r.undecided:
                sig = f"undecided: {r.undecided}"
            elif r.significant:
                sig = f"yes ({self.a_name if r.better == 'a' else self.b_name} better)"
            else:
                sig = "no (within margin)" if r.within_margin else "no"
            if disagrees(r):
                sig += " †"
                daggers.append(r)
            band = f" {_band(r)} |" if banded else ""
            mark = " ‡" if r.caveat else ""
            lines.append(f"| {_metric_name(r, a, b)}{mark} | {_num(r.a)} | {_num(r.b)} | {diff} | "
                         f"[{lo}, {hi}] | {_p(r.p_adjusted)} |{band} {sig} |")
        m = sum(1 for r in self.rows if r.p_value is not None)
        lines += ["", f"CI: each row's own {ci_head}, not adjusted for multiplicity. p (adj.) and significant: "
                      f"Holm's correction over the {m} rows with a p-value, which keeps the chance of any false "
                      f"call at alpha."]
        if banded:
            lines += ["", "margin (±): a difference counts only when its whole interval lies beyond this band "
                          "around no difference: the larger of the practical margin asked for (`--margin`) and "
                          "the drift each run showed between its own halves (marked “drift”). Two separate runs "
                          "differ by more than their within-run noise; a difference inside the band is no "
                          "regression."]
        for r in daggers:
            lines += ["", f"† {_metric_name(r, a, b)}: " + _dagger_text(r, m)]
        for caveat in dict.fromkeys(r.caveat for r in self.rows if r.caveat):
            lines += ["", f"‡ {caveat}"]
        lines += ["", f"**Verdict:** {self.sentence}", "", "Methods:"]
        lines += [f"- {_metric_name(r, a, b)}: {_method(r, a, b)}" for r in self.rows]
        if self.notes:
            lines += ["", "Notes:"] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def verdict(rows: list[Comparison], *, a_name: str = "A", b_name: str = "B", alpha: float = 0.05) -> Verdict:
    """Holm-adjust the rows' p-values, decide each row and the whole, and say it in one sentence.

    A row with a p-value is significant when its Holm-adjusted p < alpha; a row
    without one (capacity brackets) keeps its own rule. The verdict is
    significant when any row is.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    rows = [_undecided(r) for r in rows]
    adjusted = holm([r.p_value for r in rows])
    decided = []
    for r, p_adj in zip(rows, adjusted, strict=True):
        sig = (p_adj < alpha) if p_adj is not None else (r.significant if r.p_value is None else False)
        within = bool(sig) and not _clears_band(r)
        sig = bool(sig) and not within
        # the rank row's name and method carry the variants' names (P(candidate faster)) on every surface
        decided.append(dataclasses.replace(r, metric=_metric_name(r, a_name, b_name),
                                           method=_method(r, a_name, b_name), p_adjusted=p_adj,
                                           significant=sig, within_margin=within,
                                           better=r.favours if sig else None))
    notes = []
    if any(_PER_REQUEST in r.method and not r.undecided for r in decided):
        notes.append("Some latency rows had fewer than 10 one-second intervals per variant and fell back to "
                     "per-request methods; requests close in time are correlated, so those CIs may be too narrow.")
    if any(r.kind == "throughput" for r in decided):
        notes.append("Throughput brackets come from one capacity search per variant; a non-overlap is a "
                     "rule, not a statistical test.")
    return Verdict(rows=decided, sentence=_sentence(decided, a_name, b_name),
                   significant=any(r.significant for r in decided), a_name=a_name, b_name=b_name, notes=notes)


def _undecided(r: Comparison) -> Comparison:
    """A row with too few values in a variant (`core.stats.too_few`): no CI, no p-value (so no Holm
    step is spent on it), never significant; its reason kept for the table and the sentence."""
    why = too_few(r)
    if why is None:
        return r
    return dataclasses.replace(r, ci_low=math.nan, ci_high=math.nan, p_value=None, p_adjusted=None,
                               significant=False, better=None, undecided=why)


# --------------------------------------------------------------------------- wording

def sentence(rows: list[Comparison], a_name: str = "A", b_name: str = "B") -> str:
    """The verdict's sentence for rows already decided by `verdict` (e.g. a subset of its rows)."""
    return _sentence(rows, a_name, b_name)


def _null(r: Comparison) -> float:
    return 0.5 if r.is_rank else 0.0


def _clears_band(r: Comparison) -> bool:
    """The row's interval lies wholly beyond its tolerance band around no difference (no band: True)."""
    tol = r.tolerance
    if tol <= 0:
        return True
    return r.ci_low > _null(r) + tol or r.ci_high < _null(r) - tol


def _band(r: Comparison) -> str:
    if r.margin is None and r.drift is None:
        return "—"
    text = _nums((r.tolerance,))[0]
    return text + (" (drift)" if (r.drift or 0.0) > (r.margin or 0.0) else "")


def disagrees(r: Comparison) -> bool:
    """The row's own interval and its Holm decision tell different stories (needs the dagger note)."""
    if r.p_value is None or not (math.isfinite(r.ci_low) and math.isfinite(r.ci_high)):
        return False
    excludes = r.ci_low > _null(r) or r.ci_high < _null(r)
    return excludes != (r.significant or r.within_margin)


def _dagger_text(r: Comparison, m: int) -> str:
    if r.significant or r.within_margin:
        return (f"significant after Holm (p adj. {_p(r.p_adjusted)}) although its interval touches "
                f"{_num(_null(r))}: the p-value and the interval come from the same resamples and differ only by "
                f"resampling noise at the edge; read it as borderline.")
    return (f"its own interval excludes {_num(_null(r))} (unadjusted p {_p(r.p_value)}), but after Holm's "
            f"correction for the {m} rows tested it is not significant (p adj. {_p(r.p_adjusted)}): "
            f"a difference this size could be one false call among {m} tests.")


def _method(r: Comparison, a: str, b: str) -> str:
    if not r.is_rank or (a, b) == ("A", "B"):
        return r.method
    return r.method.replace("P(B<A) + 0.5 P(B=A)", f"P({b}<{a}) + 0.5 P({b}={a})")


def _metric_name(r: Comparison, a: str, b: str) -> str:
    """The row's metric with the variants' names (P(candidate faster), not P(B faster))."""
    return r.metric.replace("P(B faster)", f"P({b} faster)") if b != "B" else r.metric


def _sentence(rows: list[Comparison], a: str, b: str) -> str:
    if not rows:
        return f"No comparisons between {a} and {b} were made: the test could not decide anything."
    undecided = [r for r in rows if r.undecided]
    if undecided:
        decided = [r for r in rows if not r.undecided]
        # one reason per sample size, the smallest minimum (p95's and p99's larger ones are in the table)
        least: dict[tuple[int | None, int | None], Comparison] = {}
        for r in sorted(undecided, key=lambda r: min_count(r.quantile), reverse=True):
            least[(r.n_a, r.n_b)] = r
        why = _and([r.undecided for r in least.values() if r.undecided])
        plan = "; `stinger plan` says how many requests a test needs"
        if not decided:
            return f"The test could not decide between {a} and {b}: {why}{plan}."
        names = _and([r.metric for r in undecided])
        return _sentence(decided, a, b)[:-1] + f"; not decided, {why}: {names}{plan}."
    kinds = list(dict.fromkeys(_KIND_NAMES.get(r.kind, r.metric) for r in rows))
    won = [r for r in rows if r.significant and r.favours is not None]
    held = [r for r in rows if r.within_margin]
    if not won:
        return (f"No significant difference between {a} and {b} in {_or(kinds)}{_n_clause(rows)}"
                f"{_held_clause(held)}.")
    clauses = []
    quantiles = [r for r in won if r.kind in BY_NAME]   # a catalogue metric's quantile (or mean) rows
    for kind in dict.fromkeys(r.kind for r in quantiles):
        for favours in ("b", "a"):
            same = [r for r in quantiles if r.kind == kind and r.favours == favours]
            if same:
                clauses.append(_quantile_clause(same, a, b))
    for r in won:
        if r.kind not in BY_NAME:
            clauses.append(_clause(r, a, b))
    quiet = [k for k in kinds if not any(_KIND_NAMES.get(r.kind, r.metric) == k for r in won)]
    tail = f", with no significant difference in {_or(quiet)}" if quiet else ""
    tail += _held_clause(held)
    if any(_PER_REQUEST in r.method for r in won):
        # A significant latency row from too few intervals may be an artefact of
        # correlated requests (tests/core/test_stats.py measures how often).
        tail += (" (caution: too few one-second intervals for interval-level methods, so latency "
                 "differences assume independent requests and may be overstated)")
    return "; ".join(clauses) + tail + "."


def _held_clause(held: list[Comparison]) -> str:
    """Rows Holm called but the margin band held: said, so "no difference" is not read as "identical"."""
    if not held:
        return ""
    parts = [f"{r.metric.split(' (')[0]} {_signed(r)} (band ±{_band(r)})" for r in held]
    return f"; within the margin, so not called: {_and(parts)}"


def _signed(r: Comparison) -> str:
    if r.is_rank:
        return f"P = {_nums((r.diff,), null=0.5)[0]}"
    d = _nums((r.diff,), null=0.0)[0]
    return ("+" + d if r.diff > 0 else d) + (f" {r.unit}" if r.unit else "")


def _quantile_clause(same: list[Comparison], a: str, b: str) -> str:
    """One sentence part for a catalogue metric's rows that favour the same variant."""
    m = BY_NAME[same[0].kind]
    parts = [f"{_label(r)} by {_mag(r)}" for r in same]
    good = same[0].favours == "b"
    if m.lower_is_better and same[0].unit == "ms":
        where = "" if m.name == "latency" else f" in {m.label}"
        return f"{b} is {'faster' if good else 'slower'} than {a}{where} {_and(parts)}"
    word = ("lower" if good else "higher") if m.lower_is_better else ("higher" if good else "lower")
    return f"{b}'s {m.label} is {word} than {a}'s {_and(parts)}"


def _clause(r: Comparison, a: str, b: str) -> str:
    good = r.favours == "b"
    if r.is_rank:
        d, lo, hi = _nums((r.diff, r.ci_low, r.ci_high), null=0.5)
        label = _KIND_NAMES.get(r.kind, "latency")
        noun = "latencies" if label == "latency" else f"{label} values"
        return (f"{b}'s {noun} tend to be {'lower' if good else 'higher'} than {a}'s "
                f"(P({b} faster) = {d}, {_lvl(r)} CI {lo}–{hi})")
    if r.kind == "error_rate":
        return f"{b}'s error rate is {'lower' if good else 'higher'} than {a}'s by {_mag(r)}"
    if r.kind == "goodput":
        return f"{b}'s goodput (requests meeting every objective) is {'higher' if good else 'lower'} than {a}'s by {_mag(r)}"
    if r.kind == "accuracy":
        return f"{b} is {'more' if good else 'less'} accurate than {a} by {_mag(r)}"
    if r.kind == "throughput":
        return (f"{b} sustains {'more' if good else 'less'} load than {a} (last passing rate "
                f"{_num(r.b)} vs {_num(r.a)} req/s; capacity brackets do not overlap)")
    if r.kind == "regression_error":
        return f"{b} has {'lower' if good else 'higher'} {r.metric} than {a} by {_mag(r)}"
    return f"{b} is {'better' if good else 'worse'} than {a} on {r.metric} by {_mag(r)}"


def _mag(r: Comparison) -> str:
    """|diff| with its CI, oriented so both are positive in the stated direction."""
    lo, hi = (r.ci_low, r.ci_high) if r.diff >= 0 else (-r.ci_high, -r.ci_low)
    unit = f" {r.unit}" if r.unit else ""
    d, lo_s, hi_s = _nums((abs(r.diff), lo, hi), null=0.0)
    return f"{d}{unit} ({_lvl(r)} CI {lo_s}–{hi_s}{unit})"


def _nums(xs: tuple[float, ...], null: float | None = None) -> list[str]:
    """`_num` of each, with more digits when that is what it takes for the distinct values to print
    differently (a CI of 5.21 to 5.24 prints as such, never as 5.2–5.2), also from ``null`` (the row's
    "no difference"): an interval whose end is just above 0.5 prints 0.503–0.52, never 0.5–0.52."""
    plain = [_num(x) for x in xs]
    finite = [x for x in (*xs, null) if x is not None and math.isfinite(x)]
    # equal to 6 significant digits counts as equal: float noise needs no digits
    distinct = sorted({float(f"{x:.6g}") for x in finite})
    if len({_num(x) for x in distinct}) == len(distinct):
        return plain
    gap = min(b - a for a, b in itertools.pairwise(distinct))
    decimals = min(9, max(1, -math.floor(math.log10(gap) + 1e-9)))
    out = []
    for x, p in zip(xs, plain, strict=True):
        if x is None or not math.isfinite(x):
            out.append(p)
            continue
        text = f"{x:,.{decimals}f}"
        out.append("−" + text[1:] if text.startswith("-") else text)
    return out


def _label(r: Comparison) -> str:
    name = r.metric.split(" (")[0].rsplit(" ", 1)[-1]   # "time to first token p95 (ms)" -> "p95"
    return "on average" if name == "mean" else f"at {name}"


def _lvl(r: Comparison) -> str:
    return f"{100 * r.level:g} %"


def _n_clause(rows: list[Comparison]) -> str:
    counted = [(r.n_a, r.n_b) for r in rows if r.n_a is not None and r.n_b is not None]
    if not counted:
        return ""
    na, nb = max(a for a, _ in counted), max(b for _, b in counted)
    return f" (n = {na:,} per variant)" if na == nb else f" (n = {na:,} and {nb:,})"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _num(x: float | None, signed: bool = False) -> str:
    return num(x, signed=signed)   # core/format.py: a worded value, a typographic minus, ∞


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
