"""Rows inside a variant: which backend answered (a response header the user names) and which URL.

Behind a load balancer one variant is several servers; a variant given several URLs is several
places. A worker's flush thread groups its measured requests by the value they carried
(`engine/batch.py`: the header's value, the URL's index) into `GroupRecord`s; `Breakdown` merges
them over workers and flushes: counts by kind added, latency HDR histograms added bucket by bucket
(never an average of percentiles). Cardinality is bounded twice, on the worker and here: at most
`MAX_LABELS` distinct labels per (by, variant); the rest are counted under `OTHER`.

`rows` gives each row's share of the variant's responses and its latency percentiles; `weight_notes`
compares the shares with weights the user states (`served_by.weights`) and says where a share lies
outside what chance allows: more than `z` binomial standard deviations and more than `floor` points
from the weight's share (so a big run does not flag a 0.3-point difference nobody would act on). A
weighted backend that answered nothing (stopped: the balancer sent its share elsewhere) gets a row of
0 (`with_absent`) and a note once its absence is no longer chance (`absence_is_significant`); a header
no response carried (a typo in its name) is said instead of a silent `(none)` 100 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from stinger.core.histogram import Histogram
from stinger.core.records import GroupRecord, Kind

MAX_LABELS = 64
ABSENT_ALPHA = 1e-4      # a weighted backend with no response is noted once P(0 of n) falls below this
OTHER = "other"
NONE = "(none)"          # the response carried no such header, or no response came back
SERVED_BY, URL, TURN, ORIGIN = "served_by", "url", "turn", "origin"   # TURN: a multi-turn session's turn,
#   1-based; ORIGIN: the worker's origin (core/origins.py)


def bounded(label: str, seen: set[str]) -> str:
    """`label`, or OTHER once `MAX_LABELS` others were seen (`seen` grows with the labels kept)."""
    if label in seen:
        return label
    if len(seen) < MAX_LABELS:
        seen.add(label)
        return label
    return OTHER


class _Row:
    __slots__ = ("hist", "kinds", "responses")

    def __init__(self) -> None:
        self.kinds = np.zeros(len(Kind), dtype=np.int64)
        self.responses = 0
        self.hist = Histogram()


class Breakdown:
    """Every worker's group rows merged: (by, variant) -> label -> counts and a latency histogram.

    `tap`, when set, is handed each flush's group rows as they are added (the live view keeps its own
    copy from them, `outputs/live_breakdown.py`, instead of copying every histogram per snapshot)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, _Row]] = {}
        self.tap: Callable[[tuple[GroupRecord, ...]], None] | None = None

    def __bool__(self) -> bool:
        return bool(self.rows)

    def copy(self) -> Breakdown:
        """An independent copy of the rows (no tap)."""
        out = Breakdown()
        for key, labels in self.rows.items():
            mine = out.rows[key] = {}
            for label, r in labels.items():
                c = mine[label] = _Row()
                c.kinds = r.kinds.copy()
                c.responses = r.responses
                c.hist = r.hist.copy()
        return out

    def add(self, groups: Iterable[GroupRecord]) -> None:
        if self.tap is not None:
            groups = tuple(groups)
            self.tap(groups)
        for g in groups:
            labels = self.rows.setdefault((g.by, g.variant), {})
            label = g.label if g.label in labels or len(labels) < MAX_LABELS else OTHER
            row = labels.get(label)
            if row is None:
                row = labels[label] = _Row()
            row.kinds += np.asarray(g.kinds, dtype=np.int64)
            row.responses += g.responses
            idx, counts = g.latency
            if len(idx):
                np.add.at(row.hist.counts, np.asarray(idx), np.asarray(counts, dtype=np.int64))

    def table(self, by: str, labels: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
        """The rows under `by`, per variant in order of appearance, labels sorted; `labels[variant]`
        renames a label (a URL's index -> the URL)."""
        out = []
        for (b, variant), rows in self.rows.items():
            if b != by:
                continue
            total = sum(r.responses for r in rows.values())
            names = (labels or {}).get(variant, {})
            for label in sorted(rows, key=_order):
                r = rows[label]
                out.append(_row(variant, names.get(label, label), r, total))
        return out


def _order(label: str) -> tuple:
    """Labels in order: a URL's index as a number, names as text, `(none)` and `other` last."""
    return (label == OTHER, label == NONE, not label.isdigit(), int(label) if label.isdigit() else 0, label)


def _row(variant: str, label: str, r: _Row, total: int) -> dict[str, Any]:
    h = r.hist
    h_count = int(h.counts.sum())
    ok = int(r.kinds[Kind.OK])
    failed = {k.label: int(r.kinds[k]) for k in Kind if k is not Kind.OK and r.kinds[k]}

    at = h.percentiles((50, 90, 99, 99.9)) if h_count else {}   # one pass over the counts for all four

    def pct(q: float) -> float | None:
        return round(at[q] / 1e3, 3) if h_count else None

    return {"variant": variant, "label": label, "responses": r.responses,
            "share": round(r.responses / total, 6) if total else None,
            "ok": ok, "failed": sum(failed.values()), "errors": failed,
            "latency_ms": {"count": h_count, "mean": round(h.mean / 1e3, 3) if h_count else None,
                           "p50": pct(50), "p90": pct(90), "p99": pct(99), "p99.9": pct(99.9),
                           "max": round(h.max / 1e3, 3) if h_count else None}}


def weight_notes(rows: list[dict[str, Any]], weights: Mapping[str, float], *, z: float = 4.0,
                 floor: float = 0.02) -> list[str]:
    """One line per backend whose share of responses differs from its stated weight by more than chance
    (`z` binomial standard deviations of its count) and by more than `floor` (a fraction); a named
    backend that answered nothing and a backend that answered without a weight are said too."""
    notes: list[str] = []
    total_w = sum(weights.values())
    if total_w <= 0:
        return notes
    by_variant: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_variant.setdefault(r["variant"], {})[r["label"]] = r
    for variant, got in by_variant.items():
        n = sum(r["responses"] for r in got.values())
        if not n:
            continue
        for label, w in weights.items():
            expected = w / total_w
            seen = got.get(label, {}).get("responses", 0)
            if not seen:   # a backend down (nginx sent its share elsewhere): said once chance rules it out
                if expected > 0 and absence_is_significant(n, expected):
                    notes.append(f"{variant}: backend {label} answered no request of {n:,} responses; expected "
                                 f"{expected:.1%} (weight {w:g} of {total_w:g})")
                continue
            share = seen / n
            sd = math.sqrt(expected * (1 - expected) / n)
            if abs(share - expected) > max(z * sd, floor):
                notes.append(f"{variant}: backend {label} answered {share:.1%} of {n:,} responses; its weight "
                             f"{w:g} of {total_w:g} says {expected:.1%}")
        stray = [lb for lb, r in got.items() if lb not in weights and r["responses"]]
        if stray:
            notes.append(f"{variant}: responses came from backends with no stated weight: "
                         + ", ".join(f"{lb} ({got[lb]['responses']:,})" for lb in stray))
    return notes


def absence_is_significant(n: int, share: float, *, alpha: float = ABSENT_ALPHA) -> bool:
    """Whether `n` responses with none from a backend whose expected share is `share` rule chance out:
    P(0 of n) = (1 - share)^n < alpha (a 25 % backend: n >= 33). The z rule above needs ~48 for it."""
    if share >= 1:
        return n > 0
    return n * math.log1p(-share) < math.log(alpha)


def with_absent(rows: list[dict[str, Any]], weights: Mapping[str, float]) -> list[dict[str, Any]]:
    """`rows` with a row of 0 responses for each backend of a positive weight that answered nothing in a
    variant, once that is no longer chance (the note's rule, `absence_is_significant`): a stopped backend
    is a row that says 0, not a row missing; early in a live view, a backend not yet reached is no row."""
    out = list(rows)
    total_w = sum(weights.values())
    for variant in dict.fromkeys(r["variant"] for r in rows):
        have = {r["label"] for r in rows if r["variant"] == variant}
        n = sum(r["responses"] for r in rows if r["variant"] == variant)
        for label, w in weights.items():
            if w > 0 and label not in have and absence_is_significant(n, w / total_w):
                out.append(_row(variant, label, _Row(), 0) | {"share": 0.0})
    order = {v: i for i, v in enumerate(dict.fromkeys(r["variant"] for r in rows))}
    return sorted(out, key=lambda r: (order[r["variant"]], _order(r["label"])))


def header_missing(rows: list[dict[str, Any]]) -> list[str]:
    """The variants whose responses all came without the served-by header (every row `(none)`, some
    response back): the header's name is likely wrong (`X-Served-Bye`)."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_variant.setdefault(r["variant"], []).append(r)
    return [v for v, rs in by_variant.items()
            if all(r["label"] == NONE for r in rs) and sum(r["responses"] for r in rs) > 0]


def parse_weights(text: str) -> dict[str, float]:
    """`a=1,b=1,c=2` -> {"a": 1.0, ...}; ValueError naming the part that is not NAME=NUMBER."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.rpartition("=")
        try:
            w = float(value)
        except ValueError:
            w = -1.0
        if not sep or not name.strip() or not (w >= 0 and math.isfinite(w)):
            raise ValueError(f"{part!r} is not NAME=WEIGHT (a number >= 0), e.g. a=1,b=1,c=2")
        out[name.strip()] = w
    if not out or sum(out.values()) <= 0:
        raise ValueError(f"{text!r} states no positive weight; expected e.g. a=1,b=1,c=2")
    return out


def groups(breakdown: Breakdown, origins: Any = None, *, served_by: Any = None,
           urls: Mapping[str, Mapping[str, str]] | None = None, window_s: float = 0.0,
           ) -> tuple[dict[str, Any], list[str]]:
    """summary.json's `breakdown` groups and their warnings, the one builder for the summary's block
    (`orchestrate/summary.py`) and the live view's rows (`outputs/live_breakdown.py`): per-backend rows
    (the served-by header's values, a note per share that strays from the stated weights), per-URL rows
    (`urls[variant]`: index -> the URL as shown), per-turn rows of multi-turn sessions, and per-origin rows
    (`origins`: a `core.origins.OriginBook`) with where each origin's workers ran. `served_by`: the
    spec's (`header`, `weights`), or None; `window_s`: the measured window's length (an origin's rate)."""
    from stinger.core.secrets import redact_text

    data: dict[str, Any] = {}
    warnings: list[str] = []
    if served_by is not None:
        # a label is what an endpoint wrote: shown as any endpoint text is (no credential, one line)
        rows = [{**r, "label": redact_text(r["label"])} for r in breakdown.table(SERVED_BY)]
        missing = header_missing(rows)
        notes = [f"no response carried {served_by.header}"
                 + (f" in variant {v}" if len({r['variant'] for r in rows}) > 1 else "")
                 + ": every response is under (none); is the header's name right?" for v in missing]
        if served_by.weights:
            rows = with_absent([r for r in rows if r["variant"] not in missing], served_by.weights) \
                + [r for r in rows if r["variant"] in missing]
            notes += weight_notes([r for r in rows if r["variant"] not in missing], served_by.weights)
        data[SERVED_BY] = {"header": served_by.header,
                           "weights": dict(served_by.weights) if served_by.weights else None,
                           "rows": rows, "notes": notes}
        warnings += notes
    url_rows = breakdown.table(URL, urls)
    if url_rows:
        data[URL] = {"rows": url_rows}
    turn_rows = breakdown.table(TURN)   # multi-turn sessions: a row per turn (1-based)
    if turn_rows:
        data[TURN] = {"rows": turn_rows}
    if origins:   # per origin (core/origins.py): where each origin's workers ran, and its rows
        data[ORIGIN] = {"origins": origins.placement(), "rows": origins.rows(breakdown, window_s)}
    return data, warnings
