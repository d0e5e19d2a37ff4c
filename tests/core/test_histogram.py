"""Tests of stinger.core.histogram: HdrHistogram compatibility, properties, the log."""

from __future__ import annotations

import io
import math
import pickle

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
from hypothesis import given, settings
from hypothesis import strategies as st

from stinger.core.histogram import Histogram, HistogramLogWriter, LogInterval, read_histogram_log

HOUR_US = 3_600_000_000
CONFIGS = [
    (1, HOUR_US, 3),  # stinger's default
    (1, HOUR_US, 2),
    (1, 200_000, 5),
    (1, 10_000, 1),
    (1000, 10_000_000_000, 3),  # unit magnitude 9
    (20000, 3_600_000_000_000, 2),  # jHiccup's configuration, in ns
]


def edge_values(highest: int, rng: np.random.Generator) -> list[int]:
    """Values around every power of two up to `highest`, plus random ones."""
    values = {0, 1, 2, highest}
    for bit in range(highest.bit_length()):
        for delta in (-1, 0, 1):
            if 0 <= (1 << bit) + delta <= highest:
                values.add((1 << bit) + delta)
    values.update(int(v) for v in rng.integers(0, highest + 1, 2000))
    values.update(int(v) for v in np.exp(rng.uniform(0, math.log(highest), 2000)).astype(np.int64))
    return sorted(v for v in values if v <= highest)


def hdrh_recording(values: list[int], config: tuple[int, int, int]) -> HdrHistogram:
    reference = HdrHistogram(*config)
    for v in values:
        assert reference.record_value(v)
    return reference


def ceil_rank(p: float, n: int) -> int:
    """HdrHistogram's rank of percentile p among n values (1-based)."""
    lowered = min(max(math.nextafter(p, -math.inf), 0.0), 100.0)
    return max(1, math.ceil(lowered * n / 100.0))


# -- layout: the same buckets as HdrHistogram -------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
def test_bucket_arithmetic_matches_hdrh(config: tuple[int, int, int]) -> None:
    ours = Histogram(*config)
    reference = HdrHistogram(*config)
    assert len(ours.counts) == reference.counts_len
    for v in edge_values(config[1], np.random.default_rng(1)):
        assert ours.counts_index(v) == reference.get_counts_array_index(v), v
        assert ours.lowest_equivalent_value(v) == reference.get_lowest_equivalent_value(v), v
        assert ours.highest_equivalent_value(v) == reference.get_highest_equivalent_value(v), v
        assert ours.median_equivalent_value(v) == reference._hdr_median_equiv_value(v), v


@pytest.mark.parametrize("config", CONFIGS)
def test_record_many_fills_the_same_counts_as_hdrh(config: tuple[int, int, int]) -> None:
    values = edge_values(config[1], np.random.default_rng(2))
    ours = Histogram(*config)
    ours.record_many(np.asarray(values, dtype=np.int64))
    reference = hdrh_recording(values, config)
    assert np.array_equal(ours.counts, np.asarray(reference.counts[:], dtype=np.int64))
    assert ours.total_count == reference.get_total_count() == len(values)
    assert ours.min == reference.get_min_value()
    assert ours.max == reference.get_max_value()
    if reference.counts_len <= 50_000:  # hdrh's mean walks every bucket in Python: seconds at 5 digits
        assert ours.mean == pytest.approx(reference.get_mean_value(), rel=1e-12)
        assert ours.stddev == pytest.approx(reference.get_stddev(), rel=1e-9)


def test_percentiles_match_hdrh_where_both_rank_definitions_agree() -> None:
    # hdrh ranks by rounding p * n / 100, HdrHistogram (and we) by its ceiling;
    # with n = 10,000 these percentiles give whole ranks, where both agree.
    rng = np.random.default_rng(3)
    values = [int(v) for v in rng.lognormal(math.log(20_000), 1.5, 10_000)]
    ours = Histogram()
    ours.record_many(values)
    reference = hdrh_recording(values, (1, HOUR_US, 3))
    ps = [0.01, 1.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0]
    expected = {p: reference.get_value_at_percentile(p) for p in ps}
    assert ours.percentiles(ps) == expected
    assert {p: ours.value_at_percentile(p) for p in ps} == expected


