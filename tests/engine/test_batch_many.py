"""engine/batch.py: a metric with many values per request (every inter-token gap) is recorded value by value.

A target returns such a metric as `Interpretation.many[name] = (values, counts)`: every
row's values flattened in row order and how many each row has. Each value lands in the
cell of its row (interval, variant), only for rows that ended OK after the warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from stinger.core.histogram import Histogram
from stinger.core.records import Kind
from stinger.engine.batch import Flusher
from stinger.engine.columns import Columns
from stinger.engine.plan import VariantPlan, WorkerPlan
from stinger.targets.base import Interpretation
from stinger.targets.http import Config as HttpConfig

T0 = 100.0


@dataclass
class Slots:
    check: object = None
    prediction: object = None


class GapTarget:
    """Interprets a batch as `gaps`: (values in us, count per row)."""

    type = "fake"

    def __init__(self, values, counts) -> None:
        self.out = Interpretation(many={"itl": (np.asarray(values, dtype=float), np.asarray(counts))})

    def interpret(self, batch):
        return self.out


def plan() -> WorkerPlan:
    return WorkerPlan(worker=0, workers=1, variants=tuple(VariantPlan(v, HttpConfig(url="http://127.0.0.1:9/"))
                                                          for v in ("A", "B")), warmup=0.0, duration=10.0)


def row(intended, done, kind=int(Kind.OK), status=200, variant=0):
    return (T0 + intended, T0 + intended, T0 + intended + 0.01, T0 + done, kind, status, variant, 100, 0, 0, -1)


def cells_of(rows, targets) -> dict:
    cols = Columns(header_names=())
    cols.rows = list(rows)
    rec = Flusher(plan(), T0, Slots(), targets=targets).flush(
        cols, {"scheduled": [len(rows), 0], "dropped": [0, 0]}, loop_lags=[], in_flight=0,
        in_flight_by_variant=None, final=False, cpu=0.0)
    return {(c.interval, c.variant): c for c in rec.cells}


def itl(cell) -> Histogram:
    h = Histogram()
    h.counts[cell.hists["itl"][0]] += cell.hists["itl"][1]
    return h


def test_every_gap_of_a_request_is_recorded_in_its_row_s_cell():
    rows = [row(0.1, 0.2),                                      # A, interval 0: gaps 8, 8, 40 ms
            row(0.2, 1.3),                                      # A, interval 1: gap 9 ms
            row(0.3, 0.4, variant=1),                           # B, interval 0: no gap (one token)
            row(0.4, 0.5, kind=int(Kind.TIMEOUT), status=0)]    # failed: its gap is not recorded
    target = GapTarget([8e3, 8e3, 40e3, 9e3, 7e3], [3, 1, 0, 1])
    cells = cells_of(rows, [target, target])
    a0, a1 = itl(cells[(0, "A")]), itl(cells[(1, "A")])
    assert a0.total_count == 3 and a0.max == pytest.approx(40e3, rel=1e-3) and a0.min == pytest.approx(8e3, rel=1e-3)
    assert a1.total_count == 1 and a1.max == pytest.approx(9e3, rel=1e-3)
    assert "itl" not in cells[(0, "B")].hists      # no gap, and the catalogue shows it only when recorded


def test_a_target_serving_some_variants_gives_its_rows_gaps():
    rows = [row(0.1, 0.2), row(0.2, 0.3, variant=1)]
    cells = cells_of(rows, [GapTarget([5e3, 6e3], [2]), GapTarget([7e3], [1])])
    assert itl(cells[(0, "A")]).total_count == 2
    b = itl(cells[(0, "B")])
    assert b.total_count == 1 and b.max == pytest.approx(7e3, rel=1e-3)
