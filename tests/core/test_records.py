"""core/records.py: the interval record's versioned wire form (round trips, compactness) and the error kinds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stinger.core.catalogue import NAMES
from stinger.core.histogram import Histogram
from stinger.core.records import (
    ERROR_KINDS,
    ERROR_LABELS,
    WIRE_VERSION,
    CellRecord,
    IntervalRecord,
    Kind,
    RecordError,
    plain,
    sparse_of,
)

KINDS_N = len(Kind)


def sparse(values_us) -> tuple[np.ndarray, np.ndarray]:
    h = Histogram()
    if len(values_us):
        h.record_many(np.asarray(values_us, dtype=np.float64))
    return sparse_of(h.counts)


def make(**kw) -> IntervalRecord:
    rng = np.random.default_rng(3)
    base = {
        "worker": 1, "t": 2.0004, "interval": 1, "final": False, "cpu_s": 0.25, "flush_ms": 1.5, "loop_lag_ms": 0.7,
        "loop_lags_ms": (0.1, 0.7), "in_flight": 3,
        "counters": {"A": {"scheduled": 10, "dropped": 1, "bytes_out": 900}, "B": {"scheduled": 0, "dropped": 0}},
        "cells": (CellRecord(interval=1, variant="A", kinds=(8, 1, 0, 0, 0, 0, 1) + (0,) * (KINDS_N - 7), status={200: 8, 503: 1},
                          bytes_in=4096, ok_window=8, warmup=0,
                          hists={"latency": sparse(rng.lognormal(10, 1, 8)), "server": sparse([900, 1200])},
                          server_metrics={"model": sparse([700])}),),
        "first_intended": 0.001, "last_done": 1.99, "predictions": (("A", 4, {"label": 1}, "cat"),),
        "in_flight_by_variant": None}
    base.update(kw)
    return IntervalRecord(**base)


def test_record_round_trips_through_its_wire_form():
    rec = make()
    back = IntervalRecord.from_bytes(rec.to_bytes())
    assert plain(back) == plain(rec)
    assert back.cells[0].status == {200: 8, 503: 1}      # int keys survive the JSON header
    assert back.predictions == (("A", 4, {"label": 1}, "cat"),)


@pytest.mark.parametrize("compress", [True, False])
def test_wire_form_starts_with_its_version_and_flags(compress):
    data = make().to_bytes(compress=compress)
    assert data[0] == WIRE_VERSION and data[1] == (1 if compress else 0)
    assert plain(IntervalRecord.from_bytes(data)) == plain(make())


def test_another_version_or_a_damaged_record_is_refused_in_one_line():
    data = bytearray(make().to_bytes(compress=False))
    data[0] = WIRE_VERSION + 1
    with pytest.raises(RecordError, match="format 2 is not readable"):
        IntervalRecord.from_bytes(bytes(data))
    good = make().to_bytes(compress=False)
    with pytest.raises(RecordError, match="damaged"):
        IntervalRecord.from_bytes(good[:-3])
    with pytest.raises(RecordError, match="too short"):
        IntervalRecord.from_bytes(b"\x01")


def test_sparse_histograms_are_compact_on_the_wire():
    # 2,000 requests an interval, latencies spread over four decades: the pickled
    # dict of the old message was ~80 KB for this; the wire form is a few KB
    rng = np.random.default_rng(7)
    hist = sparse(10 ** rng.uniform(3, 7, 2000))
    cells = tuple(CellRecord(interval=0, variant="A", kinds=(2000,) + (0,) * (KINDS_N - 1),
                             hists=dict.fromkeys(("latency", "service", "ttfb", "lag"), hist))
                  for _ in range(1))
    data = make(cells=cells, predictions=()).to_bytes()
    assert len(data) < 12_000
    raw = sum(a.nbytes + c.nbytes for a, c in [hist] * 4)
    assert len(data) < raw / 2


def test_frozen_and_slotted():
    r = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.worker = 5  # type: ignore[misc]
    assert not hasattr(r, "__dict__") and not hasattr(r.cells[0], "__dict__")


_sparse = st.lists(st.tuples(st.integers(0, 200_000), st.integers(1, 2**40)), max_size=40,
                   unique_by=lambda p: p[0]).map(
    lambda pairs: (np.array(sorted(i for i, _ in pairs), dtype=np.int32),
                   np.array([c for _, c in sorted(pairs)], dtype=np.int64)))
_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_cells = st.builds(
    CellRecord, interval=st.integers(0, 10**6), variant=_names,
    kinds=st.lists(st.integers(0, 2**40), min_size=KINDS_N, max_size=KINDS_N).map(tuple),
    status=st.dictionaries(st.integers(100, 599), st.integers(0, 2**40), max_size=5),
    bytes_in=st.integers(0, 2**62), ok_window=st.integers(0, 2**40), warmup=st.integers(0, 2**40),
    hists=st.dictionaries(st.sampled_from(NAMES), _sparse, max_size=4),
    server_metrics=st.dictionaries(_names, _sparse, max_size=2))
_float = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(worker=st.integers(0, 4096), t=_float, interval=st.integers(0, 10**7), final=st.booleans(),
       cpu=_float, lags=st.lists(_float, max_size=10), cells=st.lists(_cells, max_size=4),
       first=st.none() | _float, compress=st.none() | st.booleans(),
       in_flight=st.none() | st.dictionaries(_names, st.integers(0, 10**6), max_size=3))
@settings(max_examples=150, deadline=None)
def test_round_trip_property(worker, t, interval, final, cpu, lags, cells, first, compress, in_flight):
    rec = IntervalRecord(worker=worker, t=t, interval=interval, final=final, cpu_s=cpu, flush_ms=cpu,
                         loop_lag_ms=max(lags, default=0.0), loop_lags_ms=tuple(lags), in_flight=worker,
                         counters={"v": {"scheduled": interval}}, cells=tuple(cells), first_intended=first,
                         last_done=first, in_flight_by_variant=in_flight)
    assert plain(IntervalRecord.from_bytes(rec.to_bytes(compress))) == plain(rec)


# --------------------------------------------------------------------- kinds
def test_kind_values_are_stable():
    # small integers on the hot path and in the workers' messages: never renumber
    assert [(k.name, int(k)) for k in Kind] == [
        ("OK", 0), ("CONNECT", 1), ("TIMEOUT", 2), ("RESET", 3), ("INVALID", 4),
        ("HTTP_4XX", 5), ("HTTP_5XX", 6), ("CHECK", 7), ("THROTTLED", 8), ("MODEL_ERROR", 9),
        ("DNS", 10), ("TLS", 11), ("BODY_TOO_LARGE", 12), ("UNFINISHED", 13), ("LOST", 14),
        ("HEADER_TOO_LARGE", 15), ("BUILD", 16)]


def test_kind_labels():
    assert {k: k.label for k in Kind} == {
        Kind.OK: "ok", Kind.CONNECT: "connect", Kind.TIMEOUT: "timeout", Kind.RESET: "reset",
        Kind.INVALID: "invalid_response", Kind.HTTP_4XX: "http_4xx", Kind.HTTP_5XX: "http_5xx",
        Kind.CHECK: "check_failed", Kind.THROTTLED: "throttled", Kind.MODEL_ERROR: "model_error",
        Kind.DNS: "dns", Kind.TLS: "tls", Kind.BODY_TOO_LARGE: "body_too_large", Kind.UNFINISHED: "unfinished",
        Kind.LOST: "lost", Kind.HEADER_TOO_LARGE: "header_too_large", Kind.BUILD: "build_failed"}


def test_a_record_from_a_build_with_fewer_kinds_reads_with_the_newer_kinds_zero():
    rec = make()
    short = dataclasses.replace(rec, cells=(dataclasses.replace(rec.cells[0], kinds=rec.cells[0].kinds[:13]),))
    back = IntervalRecord.from_bytes(short.to_bytes())
    assert back.cells[0].kinds == rec.cells[0].kinds and len(back.cells[0].kinds) == KINDS_N


def test_error_kinds_are_every_kind_but_ok():
    assert Kind.OK not in ERROR_KINDS
    assert set(ERROR_KINDS) | {Kind.OK} == set(Kind)
    assert ERROR_LABELS == tuple(k.label for k in ERROR_KINDS)
    assert len(set(ERROR_LABELS)) == len(ERROR_LABELS) and "ok" not in ERROR_LABELS