# -- encoding -----------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
def test_encoding_is_byte_equal_to_hdrh_and_decodes_both_ways(config: tuple[int, int, int]) -> None:
    values = edge_values(config[1], np.random.default_rng(4))
    ours = Histogram(*config)
    ours.record_many(values)
    reference = hdrh_recording(values, config)

    assert ours.encode() == reference.encode().decode("ascii")

    by_hdrh = HdrHistogram.decode(ours.encode())
    assert by_hdrh.get_total_count() == ours.total_count
    assert by_hdrh.get_max_value() == ours.max
    for p in (50.0, 99.0, 100.0):
        assert by_hdrh.get_value_at_percentile(p) == reference.get_value_at_percentile(p)

    by_us = Histogram.decode(reference.encode())  # bytes, as hdrh returns them
    assert by_us == ours
    assert (by_us.lowest, by_us.highest, by_us.significant_figures) == config
    assert by_us.percentiles([50, 99.9]) == ours.percentiles([50, 99.9])


def test_empty_histogram_encodes_like_hdrh_and_round_trips() -> None:
    empty = Histogram()
    assert empty.encode() == HdrHistogram(1, HOUR_US, 3).encode().decode("ascii")
    assert HdrHistogram.decode(empty.encode()).get_total_count() == 0
    assert Histogram.decode(empty.encode()) == empty


# Interval histograms written by HdrHistogram's Java HistogramLogWriter (lines of
# src/test/resources/org/HdrHistogram/*.hlog in the HdrHistogram repository): Java
# writes a lone zero count as 0 where the C library writes -1, so these exercise
# the other dialect. Values are ns; the third field is the exact max in ms.
JAVA_LOG = """\
#[Logged with jHiccup version 2.0.7-SNAPSHOT]
#[Histogram log format version 1.2]
#[StartTime: 1441753532.570 (seconds since epoch), Tue Sep 08 16:05:32 PDT 2015]
"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
0.126,1.007,1.933,HISTFAAAAEB42pNpmSzMwMAgywABTBDKT4GBgdnNYMcCBvsPEBEjDT0FMTUxMT05LgEhPqmIeWxtTAKMTNxM6xmZmAAjcgjc
7.134,1.515,960.496,HISTFAAAAJV42pNpmSzMwMDUwAABTBDKT4GBgdnNYMcCBvsPEBEWLi4eNkY2PiYOPhYOLgGOLuZjTGLrGZnKgTCYyZrJEoh1mWSZpMFQFkpyM/GCMTKJzOdkYoVCZjgLmc1MhDwzEyMQggl0SH1BbEJIgIUJC2AhUoxchSwsLGwsMIBgYRUkQyFBaQ4g4EIl0PlcpKtB4wMAh5wT+Q==
Tag=C,7.133,0.999,0.459,HISTFAAAAEJ42pNpmSzMwMCgwAABTBDKD8hndjPYsYDB/gNEhEtMQEBBTk5MQERCRkBEQEWlh9FJbg9jE+MS5ig1LhYmADkkCcE=
"""


def test_decodes_java_written_histograms_like_hdrh() -> None:
    intervals = read_histogram_log(io.StringIO(JAVA_LOG))
    assert [(i.tag, i.start_s, i.length_s) for i in intervals] == [
        (None, 0.126, 1.007),
        (None, 7.134, 1.515),
        ("C", 7.133, 0.999),
    ]
    lines = [line for line in JAVA_LOG.splitlines() if line[0].isdigit() or line.startswith("Tag=")]
    for interval, line in zip(intervals, lines, strict=True):
        reference = HdrHistogram.decode(line.rsplit(",", 1)[1])
        hist = interval.hist
        assert (hist.lowest, hist.highest, hist.significant_figures) == (20000, 3_600_000_000_000, 2)
        assert hist.total_count == reference.get_total_count() > 0
        assert hist.max == reference.get_max_value()
        assert hist.max / 1e6 == pytest.approx(float(line.split(",")[-2]), rel=1e-2)
        assert hist.value_at_percentile(100) == reference.get_value_at_percentile(100)


