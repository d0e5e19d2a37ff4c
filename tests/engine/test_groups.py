"""engine/batch.py's per-backend and per-URL rows (GroupRecord), from hand-built rows: which label each
measured request lands under, what a row counts, and the 64-label bound held across flushes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from stinger.core.breakdown import MAX_LABELS, NONE, OTHER
from stinger.core.records import Kind
from stinger.engine.batch import Flusher
from stinger.engine.columns import ENDPOINT_SHIFT, OVERLAPPED_BIT, Columns
from stinger.engine.plan import VariantPlan
from stinger.targets.http import Config as HttpConfig

from .test_batch import T0, Slots, flush, hist, plan, row

H = "x-served-by"


def _cols(rows, values) -> Columns:
    cols = Columns(header_names=(H,))
    cols.rows = list(rows)
    cols.hvals = list(values)
    return cols


def _groups(rec, by="served_by"):
    return {(g.variant, g.label): g for g in rec.groups if g.by == by}


def test_rows_are_grouped_by_the_header_value_with_failures_and_missing_headers() -> None:
    f = Flusher(replace(plan(("A",)), server_time_header=None, served_by_header="X-Served-By"), T0, Slots())
    rows = [row(0.1, 0.1, 0.11, 0.12), row(0.2, 0.2, 0.21, 0.25), row(0.3, 0.3, 0.31, 0.34),
            row(0.4, 0.4, 0.41, 0.45, kind=int(Kind.HTTP_5XX), status=503),
            row(0.5, 0.5, 0, 0.9, kind=int(Kind.TIMEOUT), status=0)]
    rec = flush(f, _cols(rows, [b"a", b" a ", b"b", b"b", None]))
    g = _groups(rec)
    assert set(g) == {("A", "a"), ("A", "b"), ("A", NONE)}
    a, b, none = g["A", "a"], g["A", "b"], g["A", NONE]
    assert (a.kinds[Kind.OK], a.responses) == (2, 2)
    assert (b.kinds[Kind.OK], b.kinds[Kind.HTTP_5XX], b.responses) == (1, 1, 2)
    assert (none.kinds[Kind.TIMEOUT], none.responses) == (1, 0)   # no answer: counted, not a response
    assert hist(a.latency).total_count == 2 and hist(b.latency).total_count == 1
    assert abs(hist(b.latency).value_at_percentile(50) - 40_000) <= 40   # 40 ms, in us (3 digits)
    assert not _groups(rec, "url")   # one URL: no per-URL rows


def test_warmup_rows_are_left_out() -> None:
    f = Flusher(replace(plan(("A",), warmup=1.0), served_by_header="x-served-by"), T0, Slots())
    rec = flush(f, _cols([row(0.5, 0.5, 0.51, 0.52), row(1.5, 1.5, 1.51, 1.52)], [b"a", b"a"]))
    assert _groups(rec)["A", "a"].kinds[Kind.OK] == 1


def test_a_variant_of_several_urls_has_a_row_per_url_index() -> None:
    two = VariantPlan("A", HttpConfig(url="http://127.0.0.1:9/", urls=["http://127.0.0.1:10/"]))
    one = VariantPlan("B", HttpConfig(url="http://127.0.0.1:11/"))
    f = Flusher(replace(plan(("A",)), variants=(two, one)), T0, Slots())
    q1 = (1 << ENDPOINT_SHIFT) | OVERLAPPED_BIT | 2   # URL 1, sent while B was in flight, on a new connection
    cols = Columns()
    cols.rows = [row(0.1, 0.1, 0.11, 0.12), row(0.2, 0.2, 0.21, 0.22, queued=q1), row(0.3, 0.3, 0.31, 0.32, queued=q1),
                 row(0.4, 0.4, 0.41, 0.42, variant=1)]
    rec = flush(f, cols)
    g = _groups(rec, "url")
    assert {k: v.kinds[Kind.OK] for k, v in g.items()} == {("A", "0"): 1, ("A", "1"): 2}   # B has one URL
    a = next(c for c in rec.cells if c.variant == "A")
    assert hist(a.hists["queue"]).total_count == 2   # the URL bits leave the queue state alone


def test_at_most_64_labels_a_variant_over_the_run() -> None:
    f = Flusher(replace(plan(("A",)), served_by_header="x-served-by"), T0, Slots())
    for start in (0, 50):   # two flushes: the bound holds across them
        n = 50
        rows = [row(0.001 * i, 0.001 * i, 0.001 * i + 0.0005, 0.001 * i + 0.001) for i in range(n)]
        rec = flush(f, _cols(rows, [f"s{start + i}".encode() for i in range(n)]))
        labels = {g.label for g in rec.groups}
        if start:
            assert len(labels - {OTHER}) == MAX_LABELS - 50 and OTHER in labels
            assert sum(np.asarray(g.kinds).sum() for g in rec.groups) == n
