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
    assert "A: backend c answered no request of 1,000 responses; expected 50.0% (weight 2 of 4)" \
        in weight_notes(_rows({"a": 500, "b": 500}), w)


def test_a_weighted_backend_that_answered_nothing_is_a_row_of_0_and_a_note_once_significant() -> None:
    """Backend a (weight 1 of 4) stopped, b answered all: the z rule needed ~48 responses to see it, and
    the rows had no line for a. P(0 of n | 25 %) < 1e-4 from n = 33: the note comes there, not before."""
    from stinger.core.breakdown import absence_is_significant, with_absent

    w = {"a": 1, "b": 3}
    assert next(n for n in range(1, 60) if absence_is_significant(n, 0.25)) == 33 and 0.75 ** 33 < 1e-4 < 0.75 ** 32
    assert weight_notes(_rows({"b": 32}), w) == []           # 0 of 32 happens 1 time in 10,000: not yet said
    assert weight_notes(_rows({"b": 33}), w) == [
        "A: backend a answered no request of 33 responses; expected 25.0% (weight 1 of 4)"]
    rows = with_absent(_rows({"b": 33}), w)
    assert [(r["label"], r["responses"], r["share"]) for r in rows] == [("a", 0, 0.0), ("b", 33, 1.0)]
    assert [r["label"] for r in with_absent(_rows({"b": 32}), w)] == ["b"]   # a live view's first responses


def test_a_header_no_response_carried_is_warned_not_shown_as_none_100() -> None:
    from types import SimpleNamespace

    from stinger.core.breakdown import NONE, groups

    b = Breakdown()
    b.add([_group(NONE, np.full(40, 2e3))])
    data, warnings = groups(b, served_by=SimpleNamespace(header="X-Served-Bye", weights={"a": 1, "b": 3}))
    assert warnings == ["no response carried X-Served-Bye: every response is under (none); is the header's name right?"]
    assert data["served_by"]["notes"] == warnings and [r["label"] for r in data["served_by"]["rows"]] == [NONE]
    # the header seen: no such warning
    b = Breakdown()
    b.add([_group("b", np.full(40, 2e3)), _group(NONE, np.full(2, 2e3))])
    data, warnings = groups(b, served_by=SimpleNamespace(header="X-Served-By", weights={"a": 1, "b": 3}))
    assert warnings == ["A: backend a answered no request of 42 responses; expected 25.0% (weight 1 of 4)",
                        "A: responses came from backends with no stated weight: (none) (2)"]
    assert [r["label"] for r in data["served_by"]["rows"]] == ["a", "b", NONE]


@pytest.mark.parametrize("text", ["a=1,b", "a=x", "=1", "a=-1", "a=0,b=0", ""])
def test_weights_text_is_name_equals_number(text: str) -> None:
    with pytest.raises(ValueError, match=r"NAME=WEIGHT|no positive weight"):
        parse_weights(text)
    assert parse_weights(" a=1, b=1 ,c=2.5") == {"a": 1.0, "b": 1.0, "c": 2.5}