def test_decode_accepts_raw_binary_forms() -> None:
    import base64
    import zlib

    hist = Histogram()
    hist.record_many([1, 10, 100, 1000, 10_000])
    framed = base64.b64decode(hist.encode())
    assert Histogram.decode(framed) == hist  # compressed frame, not base64
    uncompressed = zlib.decompress(framed[8:])
    assert Histogram.decode(uncompressed) == hist  # bare V2 payload


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not base64 at all!",
        "SElTVEZBQUFB",  # base64 of a wrong cookie
        "HISTFAAAAEB42pNpmSzMwMAgywABTBDK",  # truncated
        b"\x1c\x84\x93\x14\x00\x00\x00\x05abcde",  # right cookie, not zlib
    ],
)
def test_decode_rejects_garbage_with_value_error(garbage: str | bytes) -> None:
    with pytest.raises(ValueError):
        Histogram.decode(garbage)


def test_negative_counts_refuse_to_encode() -> None:
    hist = recorded([10, 20])
    hist.counts[hist.counts_index(10)] -= 2
    with pytest.raises(ValueError, match="negative counts"):
        hist.encode()


def test_huge_counts_survive_the_nine_byte_varint_path() -> None:
    hist = Histogram()
    hist.record(5, count=(1 << 60) + 12345)
    hist.record(1_000_000, count=1 << 56)
    hist.record(2_000_000, count=3)
    again = Histogram.decode(hist.encode())
    assert again == hist
    assert HdrHistogram.decode(hist.encode()).get_total_count() == hist.total_count


# -- properties ------------------------------------------------------------------------

in_range = st.lists(st.integers(0, HOUR_US), max_size=300)
some_in_range = st.lists(st.integers(0, HOUR_US), min_size=1, max_size=300)
any_size = st.lists(st.integers(0, 2 * HOUR_US), max_size=200)
percentile = st.floats(0, 100, exclude_min=True)


def recorded(values: list[int] | list[float]) -> Histogram:
    hist = Histogram()
    hist.record_many(values)
    return hist


@settings(deadline=None, max_examples=60)
@given(any_size, any_size, any_size)
def test_merge_is_associative_and_commutative(a: list[int], b: list[int], c: list[int]) -> None:
    ha, hb, hc = recorded(a), recorded(b), recorded(c)
    left = ha.copy().merge(hb).merge(hc)
    right = ha.copy().merge(hb.copy().merge(hc))
    assert np.array_equal(left.counts, right.counts)
    assert np.array_equal(ha.copy().merge(hb).counts, hb.copy().merge(ha).counts)
    assert Histogram.merged([hc, hb, ha]) == recorded(a + b + c)
    assert left.clamped == recorded(a + b + c).clamped == sum(v > HOUR_US for v in a + b + c)


@settings(deadline=None, max_examples=60)
@given(some_in_range, st.lists(percentile, min_size=1, max_size=20))
def test_percentiles_are_monotone_in_p(values: list[int], ps: list[float]) -> None:
    at = recorded(values).percentiles(sorted(ps))
    results = [at[p] for p in sorted(ps)]
    assert results == sorted(results)


@settings(deadline=None, max_examples=100)
@given(some_in_range, st.lists(percentile, min_size=1, max_size=10))
def test_percentiles_are_within_relative_error_of_exact(values: list[int], ps: list[float]) -> None:
    hist = recorded(values)
    ordered = sorted(values)
    at = hist.percentiles(ps)
    for p in ps:
        exact = ordered[ceil_rank(p, len(ordered)) - 1]
        assert at[p] == hist.highest_equivalent_value(exact)
        assert abs(at[p] - exact) <= exact * 1e-3


@settings(deadline=None, max_examples=100)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 2 * HOUR_US),
            st.floats(0, 2.0 * HOUR_US),
            st.sampled_from([math.nan, math.inf, 0.5, 1.5, 2.5]),
        ),
        max_size=200,
    )
)
def test_record_many_equals_repeated_record(values: list[int | float]) -> None:
    one_by_one = Histogram()
    for v in values:
        one_by_one.record(v)
    batch = Histogram()
    batch.record_many(np.asarray(values, dtype=np.float64))
    assert batch == one_by_one
    assert batch.clamped == one_by_one.clamped
    assert batch.total_count == sum(1 for v in values if not math.isnan(v))


