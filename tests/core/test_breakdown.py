"""Per-backend and per-URL rows (core/breakdown.py): the wire form, the merge over workers (histograms
added, never averaged), the cardinality bound, and the weight notes' binomial tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from stinger.core.breakdown import MAX_LABELS, OTHER, Breakdown, bounded, parse_weights, weight_notes
from stinger.core.histogram import Histogram, sparse_counts
from stinger.core.records import GroupRecord, IntervalRecord, Kind, plain


def _group(label: str, lat_us: np.ndarray, *, variant: str = "A", failed: int = 0, by: str = "served_by"):
    kinds = [0] * len(Kind)
    kinds[Kind.OK] = len(lat_us)
    kinds[Kind.HTTP_5XX] = failed
    return GroupRecord(by=by, variant=variant, label=label, kinds=tuple(kinds), responses=len(lat_us) + failed,
                       latency=sparse_counts(lat_us))


def test_groups_survive_the_wire_form_and_are_absent_when_empty() -> None:
    rng = np.random.default_rng(1)
    rec = IntervalRecord(worker=3, t=1.0, interval=0,
                         groups=(_group("a", rng.uniform(1e3, 5e4, 500), failed=2), _group("b", np.empty(0))))
    back = IntervalRecord.from_bytes(rec.to_bytes())
    assert plain(back) == plain(rec)
    assert b"groups" not in IntervalRecord(worker=0, t=0.0, interval=0).to_bytes(compress=False)


def test_latency_is_merged_across_workers_as_one_histogram() -> None:
    """Two workers see backend a at very different latencies: the row's p50 is the union's, not a mean."""
    rng = np.random.default_rng(2)
    fast, slow = rng.uniform(1e3, 2e3, 3000), rng.uniform(50e3, 60e3, 1000)
    b = Breakdown()
    b.add([_group("a", fast)])
    b.add([_group("a", slow)])
    union = Histogram()
    union.record_many(np.concatenate([fast, slow]))
    (row,) = b.table("served_by")
    assert row["responses"] == 4000 and row["share"] == 1.0
    for q, key in ((50, "p50"), (90, "p90"), (99, "p99")):
        assert row["latency_ms"][key] == round(union.value_at_percentile(q) / 1e3, 3)
    # an average of the two workers' p90s would sit between them; the union's p90 is in the slow part
    assert row["latency_ms"]["p90"] > 50


def test_labels_past_the_bound_are_counted_as_other() -> None:
    seen: set[str] = set()
    kept = [bounded(f"b{i}", seen) for i in range(MAX_LABELS + 6)]
    assert kept[:MAX_LABELS] == [f"b{i}" for i in range(MAX_LABELS)] and set(kept[MAX_LABELS:]) == {OTHER}
    assert bounded("b0", seen) == "b0"   # one already kept stays itself
    b = Breakdown()   # the coordinator bounds again: workers may each have kept different labels
    b.add([_group(f"w{i}", np.full(2, 1e3)) for i in range(MAX_LABELS + 10)])
    rows = b.table("served_by")
    assert len(rows) == MAX_LABELS + 1 and rows[-1]["label"] == OTHER and rows[-1]["responses"] == 20
    assert sum(r["responses"] for r in rows) == 2 * (MAX_LABELS + 10)


def test_url_rows_are_named_by_their_urls_in_index_order() -> None:
    b = Breakdown()
    b.add([_group(str(i), np.full(i + 1, 1e3), by="url") for i in (10, 2, 0)])
    rows = b.table("url", {"A": {"0": "http://x/0", "2": "http://x/2", "10": "http://x/10"}})
    assert [r["label"] for r in rows] == ["http://x/0", "http://x/2", "http://x/10"]


def _rows(counts: dict[str, int]) -> list[dict]:
    n = sum(counts.values())
    return [{"variant": "A", "label": k, "responses": c, "share": c / n} for k, c in counts.items()]


def test_weight_notes_allow_binomial_noise_and_flag_real_deviations() -> None:
    w = {"a": 1, "b": 1, "c": 2}
    assert weight_notes(_rows({"a": 2500, "b": 2500, "c": 5000}), w) == []
    # 3 standard deviations off at n=10,000 (sd of a 25 % share: 0.43 points): chance, not a note
    assert weight_notes(_rows({"a": 2630, "b": 2370, "c": 5000}), w) == []
    notes = weight_notes(_rows({"a": 4000, "b": 2000, "c": 4000}), w)
    assert len(notes) == 3 and "backend a answered 40.0% of 10,000 responses" in notes[0]
    # a backend that answered without a weight, and a named one that answered nothing
    notes = weight_notes(_rows({"a": 500, "b": 500, "c": 1000, "d": 5}), w)
    assert notes == ["A: responses came from backends with no stated weight: d (5)"]
    assert any("backend c answered 0.0%" in n for n in weight_notes(_rows({"a": 500, "b": 500}), w))


@pytest.mark.parametrize("text", ["a=1,b", "a=x", "=1", "a=-1", "a=0,b=0", ""])
def test_weights_text_is_name_equals_number(text: str) -> None:
    with pytest.raises(ValueError, match=r"NAME=WEIGHT|no positive weight"):
        parse_weights(text)
    assert parse_weights(" a=1, b=1 ,c=2.5") == {"a": 1.0, "b": 1.0, "c": 2.5}
