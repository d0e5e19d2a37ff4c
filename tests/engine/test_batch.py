"""engine/batch.py: one interval's rows -> one IntervalRecord, with and without a target's interpretation.

Rows are built by hand (times on a run clock with t0 = 100.0) so every
expected count and histogram is known; no network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from stinger.core.histogram import Histogram
from stinger.core.records import IntervalRecord, Kind, plain
from stinger.engine.batch import Flusher
from stinger.engine.columns import Columns
from stinger.engine.plan import VariantPlan, WorkerPlan
from stinger.targets.base import Interpretation
from stinger.targets.http import Config as HttpConfig

T0 = 100.0
OK, TIMEOUT, H5 = int(Kind.OK), int(Kind.TIMEOUT), int(Kind.HTTP_5XX)


@dataclass
class Slots:
    check: object = None
    prediction: object = None

    def label(self, p):  # pragma: no cover - no prediction path in these tests
        return None


def plan(variants=("A", "B"), warmup=0.0, header="server-timing") -> WorkerPlan:
    return WorkerPlan(worker=3, workers=4, variants=tuple(VariantPlan(v, HttpConfig(url="http://127.0.0.1:9/")) for v in variants),
                      warmup=warmup, duration=10.0, server_time_header=header)


def row(intended, sent, first, done, kind=OK, status=200, variant=0, nbytes=100, payload=0, queued=0):
    return (T0 + intended, T0 + sent, T0 + first if first else 0.0, T0 + done, kind, status, variant, nbytes,
            payload, queued, -1)


def columns(rows, header_values=None, header="server-timing") -> Columns:
    cols = Columns(header_names=(header,) if header_values is not None else ())
    cols.rows = list(rows)
    if header_values is not None:
        cols.hvals = list(header_values)  # one header: values stored bare
    return cols


def flush(flusher, cols, final=False) -> IntervalRecord:
    nvar = len(flusher.names)
    counters = {"scheduled": [len(cols)] + [0] * (nvar - 1), "dropped": [0] * nvar}
    rec = flusher.flush(cols, counters, loop_lags=[0.001, 0.004], in_flight=2,
                        in_flight_by_variant=[1] * nvar if final else None, final=final, cpu=0.0)
    back = IntervalRecord.from_bytes(rec.to_bytes())   # what the coordinator receives
    assert plain(back) == plain(rec)
    return rec


def hist(sparse) -> Histogram:
    h = Histogram()
    h.counts[sparse[0]] += sparse[1]
    return h


def by_cell(rec):
    return {(c.interval, c.variant): c for c in rec.cells}


# ------------------------------------------------------------- plain recording
def test_rows_land_in_the_interval_they_ended_in_by_variant_and_kind():
    rows = [row(0.10, 0.10, 0.11, 0.12),                        # A, interval 0, 20 ms
            row(0.20, 0.20, 0.25, 0.30),                        # A, interval 0, 100 ms
            row(0.50, 0.50, 0, 1.50, kind=TIMEOUT, status=0),   # A, interval 1, a timeout
            row(0.30, 0.30, 0.31, 0.40, kind=H5, status=503, variant=1)]
    rec = flush(Flusher(plan(), T0, Slots()), columns(rows))
    cells = by_cell(rec)
    assert set(cells) == {(0, "A"), (1, "A"), (0, "B")}
    a0 = cells[(0, "A")]
    assert a0.kinds[OK] == 2 and sum(a0.kinds) == 2 and a0.status == {200: 2} and a0.bytes_in == 200
    lat = hist(a0.hists["latency"])
    assert lat.total_count == 2 and lat.max == pytest.approx(100_000, rel=1e-3)
    assert hist(a0.hists["ttfb"]).total_count == 2
    assert "queue" not in a0.hists and "server" not in a0.hists   # shown only when recorded
    assert cells[(1, "A")].kinds[TIMEOUT] == 1 and cells[(1, "A")].status == {}
    assert cells[(0, "B")].kinds[H5] == 1 and hist(cells[(0, "B")].hists["latency"]).total_count == 0
    assert rec.worker == 3 and rec.loop_lag_ms == pytest.approx(4.0) and rec.loop_lags_ms == (1.0, 4.0)
    assert rec.counters == {"A": {"scheduled": 4, "dropped": 0}, "B": {"scheduled": 0, "dropped": 0}}
    assert rec.first_intended == pytest.approx(0.10) and rec.last_done == pytest.approx(1.50)


def test_a_queued_request_records_its_wait_as_queue_not_lag():
    rows = [row(0.1, 0.1, 0.11, 0.2), row(0.1, 0.4, 0.41, 0.5, queued=1)]
    a0 = by_cell(flush(Flusher(plan(("A",)), T0, Slots()), columns(rows)))[(0, "A")]
    assert hist(a0.hists["lag"]).total_count == 1 and hist(a0.hists["lag"]).max < 1_000
    q = hist(a0.hists["queue"])
    assert q.total_count == 1 and q.max == pytest.approx(300_000, rel=1e-3)


def test_warmup_requests_are_counted_apart_and_nowhere_else():
    rows = [row(0.5, 0.5, 0.51, 0.6), row(1.5, 1.5, 1.51, 1.6)]
    cells = by_cell(flush(Flusher(plan(("A",), warmup=1.0), T0, Slots()), columns(rows)))
    assert cells[(0, "A")].warmup == 1 and sum(cells[(0, "A")].kinds) == 0
    assert cells[(1, "A")].warmup == 0 and cells[(1, "A")].ok_window == 1


def test_server_timing_header_gives_server_time_and_named_metrics():
    rows = [row(0.1, 0.1, 0.11, 0.2), row(0.2, 0.2, 0.21, 0.3)]
    cols = columns(rows, [b"total;dur=12.5, model;dur=10", None])
    a0 = by_cell(flush(Flusher(plan(("A",)), T0, Slots()), cols))[(0, "A")]
    srv = hist(a0.hists["server"])
    assert srv.total_count == 1 and srv.max == pytest.approx(12_500, rel=1e-3)
    assert set(a0.server_metrics) == {"total", "model"}
    assert hist(a0.server_metrics["model"]).total_count == 1


# ---------------------------------------------------------------- interpretation
class FakeTarget:
    """Refines kinds, reports server time and a time to first token, re-attributes variants."""

    type = "fake"

    def __init__(self, server_ms=None, kind=None, variant=None, ttft_us=None):
        self.out = Interpretation(kind=kind, server_ms=server_ms, variant=variant,
                                  columns={} if ttft_us is None else {"ttft": ttft_us})
        self.seen: list[int] = []

    def interpret(self, batch):
        self.seen.append(len(batch))
        return self.out


def test_interpretation_refines_kinds_server_time_variant_and_extra_columns():
    rows = [row(0.1, 0.1, 0.11, 0.2), row(0.2, 0.2, 0.21, 0.3), row(0.3, 0.3, 0.31, 0.4)]
    target = FakeTarget(kind=np.array([OK, int(Kind.CHECK), OK]),
                        server_ms=np.array([3.0, 4.0, np.nan]),
                        variant=np.array([0, 0, 1]),
                        ttft_us=np.array([5_000.0, 6_000.0, np.nan]))
    cols = columns(rows, [b"total;dur=99", b"total;dur=99", b"total;dur=99"])
    rec = flush(Flusher(plan(), T0, Slots(), targets=[target, target]), cols)
    cells = by_cell(rec)
    assert target.seen == [3]                         # one target for both variants: one call
    a0, b0 = cells[(0, "A")], cells[(0, "B")]
    assert a0.kinds[OK] == 1 and a0.kinds[int(Kind.CHECK)] == 1
    assert sum(b0.kinds) == 1                         # the target said variant B served row 3
    assert hist(a0.hists["server"]).max == pytest.approx(3_000, rel=1e-3)      # the target's, not the header's
    assert hist(b0.hists["server"]).max == pytest.approx(99_000, rel=1e-3)     # no value from the target: header
    ttft = hist(a0.hists["ttft"])
    assert ttft.total_count == 1 and ttft.max == pytest.approx(5_000, rel=1e-3)  # OK rows only
    assert "ttft" not in b0.hists


def test_each_distinct_target_reads_only_its_variants_rows():
    rows = [row(0.1, 0.1, 0.11, 0.2), row(0.2, 0.2, 0.21, 0.3, variant=1), row(0.3, 0.3, 0.31, 0.4, variant=1)]
    ta = FakeTarget(server_ms=np.array([1.0]))
    tb = FakeTarget(server_ms=np.array([2.0, 2.0]))
    cells = by_cell(flush(Flusher(plan(header=None), T0, Slots(), targets=[ta, tb]), columns(rows)))
    assert ta.seen == [1] and tb.seen == [2]
    assert hist(cells[(0, "A")].hists["server"]).total_count == 1
    assert hist(cells[(0, "B")].hists["server"]).total_count == 2


def test_a_column_not_in_the_catalogue_is_refused():
    target = FakeTarget()
    target.out.columns["tokens_galore"] = np.array([1.0])
    with pytest.raises(KeyError, match="unknown metric 'tokens_galore'"):
        Flusher(plan(("A",)), T0, Slots(), targets=[target]).flush(
            columns([row(0.1, 0.1, 0.11, 0.2)]), {"scheduled": [1]}, loop_lags=[], in_flight=0,
            in_flight_by_variant=None, final=False, cpu=0.0)


def test_final_record_carries_in_flight_by_variant():
    rec = flush(Flusher(plan(), T0, Slots()), columns([]), final=True)
    assert rec.final and rec.cells == () and rec.in_flight_by_variant == {"A": 1, "B": 1}


def test_the_flush_path_s_lazy_numpy_imports_are_paid_before_the_run():
    # np.unique imports numpy.ma on its first plain call: ~20-30 ms under the GIL in the
    # first flush of a run, while the event loop is timing requests
    import subprocess
    import sys

    code = ("import sys; from stinger.engine.batch import Flusher; assert 'numpy.ma' not in sys.modules; "
            "Flusher._warm(); print('numpy.ma' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