@settings(deadline=None, max_examples=30)
@given(in_range)
def test_encode_decode_round_trip(values: list[int]) -> None:
    hist = recorded(values)
    assert Histogram.decode(hist.encode()) == hist


def test_record_many_in_chunks_equals_one_batch() -> None:
    # the batch is processed in chunks internally; a batch larger than a chunk
    # must give the same counts as recording its pieces separately
    values = np.random.default_rng(5).integers(0, 2 * HOUR_US, 50_000)
    whole = recorded(values)
    pieces = Histogram()
    for piece in np.array_split(values, 7):
        pieces.record_many(piece)
    assert whole == pieces and whole.clamped == pieces.clamped == int((values > HOUR_US).sum())


# -- edges -------------------------------------------------------------------------------


def test_values_above_highest_are_clamped_and_counted() -> None:
    hist = Histogram(1, 10_000, 3)
    hist.record_many([5, 10_000, 10_001, 1e12, math.inf])
    hist.record(20_000, count=2)
    assert hist.clamped == 5
    assert hist.total_count == 7
    assert hist.max == hist.highest_equivalent_value(10_000)
    assert hist.counts[hist.counts_index(10_000)] == 6


def test_zero_and_values_below_lowest_fall_in_the_lowest_buckets() -> None:
    hist = Histogram()
    hist.record_many([0, 0.4, 0.6])  # rounds to 0, 0, 1
    assert hist.counts[0] == 2 and hist.counts[1] == 1
    assert hist.min == 0 and hist.value_at_percentile(50) == 0
    coarse = Histogram(1000, 10**9, 3)  # unit magnitude 9: counts index 0 is [0, 511]
    coarse.record_many([0, 1, 300])
    coarse.record(511)
    assert coarse.counts[0] == 4 and coarse.total_count == 4


def test_floats_round_to_nearest_even_like_python() -> None:
    hist = Histogram()
    hist.record_many([0.5, 1.5, 2.5, 2.6])
    values, counts = hist.values_counts()
    assert values.tolist() == [0, 2, 3] and counts.tolist() == [1, 2, 1]


def test_negative_values_raise_and_record_nothing() -> None:
    hist = Histogram()
    with pytest.raises(ValueError, match="negative"):
        hist.record_many([5, -1, 7])
    with pytest.raises(ValueError, match="negative"):
        hist.record_many(np.array([5.0, -0.25]))
    with pytest.raises(ValueError, match="negative"):
        hist.record(-3)
    with pytest.raises(ValueError, match="count"):
        hist.record(3, count=-1)
    assert hist.is_empty


def test_nan_is_skipped() -> None:
    hist = Histogram()
    hist.record(math.nan)
    hist.record_many([math.nan, 3.0, math.nan])
    hist.record_many([math.nan])
    assert hist.total_count == 1 and hist.min == 3


def test_empty_histogram_reports_zeros() -> None:
    hist = Histogram()
    assert hist.is_empty and hist.total_count == 0
    assert (hist.min, hist.max, hist.mean, hist.stddev) == (0, 0, 0.0, 0.0)
    assert hist.value_at_percentile(99) == 0
    assert hist.percentiles([50, 100]) == {50.0: 0, 100.0: 0}
    assert [a.size for a in hist.values_counts()] == [0, 0]
    assert hist.summary() == {
        "count": 0, "mean": 0.0, "stddev": 0.0, "min": 0.0, "max": 0.0,
        "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p99.9": 0.0,
    }  # fmt: skip
    hist.record_many([])
    hist.record_many(np.array([], dtype=np.float64))
    assert hist.is_empty


def test_percentile_bounds() -> None:
    hist = recorded([10, 20, 30])
    assert hist.value_at_percentile(0) == 10  # p == 0: the lowest value, as HdrHistogram
    assert hist.value_at_percentile(100) == 30
    assert hist.value_at_percentile(1e-9) == 10
    for bad in (-1, 100.5, math.nan):
        with pytest.raises(ValueError, match="percentile"):
            hist.value_at_percentile(bad)


def test_ninety_nine_point_nine_is_rank_999_of_1000() -> None:
    # 99.9 is stored a hair above 99.9; a naive ceil would pick rank 1000.
    hist = recorded(list(range(1, 1001)))
    assert hist.value_at_percentile(99.9) == 999
    assert hist.value_at_percentile(99.95) == 1000


