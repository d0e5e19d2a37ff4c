"""engine/batch.py with split: sagemaker - the real SageMakerTarget attributes each row from its
invoked-variant header, cells are keyed by the attributed variant, and the interval's counters are
settled to them (engine/attribution.py). Rows by hand, no network."""

from __future__ import annotations

import pytest

pytest.importorskip("botocore")

from stinger.core.records import IntervalRecord, Kind, plain
from stinger.engine.batch import Flusher
from stinger.engine.columns import Columns
from stinger.engine.plan import ATTRIBUTED, VariantPlan, WorkerPlan
from stinger.vendors.sagemaker.carrier import ERROR_TYPE, INVOKED_VARIANT, Config, SageMakerTarget

T0 = 100.0
OK, TIMEOUT, THROTTLED = int(Kind.OK), int(Kind.TIMEOUT), int(Kind.THROTTLED)
U = 2


class _Slots:
    check = None
    prediction = None


def _flusher() -> Flusher:
    config = Config(endpoint="ep", region="us-east-1", endpoint_url="http://127.0.0.1:9",
                    variant_names=("blue", "green"))
    plan = WorkerPlan(worker=0, workers=1, split=ATTRIBUTED, warmup=1.0, duration=10.0,
                      variants=(VariantPlan("A", config), VariantPlan("B", config), VariantPlan("unattributed", config)))
    target = SageMakerTarget(config)
    return Flusher(plan, T0, _Slots(), [target] * 3)


def _columns(rows) -> Columns:
    """rows: (intended, done, kind, status, invoked variant or None); every row planned on `unattributed`."""
    cols = Columns(header_names=(INVOKED_VARIANT, ERROR_TYPE))
    for intended, done, kind, status, invoked in rows:
        cols.rows.append((T0 + intended, T0 + intended + 0.001, 0.0, T0 + done, kind, status, U, 100, 0, 0, -1))
        cols.hvals.append(None if invoked is None else (invoked.encode(), None))
    return cols


def _flush(f: Flusher, cols: Columns, scheduled: int, warm: int = 0, final: bool = False,
           in_flight: int = 0) -> IntervalRecord:
    zero = [0, 0, 0]
    counters = {"scheduled": [0, 0, scheduled], "scheduled_warm": [0, 0, warm], "dropped": list(zero),
                "dropped_warm": list(zero), "bytes_out": [0, 0, 100 * (scheduled + warm)], "overflow": list(zero)}
    rec = f.flush(cols, counters, loop_lags=[], in_flight=in_flight,
                  in_flight_by_variant=[0, 0, in_flight] if final else None, final=final, cpu=0.0)
    assert plain(IntervalRecord.from_bytes(rec.to_bytes())) == plain(rec)
    return rec


def test_rows_land_in_the_variant_their_header_names_and_the_counters_follow(aws_env):
    f = _flusher()
    rec = _flush(f, _columns([
        (1.2, 1.25, OK, 200, "blue"), (1.3, 1.35, OK, 200, "blue"), (1.4, 1.5, OK, 200, "green"),
        (1.5, 1.6, THROTTLED, 429, "green"),      # failed, but the header named it: green's failure
        (1.6, 1.7, TIMEOUT, 0, None),             # no response, no header: unattributed
        (0.5, 1.1, OK, 200, "green"),             # intended in the warm-up: counted apart
    ]), scheduled=7, warm=1)
    cells = {c.variant: c for c in rec.cells}
    assert sum(cells["A"].kinds) == 2 and cells["A"].kinds[OK] == 2
    assert cells["B"].kinds[OK] == 1 and cells["B"].kinds[THROTTLED] == 1 and cells["B"].warmup == 1
    assert cells["unattributed"].kinds[TIMEOUT] == 1
    assert {v: c["scheduled"] for v, c in rec.counters.items()} == {"A": 2, "B": 2, "unattributed": 1}
    assert {v: c["scheduled_warm"] for v, c in rec.counters.items()} == {"A": 0, "B": 1, "unattributed": 0}
    # 7 fired, 5 ended: the 2 still open are booked on unattributed at the final flush, where the
    # engine says they are in flight
    fin = _flush(f, Columns(header_names=(INVOKED_VARIANT, ERROR_TYPE)), scheduled=0, final=True, in_flight=2)
    assert {v: c["scheduled"] for v, c in fin.counters.items()} == {"A": 0, "B": 0, "unattributed": 2}
    assert fin.in_flight_by_variant == {"A": 0, "B": 0, "unattributed": 2}
