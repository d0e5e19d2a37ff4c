"""core/cellstore.py: cells spilled to a file read back exactly as kept in memory.

The same synthetic records (`stinger.testing.records`) go into two `RunMetrics`:
one keeps every cell in memory (`spill=False`), the other spills every cell a
record no longer can touch (`late_s=0`) — including cells a late record then
changes. Everything read after the run must be identical: the per-second
series, summaries, A/B inputs, and the run directory's files.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from stinger.core.cellstore import CellStore, SpillFile, decode_cell, encode_cell
from stinger.core.metrics import RunMetrics
from stinger.testing.records import VARIANTS, final_records, synthetic_records, with_interval

N = 40


def feed(m: RunMetrics, *, late_for: int | None = None) -> RunMetrics:
    recs = list(synthetic_records(N, rate=4_000.0, workers=2, pool=4))
    for k, rec in enumerate(recs):
        m.add(rec)
        if late_for is not None and k == len(recs) // 2:
            # a late record (another worker's) for a cell that is by now spilled in the spilling run
            m.add(with_interval(recs[2 * late_for], late_for))
    for rec in final_records(N, workers=2):
        m.add(rec)
    return m


@pytest.fixture(scope="module")
def pair():
    kept = feed(RunMetrics(list(VARIANTS), spill=False), late_for=3)
    spilled = feed(RunMetrics(list(VARIANTS), late_s=0.0), late_for=3)
    yield kept, spilled
    spilled.close()


def test_the_spilling_run_did_spill_and_keeps_few_cells_in_memory(pair):
    kept, spilled = pair
    for name in VARIANTS:
        store = spilled.variants[name].cells
        assert len(store) == len(kept.variants[name].cells) == N + 1   # the final records open interval N
        assert store.in_memory <= 3                          # the last intervals only
        assert kept.variants[name].cells.in_memory == N + 1
    # every cell spilled at least once, and the late one a second time
    assert spilled.spill_file.versions >= len(VARIANTS) * (N - 3) + len(VARIANTS)
    assert spilled.spill_file.size > 0 and os.path.exists(spilled.spill_file.path)


def test_series_summaries_and_ab_inputs_are_identical(pair):
    from stinger.orchestrate.ab import variant_data_from_metrics

    kept, spilled = pair
    assert spilled.interval_rows() == kept.interval_rows()
    window = kept.window(0.0, float(N))
    assert spilled.summary(window) == kept.summary(window)
    assert spilled.overall(window) == kept.overall(window)
    a = variant_data_from_metrics(kept, kept.summary(window))
    b = variant_data_from_metrics(spilled, spilled.summary(window))
    for name in VARIANTS:
        assert a[name].seconds == b[name].seconds == list(range(N))
        assert len(a[name].intervals) == len(b[name].intervals) == N
        for (va, ca), (vb, cb) in zip(a[name].intervals, b[name].intervals, strict=True):
            assert np.array_equal(va, vb) and np.array_equal(ca, cb)


def test_a_late_record_for_a_spilled_cell_is_merged(pair):
    kept, spilled = pair
    for name in VARIANTS:
        k, s = kept.variants[name].cells[3], spilled.variants[name].cells[3]
        assert k.histogram("latency") == s.histogram("latency")
        assert np.array_equal(k.kinds, s.kinds)
        # the late record doubled what worker 0 sent for interval 3 (its own cells, not the late ones)
        assert s.histogram("latency").total_count > spilled.variants[name].cells[4].histogram("latency").total_count


def test_run_directory_files_are_identical(pair, tmp_path):
    from stinger.outputs.rundir import write_run

    kept, spilled = pair
    window = kept.window(0.0, float(N))
    for sub, m in (("kept", kept), ("spilled", spilled)):
        (tmp_path / sub).mkdir()
        write_run(tmp_path / sub, summary={"name": "t", "variants": m.summary(window)}, spec_data={"name": "t"},
                  metrics=m, started_at=1_700_000_000.0)
    names = sorted(p.name for p in (tmp_path / "kept").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "spilled").iterdir())
    assert "histograms.hlog" in names and "intervals.csv" in names
    for name in names:
        assert (tmp_path / "kept" / name).read_bytes() == (tmp_path / "spilled" / name).read_bytes(), name


def test_a_cell_round_trips_through_its_encoding(pair):
    kept, _ = pair
    c = kept.variants["a"].cells[5]
    back = decode_cell(encode_cell(c))
    assert np.array_equal(back.kinds, c.kinds) and back.kinds.dtype == np.int64
    assert (back.bytes_in, back.ok_window, back.warmup, back.scheduled, back.dropped) == (
        c.bytes_in, c.ok_window, c.warmup, c.scheduled, c.dropped)
    assert sorted(back.hists) == sorted(c.hists)
    for name in c.hists:
        assert back.histogram(name) == c.histogram(name)


def test_store_reads_like_a_mapping_and_reads_are_copies(tmp_path):
    spill = SpillFile(tmp_path / "cells.spill")
    store = CellStore(spill)
    for i in (4, 0, 2):
        store.cell(i).scheduled = i + 10
    assert store.spill_before(3) == 2 and store.in_memory == 1
    assert list(store) == [0, 2, 4] and len(store) == 3
    assert 2 in store and np.int64(2) in store and 1 not in store and 99 not in store and "2" not in store
    assert store.get(1) is None and store.get(2).scheduled == 12
    with pytest.raises(KeyError):
        store[1]
    store.get(2).scheduled = 0            # a copy: the stored cell does not change
    assert store[2].scheduled == 12
    store.cell(2).scheduled += 1          # writing reads it back into memory
    assert store.in_memory == 2 and store[2].scheduled == 13
    assert [(i, c.scheduled) for i, c in store.items()] == [(0, 10), (2, 13), (4, 14)]
    assert (tmp_path / "cells.spill").exists()
    spill.close()
    assert not (tmp_path / "cells.spill").exists()


def test_a_temporary_spill_file_goes_away_with_the_metrics():
    m = feed(RunMetrics(list(VARIANTS), late_s=0.0))
    path = m.spill_file.path
    assert path is not None and os.path.exists(path)
    del m
    import gc

    gc.collect()
    assert not os.path.exists(path)


def test_no_spill_file_for_a_run_shorter_than_the_horizon(tmp_path):
    m = RunMetrics(list(VARIANTS), late_s=30.0, spill_path=tmp_path / "s")
    for rec in synthetic_records(10, rate=1_000.0, workers=2, pool=2):
        m.add(rec)
    assert m.spill_file.path == str(tmp_path / "s") and not (tmp_path / "s").exists()
    assert m.variants["a"].cells.in_memory == 10


def test_the_horizon_waits_for_the_slowest_live_worker_and_not_for_a_lost_one():
    m = RunMetrics(list(VARIANTS), late_s=0.0)   # horizon: the slowest live worker's interval - 1
    recs = list(synthetic_records(12, rate=400.0, workers=2, pool=2))
    for rec in recs:
        if rec.worker == 0 or rec.interval < 3:   # worker 1 goes silent after interval 2
            m.add(rec)
    cells = m.variants["a"].cells
    assert cells.in_memory == 11 and 0 not in cells._live   # worker 1 is at 2: only interval 0 spilled
    m.worker_gone(1)
    m.add(recs[-2])                              # worker 0 again (interval 11): only worker 0 counts now
    assert cells.in_memory == 2 and len(cells) == 12
    m.close()


def test_two_live_spill_files_for_one_path_do_not_share_it(tmp_path):
    a, b = SpillFile(tmp_path / ".cells.spill"), SpillFile(tmp_path / ".cells.spill")
    off_a, off_b = a.append(b"first"), b.append(b"second")
    assert a.path != b.path and a.read(off_a, 5) == b"first" and b.read(off_b, 6) == b"second"
    a.close()
    b.close()
    assert list(tmp_path.iterdir()) == []