def test_merge_rejects_a_different_configuration() -> None:
    with pytest.raises(ValueError, match="different configurations"):
        Histogram().merge(Histogram(1, HOUR_US, 2))
    assert Histogram.merged([]) == Histogram()
    assert Histogram() != Histogram(1, HOUR_US, 2)


@pytest.mark.parametrize("config", [(0, 100, 3), (10, 15, 3), (1, 100, 6), (1, 1 << 53, 3)])
def test_invalid_configuration_raises(config: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        Histogram(*config)


def test_copy_clear_equality_and_pickle() -> None:
    hist = recorded([1, 2, 3, 2 * HOUR_US])
    twin = hist.copy()
    assert twin == hist and twin.clamped == 1
    twin.record(4)
    assert twin != hist and hist.total_count == 4
    restored = pickle.loads(pickle.dumps(hist))
    assert restored == hist and restored.clamped == 1
    hist.clear()
    assert hist.is_empty and hist.clamped == 0 and twin.total_count == 5


def test_values_counts_are_median_equivalent_values_ascending() -> None:
    hist = recorded([3_000_000, 5, 5, 1_000_000])
    values, counts = hist.values_counts()
    assert values.dtype == counts.dtype == np.int64
    medians = [hist.median_equivalent_value(v) for v in (5, 1_000_000, 3_000_000)]
    assert values.tolist() == medians and medians[0] == 5
    assert counts.tolist() == [2, 1, 1]
    assert abs(values[1] - 1_000_000) <= 1_000_000 * 1e-3


def test_summary_scales_to_milliseconds() -> None:
    hist = recorded([1000] * 90 + [250_000] * 10)  # 90 x 1 ms, 10 x 250 ms
    summary = hist.summary()
    assert summary["count"] == 100
    assert summary["p50"] == 1.0 and summary["p90"] == 1.0
    assert summary["p95"] == pytest.approx(250.0, rel=1e-3) and summary["p99.9"] == summary["max"]
    assert summary["min"] == 1.0
    assert summary["mean"] == pytest.approx(0.9 * 1 + 0.1 * 250, rel=1e-3)
    assert summary["mean"] == round(summary["mean"], 3)
    assert hist.summary(scale=1.0)["p95"] == hist.value_at_percentile(95)


# -- coordinated omission, as data ---------------------------------------------------------


def test_latency_from_intended_time_exposes_a_stall_that_service_time_hides() -> None:
    """wrk2's canonical check: 10,000 x 1 ms at a 10 ms interval, then a 100 s stall.

    Requests are intended every 10 ms. For the first 100 s each takes 1 ms. Then
    the server stalls for 100 s: the request in flight completes when the stall
    ends, and a closed-loop tester only gets to send the requests intended
    during the stall after it ends (each then takes 1 ms). Their latency
    (done - intended) runs from 100 s down to ~0; their service time
    (done - sent) is 1 ms, except for the one caught by the stall.
    """
    interval, service, stall_start, stall_s = 10_000, 1_000, 100_000_000, 100_000_000
    stall_end = stall_start + stall_s
    intended = np.arange(0, stall_end, interval, dtype=np.int64)  # 20,000 requests over 200 s
    stalled = intended >= stall_start
    sent = np.where(stalled, np.maximum(intended, stall_end), intended)
    sent[np.argmax(stalled)] = stall_start  # the request in flight when the stall begins
    done = np.where(stalled, np.maximum(sent + service, stall_end), sent + service)

    latency, service_time = Histogram(), Histogram()
    latency.record_many(done - intended)
    service_time.record_many(done - sent)

    assert latency.total_count == service_time.total_count == 20_000
    assert latency.value_at_percentile(75) == pytest.approx(50_000_000, rel=0.01)
    assert latency.value_at_percentile(99.99) == pytest.approx(100_000_000, rel=0.01)
    assert service_time.value_at_percentile(75) == 1_000
    assert service_time.value_at_percentile(99.99) == 1_000
    assert service_time.max == pytest.approx(100_000_000, rel=1e-3)  # only the max shows it


# -- histogram log ---------------------------------------------------------------------------


def write_log(fp: io.TextIOBase, intervals: list[tuple[str | None, float, float, Histogram]]) -> None:
    writer = HistogramLogWriter(fp)  # type: ignore[arg-type]
    writer.write_header(1_700_000_000.25, comment="stinger test run")
    for tag, start, length, hist in intervals:
        writer.write_interval(hist, start, length, tag=tag)


def sample_intervals() -> list[tuple[str | None, float, float, Histogram]]:
    rng = np.random.default_rng(6)
    out: list[tuple[str | None, float, float, Histogram]] = []
    for second in range(3):
        for tag in (None, "A", "B"):
            out.append((tag, float(second), 1.0, recorded(rng.integers(1, 5_000_000, 500))))
    out.append(("A", 3.5, 0.5, Histogram()))  # an empty interval
    return out


def test_log_round_trip() -> None:
    intervals = sample_intervals()
    buffer = io.StringIO()
    write_log(buffer, intervals)
    text = buffer.getvalue()
    lines = text.splitlines()
    assert lines[0] == "#stinger test run"
    assert lines[1] == "#[Histogram log format version 1.3]"
    assert lines[2].startswith("#[StartTime: 1700000000.250 (seconds since epoch), ")
    assert lines[3] == "#[BaseTime: 1700000000.250 (seconds since epoch)]"
    assert lines[4] == '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
    assert lines[6].startswith("Tag=A,0.000,1.000,")
    assert lines[5].split(",")[2] == f"{intervals[0][3].max / 1000:.3f}"  # max column in ms

    read = read_histogram_log(io.StringIO(text))
    assert read == [LogInterval(tag, start, length, hist) for tag, start, length, hist in intervals]


def test_hdrh_log_reader_reads_what_we_write(tmp_path) -> None:  # type: ignore[no-untyped-def]
    intervals = sample_intervals()
    path = tmp_path / "latency.hlog"
    with open(path, "w", encoding="utf-8") as fp:
        write_log(fp, intervals)
    assert read_histogram_log(path) == read_histogram_log(str(path))

    reader = HistogramLogReader(str(path), HdrHistogram(1, HOUR_US, 3))
    seen = []
    while (hist := reader.get_next_interval_histogram()) is not None:
        seen.append(hist)
    reader.close()
    assert len(seen) == len(intervals)
    for hist, (tag, start, _length, ours) in zip(seen, intervals, strict=True):
        assert hist.get_tag() == tag
        assert hist.get_total_count() == ours.total_count
        assert hist.get_value_at_percentile(99) == ours.value_at_percentile(99)
        assert hist.get_start_time_stamp() == pytest.approx((1_700_000_000.25 + start) * 1000)


def test_log_writer_rejects_what_readers_cannot_parse() -> None:
    writer = HistogramLogWriter(io.StringIO())
    for tag in ("a,b", "a b", ""):
        with pytest.raises(ValueError, match="tag"):
            writer.write_interval(Histogram(), 0.0, 1.0, tag=tag)
    with pytest.raises(ValueError, match=">= 0"):
        writer.write_interval(Histogram(), -1.0, 1.0)


def test_log_reader_names_the_bad_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        read_histogram_log(io.StringIO("#[StartTime: 1.0 (seconds since epoch), x]\n0.0,1.0,HISTF\n"))


def test_sparse_counts_equal_a_dense_histogram_of_the_same_batch():
    from stinger.core.histogram import sparse_counts

    rng = np.random.default_rng(7)
    batches = [rng.lognormal(9, 2, size=n) for n in (0, 1, 5, 200, 4096, 4097, 20_000)]
    batches.append(np.array([0.0, 0.4, 0.5, 1.5, np.nan, 3.6e9, 3.6e9 + 0.4, 1e12, np.nan]))
    batches.append(np.full(3, np.nan))
    for values in batches:
        h = Histogram()
        h.record_many(values)
        dense = np.flatnonzero(h.counts)
        idx, counts = sparse_counts(values)
        assert idx.dtype == np.int32 and counts.dtype == np.int64
        assert idx.tolist() == dense.tolist()
        assert counts.tolist() == h.counts[dense].tolist()


def test_sparse_counts_refuse_a_negative_value_like_record_many():
    from stinger.core.histogram import sparse_counts

    with pytest.raises(ValueError, match="negative"):
        sparse_counts(np.array([5.0, -0.3]))
