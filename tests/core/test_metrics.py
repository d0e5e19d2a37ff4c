"""core/metrics.py fed hand-built interval records (what engine/batch.py builds and workers send)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stinger.core.histogram import Histogram
from stinger.core.metrics import RunMetrics, histogram_from_sparse, summarize
from stinger.core.records import ERROR_LABELS, CellRecord, IntervalRecord, Kind


def sparse(values_us) -> tuple[np.ndarray, np.ndarray]:
    h = Histogram()
    if len(values_us):
        h.record_many(np.asarray(values_us, dtype=np.float64))
    idx = np.flatnonzero(h.counts)
    return idx.astype(np.int32), h.counts[idx].astype(np.int64)


def kinds(**by_label) -> list[int]:
    out = [0] * len(Kind)
    for label, n in by_label.items():
        out[Kind[label.upper()]] = n
    return out


def cell(i: int, v: str, *, ok_latency_us=(), service_us=None, kinds_=None, status=None, bytes_in=0,
         ok_window=None, warmup=0, server_us=None) -> CellRecord:
    n_ok = len(ok_latency_us)
    hists = {"latency": sparse(ok_latency_us),
             "service": sparse(service_us if service_us is not None else ok_latency_us),
             "ttfb": sparse([]), "lag": sparse([])}
    if server_us is not None:
        hists["server"] = sparse(server_us)
    return CellRecord(
        interval=i, variant=v,
        kinds=tuple(kinds_ if kinds_ is not None else kinds(ok=n_ok)),
        status=status if status is not None else ({200: n_ok} if n_ok else {}),
        bytes_in=bytes_in,
        ok_window=n_ok if ok_window is None else ok_window,
        warmup=warmup,
        hists=hists,
    )


def message(worker: int, interval: int, cells: list[CellRecord], *, counters: dict, t: float | None = None,
            final: bool = False, cpu_s: float = 0.1, in_flight_by_variant: dict | None = None,
            first_intended: float | None = None, last_done: float | None = None) -> IntervalRecord:
    rec = IntervalRecord(
        worker=worker, t=float(interval + 1) if t is None else t, interval=interval, final=final,
        cpu_s=cpu_s, flush_ms=0.1, loop_lag_ms=0.5, in_flight=0, counters=counters, cells=tuple(cells),
        first_intended=first_intended, last_done=last_done, in_flight_by_variant=in_flight_by_variant)
    # every record is merged as it arrives from a worker: through its wire form
    return IntervalRecord.from_bytes(rec.to_bytes())


def counters(scheduled=0, scheduled_warm=0, dropped=0, dropped_warm=0, bytes_out=0) -> dict:
    return {"scheduled": scheduled, "scheduled_warm": scheduled_warm, "dropped": dropped,
            "dropped_warm": dropped_warm, "bytes_out": bytes_out}


# ----------------------------------------------------------------------- add
def test_two_workers_merge_counts_and_histograms():
    rng = np.random.default_rng(1)
    a = rng.uniform(1_000, 50_000, 300)
    b = rng.uniform(20_000, 200_000, 200)
    m = RunMetrics(["default"])
    m.add(message(0, 0, [cell(0, "default", ok_latency_us=a, bytes_in=3000)],
                  counters={"default": counters(scheduled=300, bytes_out=1000)}))
    m.add(message(1, 0, [cell(0, "default", ok_latency_us=b, bytes_in=2000)],
                  counters={"default": counters(scheduled=200, bytes_out=700)}))
    vm = m.variants["default"]
    assert vm.ok == 500 and vm.failed == 0
    assert vm.counters["scheduled"] == 500
    assert vm.counters["bytes_out"] == 1700 and vm.bytes_in == 5000
    assert vm.status == {200: 500}
    # merged, never averaged: the same as one histogram of every value
    whole = Histogram()
    whole.record_many(np.concatenate([a, b]))
    assert vm.totals["latency"] == whole
    assert vm.totals["latency"].percentiles([50, 99]) == whole.percentiles([50, 99])
    c = vm.cells[0]
    assert c.scheduled == 500 and int(c.kinds[Kind.OK]) == 500
    assert c.histogram("latency") == whole


def test_cells_land_in_their_interval_and_status_codes_add():
    m = RunMetrics(["a", "b"])
    m.add(message(0, 0, [cell(0, "a", ok_latency_us=[1000] * 3),
                         cell(0, "b", kinds_=kinds(http_5xx=2), status={503: 2})],
                  counters={"a": counters(scheduled=3), "b": counters(scheduled=2)}))
    m.add(message(0, 1, [cell(1, "a", ok_latency_us=[2000] * 4),
                         cell(1, "b", kinds_=kinds(ok=1, http_5xx=1), status={200: 1, 503: 1})],
                  counters={"a": counters(scheduled=4), "b": counters(scheduled=2)}))
    a, b = m.variants["a"], m.variants["b"]
    assert sorted(a.cells) == [0, 1]
    assert int(a.cells[0].kinds[Kind.OK]) == 3 and int(a.cells[1].kinds[Kind.OK]) == 4
    assert a.totals["latency"].total_count == 7
    assert b.status == {503: 3, 200: 1}
    assert int(b.kinds[Kind.HTTP_5XX]) == 3 and b.ok == 1 and b.failed == 3


def test_final_message_records_in_flight_and_finals():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [], counters={"default": counters(scheduled=5)}, final=True,
                  in_flight_by_variant={"default": 5}))
    assert m.finals == {0}
    assert m.variants["default"].in_flight_at_stop == 5
    s = m.summary(m.window(0.0, 1.0))["default"]
    assert s["requests"]["in_flight"] == 5 and s["requests"]["unaccounted"] == 0


def test_worker_cpu_is_a_fraction_of_a_core():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [], counters={"default": counters()}, t=1.0, cpu_s=0.25))
    m.add(message(0, 1, [], counters={"default": counters()}, t=2.0, cpu_s=0.5))
    m.add(message(0, 2, [], counters={"default": counters()}, t=4.0, cpu_s=0.5))
    # the first sample (start-up) is left out; the others are CPU s over the seconds since the last record
    assert list(m.worker_cpu[0]) == [0.5, 0.25]
    assert m.worker_cpu_p90() == pytest.approx(0.475)


def test_first_intended_and_last_done_take_the_extremes():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [], counters={"default": counters()}, first_intended=0.2, last_done=3.0))
    m.add(message(1, 0, [], counters={"default": counters()}, first_intended=0.1, last_done=2.0))
    m.add(message(1, 1, [], counters={"default": counters()}))
    assert m.first_intended == 0.1 and m.last_done == 3.0


# ------------------------------------------------------------------- summary
def test_summary_accounting_and_error_rate():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [cell(0, "default", ok_latency_us=[10_000] * 6,
                              kinds_=kinds(ok=6, timeout=2, connect=1), status={200: 6})],
                  counters={"default": counters(scheduled=10, dropped=1)}))
    m.add(message(0, 1, [], counters={"default": counters()}, final=True, in_flight_by_variant={"default": 0}))
    s = m.summary((0.0, 2.0))["default"]
    r = s["requests"]
    assert r == {"scheduled": 10, "ok": 6, "failed": 3, "dropped": 1, "in_flight": 0, "unaccounted": 0,
                 "warmup": 0}
    assert set(s["errors"]) == set(ERROR_LABELS)
    assert s["errors"]["timeout"] == 2 and s["errors"]["connect"] == 1
    assert s["error_rate"] == pytest.approx(4 / 10)
    assert s["status_codes"] == {"200": 6}
    assert s["throughput"]["offered_rps"] == pytest.approx(5.0)
    assert s["throughput"]["achieved_rps"] == pytest.approx(3.0)
    assert s["throughput"]["ratio"] == pytest.approx(0.6)
    assert s["throughput"]["window_s"] == pytest.approx(2.0)
    assert s["latency_ms"]["count"] == 6
    assert s["latency_ms"]["p50"] == pytest.approx(10.0, rel=1e-3)
    assert "server_time_ms" not in s  # no server time measured


def test_unaccounted_shows_a_lost_request():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [cell(0, "default", ok_latency_us=[1000] * 4)],
                  counters={"default": counters(scheduled=5)}))
    s = m.summary((0.0, 1.0))["default"]
    assert s["requests"]["unaccounted"] == 1


def test_a_lost_worker_s_requests_in_flight_become_lost_and_the_identity_holds():
    """Issue 16 item 3: a worker lost after its second record had 2 + 1 requests scheduled but not ended
    (nor dropped) by then; they are failed, kind `lost`, in its last interval, so nothing is unaccounted
    (before: `unaccounted` 5-11 on both backends)."""
    m = RunMetrics(["A", "B"])
    # worker 0 ends normally; worker 1 is lost after interval 1
    m.add(message(0, 0, [cell(0, "A", ok_latency_us=[1000] * 4)], counters={"A": counters(scheduled=4),
                                                                            "B": counters()}))
    m.add(message(0, 1, [cell(1, "A", ok_latency_us=[1000] * 2)], counters={"A": counters(scheduled=2),
                                                                            "B": counters()},
                  final=True, in_flight_by_variant={"A": 0, "B": 0}))
    m.add(message(1, 0, [cell(0, "A", ok_latency_us=[1000] * 3), cell(0, "B", ok_latency_us=[1000])],
                  counters={"A": counters(scheduled=5, dropped=1), "B": counters(scheduled=2)}))
    m.add(message(1, 1, [cell(1, "A", ok_latency_us=[1000] * 2, kinds_=kinds(ok=2, timeout=1))],
                  counters={"A": counters(scheduled=4), "B": counters()}))
    assert m.worker_gone(1) == 3          # A: 9 scheduled - 1 dropped - 6 ended; B: 2 - 1
    assert m.worker_gone(1) == 0          # once only
    assert m.worker_gone(0) == 0          # a worker that sent its final record has nothing in flight
    s = m.summary((0.0, 2.0))
    assert s["A"]["requests"] == {"scheduled": 15, "ok": 11, "failed": 3, "dropped": 1, "in_flight": 0,
                                  "unaccounted": 0, "warmup": 0}
    assert s["A"]["errors"]["lost"] == 2 and s["A"]["errors"]["timeout"] == 1
    assert s["B"]["requests"]["failed"] == 1 and s["B"]["errors"]["lost"] == 1 and s["B"]["requests"]["unaccounted"] == 0
    # in the lost worker's last interval, beside what ended there
    rows = {(r["t"], r["variant"]): r for r in m.interval_rows()}
    assert rows[(1.0, "A")]["failed"] == 3 and rows[(1.0, "B")]["failed"] == 1
    assert m.overall((0.0, 2.0))["requests"]["unaccounted"] == 0


def test_warmup_counted_apart():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [cell(0, "default", ok_latency_us=[1000] * 2, warmup=3, ok_window=0)],
                  counters={"default": counters(scheduled=2, scheduled_warm=3)}))
    s = m.summary((1.0, 2.0))["default"]
    assert s["requests"]["warmup"] == 3
    assert s["requests"]["scheduled"] == 2 and s["requests"]["unaccounted"] == 0
    assert m.variants["default"].warmup_done == 3


def test_server_time_summarised_when_present():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [cell(0, "default", ok_latency_us=[30_000] * 4, server_us=[12_000] * 4)],
                  counters={"default": counters(scheduled=4)}))
    s = m.summary((0.0, 1.0))["default"]
    assert s["server_time_ms"]["count"] == 4
    assert s["server_time_ms"]["p50"] == pytest.approx(12.0, rel=1e-3)


def test_overall_merges_variants():
    m = RunMetrics(["a", "b"])
    m.add(message(0, 0, [cell(0, "a", ok_latency_us=[1000] * 3), cell(0, "b", ok_latency_us=[9000] * 1)],
                  counters={"a": counters(scheduled=3), "b": counters(scheduled=2, dropped=1)}))
    o = m.overall((0.0, 1.0))
    assert o["requests"]["scheduled"] == 5 and o["requests"]["ok"] == 4 and o["requests"]["dropped"] == 1
    assert o["requests"]["unaccounted"] == 0
    assert o["latency_ms"]["count"] == 4
    assert o["latency_ms"]["max"] == pytest.approx(9.0, rel=1e-3)


def test_summarize_empty_variant_is_well_formed():
    m = RunMetrics(["default"])
    s = summarize(m.variants["default"], (0.0, 1.0))
    assert s["requests"]["scheduled"] == 0 and s["error_rate"] == 0.0
    assert s["throughput"]["ratio"] is None
    assert s["latency_ms"]["count"] == 0


# -------------------------------------------------------------------- window
@pytest.mark.parametrize(
    "warmup, duration, elapsed, expected",
    [
        (0.0, 10.0, 10.0, (0.0, 10.0)),
        (2.0, 10.0, 10.4, (2.0, 10.0)),      # drained past the end: the window is the duration
        (2.0, 10.0, None, (2.0, 10.0)),
        (1.0, 10.0, 5.0, (1.0, 5.0)),        # stopped early (Ctrl-C)
        (3.0, 10.0, 2.0, (3.0, 3.0)),        # stopped inside the warm-up: empty, not negative
    ],
)
def test_window_with_duration(warmup, duration, elapsed, expected):
    assert RunMetrics(["x"]).window(warmup, duration, elapsed) == pytest.approx(expected)


def test_window_without_duration_spans_first_intended_to_last_done():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [], counters={"default": counters()}, first_intended=0.25, last_done=1.75))
    assert m.window(0.0, None) == pytest.approx((0.25, 1.75))
    assert m.window(0.5, None) == pytest.approx((0.5, 1.75))
    assert m.window(0.0, None, elapsed=1.0) == pytest.approx((0.25, 1.0))


# ------------------------------------------------------------- interval rows
def test_interval_rows_one_per_interval_and_variant_sorted():
    m = RunMetrics(["b", "a"], interval=0.5)
    m.add(message(0, 0, [cell(0, "a", ok_latency_us=[1000, 2000, 3000, 4000]),
                         cell(0, "b", kinds_=kinds(timeout=1), status={})],
                  counters={"a": counters(scheduled=4), "b": counters(scheduled=2, dropped=1)}))
    m.add(message(0, 1, [cell(1, "a", ok_latency_us=[5000])],
                  counters={"a": counters(scheduled=1), "b": counters()}))
    rows = m.interval_rows()
    assert [(r["t"], r["variant"]) for r in rows] == [(0.0, "a"), (0.0, "b"), (0.5, "a"), (0.5, "b")]
    a0 = rows[0]
    assert a0["scheduled"] == 4 and a0["ok"] == 4 and a0["failed"] == 0
    assert a0["achieved_rps"] == pytest.approx(8.0) and a0["offered_rps"] == pytest.approx(8.0)
    assert a0["p50_ms"] == pytest.approx(2.0, rel=1e-3)
    assert a0["max_ms"] == pytest.approx(4.0, rel=1e-3)
    assert a0["mean_ms"] == pytest.approx(2.5, rel=1e-2)
    b0 = rows[1]
    assert b0["ok"] == 0 and b0["failed"] == 1 and b0["dropped"] == 1
    assert b0["p50_ms"] is None and b0["max_ms"] is None
    assert rows[2]["ok"] == 1 and rows[2]["p99_ms"] == pytest.approx(5.0, rel=1e-3)
    assert sum(r["ok"] for r in rows) == m.variants["a"].ok + m.variants["b"].ok
    assert all(set(r) == set(rows[0]) for r in rows)


def test_histogram_from_sparse_round_trip():
    values = [1, 10, 999, 1000, 123_456, 3_000_000]
    h = Histogram()
    h.record_many(np.asarray(values, dtype=float))
    assert histogram_from_sparse(sparse(values)) == h


def test_no_successful_request_gives_null_times_not_zero():
    m = RunMetrics(["default"])
    m.add(message(0, 0, [cell(0, "default", kinds_=kinds(timeout=3), status={})],
                  counters={"default": counters(scheduled=3)}))
    s = m.summary((0.0, 1.0))["default"]
    for key in ("latency_ms", "service_time_ms", "ttfb_ms"):
        assert s[key]["count"] == 0
        assert all(s[key][k] is None for k in ("p50", "p99", "p99.9", "mean", "max")), s[key]
    # schedule lag is of requests sent, not of successes: an empty one stays 0, as before
    assert s["schedule_lag_ms"]["p99"] == 0.0


def test_memory_per_interval_is_small_and_flat():
    # A scaled-down soak (issue 10, item 12): two workers, widely spread latencies.
    # What a run keeps per interval grows with its length, so it must be small: the
    # old lists of int32/int64 sparse parts, one per worker, took ~12 bytes per
    # bucket per worker; packed and merged on arrival it is a fraction of that.
    import tracemalloc

    rng = np.random.default_rng(5)
    pool = [{m: sparse(10 ** rng.uniform(3, 5.5, 5000)) for m in ("latency", "service", "ttfb", "lag")}
            for _ in range(4)]
    buckets = sum(len(s[0]) for s in pool[0].values())
    m = RunMetrics(["default"])

    def feed(intervals):
        for i in intervals:
            for w in (0, 1):
                c = dataclasses.replace(cell(i, "default", ok_latency_us=[1000] * 5), hists=pool[(i + w) % 4])
                m.add(message(w, i, [c], counters={"default": counters(scheduled=5)}))

    feed(range(30))                 # warm: first-use allocations out of the way
    tracemalloc.start()
    try:
        a = tracemalloc.get_traced_memory()[0]
        feed(range(30, 90))
        b = tracemalloc.get_traced_memory()[0]
        feed(range(90, 150))
        c = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    per_interval = [(b - a) / 60, (c - b) / 60]
    old = buckets * 12 * 2               # bytes the unpacked per-worker parts took per interval
    assert max(per_interval) < old / 8, (per_interval, old)
    assert per_interval[1] < 1.5 * per_interval[0] + 2000, per_interval   # a slope, not a curve


@pytest.mark.parametrize("spill", [False, True])
def test_predictions_are_kept_compactly_and_read_back_in_order(spill):
    m = RunMetrics(["a", "b"], spill=spill)
    rows = [("a", i, {"class": i % 3}, str(i % 3)) for i in range(1000)]
    for k in range(0, 1000, 250):
        rec = dataclasses.replace(message(0, k // 250, [], counters={"a": counters(), "b": counters()}),
                                  predictions=tuple(rows[k:k + 250]))
        m.add(rec)
    assert len(m.predictions) == 1000 and m.predictions
    assert list(m.predictions) == rows
    if spill:   # in the spill file as they arrive: in memory only where each record's blob is
        assert not m.predictions._blobs and len(m.predictions._off) == 4
        assert 0 < m.spill_file.size < 20 * 1000    # bytes: well under a tuple's ~100 a row
        m.close()
    else:
        assert sum(len(b) for b in m.predictions._blobs) < 20 * 1000
