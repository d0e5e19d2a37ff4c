"""HDR histograms of integer microseconds: record, merge, percentiles, encode, log.

This module owns stinger's latency histograms and their two wire forms:

* the *compressed V2 encoding* of HdrHistogram (base64 of cookie ``0x1c849314``,
  length, then zlib of a ``0x1c849313`` header and ZigZag LEB128 counts), so a
  histogram written by stinger decodes in HdrHistogram (Java, C, ``hdrh``) and
  the other way round;
* the *histogram log* (format 1.3, as HdrHistogram's ``HistogramLogWriter``
  writes it), one interval histogram a line, for ``HistogramLogProcessor``-style
  tools.

The counts array has HdrHistogram's layout exactly (sub-bucket count, unit
magnitude, bucket indexing), which is what makes the encoding standard. Values
are integer microseconds; the default range is 1 us .. 1 h at 3 significant
digits, so a reported value is within 0.1 % of a recorded one.

Why not wrap ``hdrh``: its ``record_value`` is a Python call per value (about
1 us), a noticeable share of the load generator's per-request budget.
``Histogram.record_many`` computes bucket indices for a whole batch with numpy
and accumulates them with one ``np.bincount``.

Everything a histogram reports (count, min, max, mean, percentiles) is derived
from ``counts`` alone, so a merged or decoded histogram reports the same as one
that recorded the values itself. Min and max are therefore bucket-equivalent
values (lowest- and highest-equivalent), as in HdrHistogram after decoding.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TextIO

import numpy as np

__all__ = [
    "Histogram",
    "HistogramLogWriter",
    "LogInterval",
    "read_histogram_log",
    "sparse_counts",
]

_V2_ENCODING_COOKIE = 0x1C849303 | 0x10  # "| 0x10": word-size nibble of V2 (TLZE)
_V2_COMPRESSED_COOKIE = 0x1C849304 | 0x10
_COOKIE_BASE_MASK = ~0xF0 & 0xFFFFFFFF  # readers ignore the word-size nibble
_FRAME = struct.Struct(">II")  # cookie, length of the zlib part
_PAYLOAD_HEADER = struct.Struct(">IIIIqqd")  # cookie, payload len, normalizing
# index offset, significant figures, lowest, highest, int-to-double ratio

# Floats hold integers exactly below 2**53, so a value's bit length can be read
# straight off its float64 exponent bits: the trick at the heart of record_many.
_FLOAT_EXACT = 1 << 53
# x in [2**k, 2**(k+1)) has float64 exponent field k + 1023 and bit length k + 1
_EXPONENT_MINUS_BIT_LENGTH = 1022

# record_many works through a batch in chunks of this many values. Measured
# here (numpy 2.4): on a whole 100k batch each fresh 800 KB temporary costs
# ~0.3 ms in page faults, more than all the arithmetic; 64 KB chunks stay in
# malloc's heap and in cache, and np.add.at per chunk beat np.bincount (whose
# counts-length result is itself a large fresh array). ~4 ns/value vs ~20.
_CHUNK = 8192


@dataclass(frozen=True, slots=True, eq=False)
class _Layout:
    """HdrHistogram's bucket geometry for one (lowest, highest, digits) config.

    Shared by every histogram of that config (see `_layout`), so the per-index
    value tables cost memory once, not once per interval histogram.
    """

    lowest: int
    highest: int
    significant_figures: int
    unit_magnitude: int
    sub_bucket_half_count_magnitude: int
    sub_bucket_half_count: int
    sub_bucket_mask: int
    bucket_shift: int  # bucket index = bit_length(value | sub_bucket_mask) - bucket_shift
    counts_len: int
    lowest_values: np.ndarray  # lowest value each counts index stands for
    highest_values: np.ndarray  # highest value each counts index stands for
    median_values: np.ndarray  # HdrHistogram's "median equivalent value"

    def index_of(self, value: int) -> int:
        """Counts index of one value (0 <= value <= highest)."""
        bucket = (value | self.sub_bucket_mask).bit_length() - self.bucket_shift
        # ((bucket + 1) << half_mag) + sub_bucket - half_count, simplified:
        return (bucket << self.sub_bucket_half_count_magnitude) + (
            value >> (bucket + self.unit_magnitude)
        )

    def indices_in_place(self, exact: np.ndarray) -> np.ndarray:
        """Counts indices of a float64 array of integer values in [0, highest].

        Consumes `exact`: its buffer is reused for the result, so a batch costs
        two temporary arrays, not seven.
        """
        ints = exact.astype(np.int64)
        # bit_length(v) is v's float64 exponent field minus 1022 (v >= 1, exact
        # below 2**53). OR-ing the mask only raises short values to the mask's
        # bit length, so a maximum with that constant does it without the OR.
        bucket = exact.view(np.int64)
        bucket >>= 52
        np.maximum(bucket, self.sub_bucket_mask.bit_length() + _EXPONENT_MINUS_BIT_LENGTH, out=bucket)
        bucket -= _EXPONENT_MINUS_BIT_LENGTH + self.bucket_shift - self.unit_magnitude
        np.right_shift(ints, bucket, out=ints)  # sub-bucket index
        if self.unit_magnitude:
            bucket -= self.unit_magnitude
        bucket <<= self.sub_bucket_half_count_magnitude
        bucket += ints
        return bucket


@lru_cache(maxsize=16)
def _layout(lowest: int, highest: int, significant_figures: int) -> _Layout:
    """Build (once per config) HdrHistogram's geometry, as in its Java constructor."""
    if not 0 <= significant_figures <= 5:
        raise ValueError(f"significant_figures must be 0..5, got {significant_figures}")
    if lowest < 1:
        raise ValueError(f"lowest must be >= 1, got {lowest}")
    if highest < 2 * lowest:
        raise ValueError(f"highest must be >= 2 * lowest ({2 * lowest}), got {highest}")
    if highest >= _FLOAT_EXACT:
        # record_many computes bit lengths in float64, exact below 2**53
        # (2**53 us is 285 years, so no latency needs more).
        raise ValueError(f"highest must be < 2**53, got {highest}")
    unit_magnitude = lowest.bit_length() - 1  # floor(log2(lowest)), exactly
    # Smallest power of two count of sub-buckets giving unit resolution up to
    # 2 * 10**digits: ceil(log2(2 * 10**digits)), computed exactly.
    sub_bucket_count_magnitude = (2 * 10**significant_figures - 1).bit_length()
    half_magnitude = max(sub_bucket_count_magnitude, 1) - 1
    if unit_magnitude + half_magnitude > 61:
        raise ValueError("lowest and significant_figures together exceed 64-bit range")
    sub_bucket_count = 1 << (half_magnitude + 1)
    half_count = sub_bucket_count // 2

    smallest_untrackable = sub_bucket_count << unit_magnitude
    bucket_count = 1
    while smallest_untrackable <= highest:
        smallest_untrackable <<= 1
        bucket_count += 1
    counts_len = (bucket_count + 1) * half_count

    # Per-index value range, as HdrHistogram's valueFromIndex and
    # sizeOfEquivalentValueRange: indices below half_count sit in bucket 0 too.
    index = np.arange(counts_len, dtype=np.int64)
    bucket = np.maximum((index >> half_magnitude) - 1, 0)
    sub_bucket = np.where(index < sub_bucket_count, index, (index & (half_count - 1)) + half_count)
    lowest_values = sub_bucket << (bucket + unit_magnitude)
    sizes = np.left_shift(1, bucket + unit_magnitude, dtype=np.int64)
    highest_values = lowest_values + sizes - 1
    median_values = lowest_values + (sizes >> 1)
    for table in (lowest_values, highest_values, median_values):
        table.flags.writeable = False

    return _Layout(
        lowest=lowest,
        highest=highest,
        significant_figures=significant_figures,
        unit_magnitude=unit_magnitude,
        sub_bucket_half_count_magnitude=half_magnitude,
        sub_bucket_half_count=half_count,
        sub_bucket_mask=(sub_bucket_count - 1) << unit_magnitude,
        bucket_shift=unit_magnitude + half_magnitude + 1,
        counts_len=counts_len,
        lowest_values=lowest_values,
        highest_values=highest_values,
        median_values=median_values,
    )


class Histogram:
    """An HDR histogram of integer microseconds (HdrHistogram-compatible layout).

    Recording rules, the same for `record` and `record_many`:

    * floats are rounded to the nearest integer (ties to even);
    * values in [0, lowest) fall in the lowest buckets exactly as HdrHistogram
      puts them (with the default lowest=1, a 0 is a 0 in counts index 0);
    * values above `highest` (and +inf) are recorded as `highest` and counted
      in `clamped`, so a run can say how many of its values were cut;
    * NaN is skipped; a negative value raises ValueError (a negative duration
      is a bug in whoever computed it, not a measurement).

    `clamped` is a note about the input, not part of the distribution: it does
    not travel in the encoding and is not compared by ``==``.
    """

    __slots__ = ("_layout", "counts", "clamped")
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, lowest: int = 1, highest: int = 3_600_000_000, significant_figures: int = 3) -> None:
        self._layout = _layout(int(lowest), int(highest), int(significant_figures))
        self.counts: np.ndarray = np.zeros(self._layout.counts_len, dtype=np.int64)
        self.clamped: int = 0

    # -- configuration -------------------------------------------------------

    @property
    def lowest(self) -> int:
        return self._layout.lowest

    @property
    def highest(self) -> int:
        return self._layout.highest

    @property
    def significant_figures(self) -> int:
        return self._layout.significant_figures

    def _same_config(self, other: Histogram) -> bool:
        # by value: a layout evicted from the cache is rebuilt as a new object
        return self._layout is other._layout or self._config() == other._config()

    # -- bucket arithmetic (HdrHistogram's names) -----------------------------

    def counts_index(self, value: int) -> int:
        """Index in `counts` of the bucket that records `value` (0 <= value <= highest)."""
        if not 0 <= value <= self.highest:
            raise ValueError(f"value must be in [0, {self.highest}], got {value}")
        return self._layout.index_of(int(value))

    def lowest_equivalent_value(self, value: int) -> int:
        return int(self._layout.lowest_values[self.counts_index(value)])

    def highest_equivalent_value(self, value: int) -> int:
        return int(self._layout.highest_values[self.counts_index(value)])

    def median_equivalent_value(self, value: int) -> int:
        return int(self._layout.median_values[self.counts_index(value)])

    # -- recording -----------------------------------------------------------

    def record(self, value: int | float, count: int = 1) -> None:
        """Record one value `count` times (rules in the class docstring)."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if isinstance(value, (int, np.integer)):
            v = int(value)
            if v < 0:
                raise ValueError(f"cannot record a negative value: {v}")
        else:
            f = float(value)
            if f != f:  # NaN
                return
            if f < 0:
                raise ValueError(f"cannot record a negative value: {f}")
            v = round(f) if f < _FLOAT_EXACT else _FLOAT_EXACT  # round(inf) would raise
        layout = self._layout
        if v > layout.highest:
            self.clamped += count
            v = layout.highest
        bucket = (v | layout.sub_bucket_mask).bit_length() - layout.bucket_shift
        index = (bucket << layout.sub_bucket_half_count_magnitude) + (v >> (bucket + layout.unit_magnitude))
        self.counts[index] += count

    def record_many(self, values: np.ndarray | Sequence[float]) -> None:
        """Record every value of a batch at once (rules in the class docstring).

        Vectorised: a batch of 100k values costs a few numpy passes, not 100k
        Python calls. Raises ValueError, recording nothing, if any value is negative.
        """
        array = np.asarray(values)
        if array.ndim != 1:
            array = array.reshape(-1)
        if array.dtype.kind not in "iuf":
            array = array.astype(np.float64)
        if array.size == 0:
            return
        # Validate the whole batch with reductions (no temporaries) before
        # recording anything, so a bad batch leaves the histogram untouched.
        if array.dtype.kind == "f":
            smallest = float(array.min())
            if math.isnan(smallest):  # min propagates NaN: only then pay for the filter
                array = array[~np.isnan(array)]
                if array.size == 0:
                    return
                smallest = float(array.min())
        else:
            smallest = int(array.min())
        if smallest < 0:
            raise ValueError(f"cannot record a negative value: {smallest}")
        may_clamp = float(array.max()) > self.highest
        for start in range(0, array.size, _CHUNK):
            self._record_chunk(array[start : start + _CHUNK], may_clamp)

    def _record_chunk(self, chunk: np.ndarray, may_clamp: bool) -> None:
        if chunk.dtype.kind == "f":
            exact = np.rint(chunk, dtype=np.float64)
        else:
            # exact for values <= highest < 2**53; larger ones are clamped below
            exact = chunk.astype(np.float64)
        if may_clamp:
            over = exact > self.highest
            clamped = int(np.count_nonzero(over))
            if clamped:
                self.clamped += clamped
                exact[over] = self.highest
        np.add.at(self.counts, self._layout.indices_in_place(exact), 1)

    # -- combining -----------------------------------------------------------

    def merge(self, other: Histogram) -> Histogram:
        """Add `other`'s counts into this histogram; return self."""
        if not self._same_config(other):
            raise ValueError(
                "cannot merge histograms of different configurations: "
                f"{self._config()} vs {other._config()}"
            )
        self.counts += other.counts
        self.clamped += other.clamped
        return self

    @classmethod
    def merged(cls, hists: Iterable[Histogram]) -> Histogram:
        """A new histogram holding the sum of `hists` (default config if none)."""
        result: Histogram | None = None
        for hist in hists:
            if result is None:
                result = hist.copy()
            else:
                result.merge(hist)
        return result if result is not None else cls()

    def copy(self) -> Histogram:
        new = Histogram.__new__(Histogram)
        new._layout = self._layout
        new.counts = self.counts.copy()
        new.clamped = self.clamped
        return new

    def clear(self) -> None:
        self.counts[:] = 0
        self.clamped = 0

    # -- statistics (all derived from counts) --------------------------------

    @property
    def total_count(self) -> int:
        return int(self.counts.sum())

    @property
    def is_empty(self) -> bool:
        return not self.counts.any()

    @property
    def min(self) -> int:
        """Lowest equivalent value of the lowest non-empty bucket (0 when empty)."""
        nonzero = np.flatnonzero(self.counts)
        return int(self._layout.lowest_values[nonzero[0]]) if nonzero.size else 0

    @property
    def max(self) -> int:
        """Highest equivalent value of the highest non-empty bucket (0 when empty)."""
        nonzero = np.flatnonzero(self.counts)
        return int(self._layout.highest_values[nonzero[-1]]) if nonzero.size else 0

    @property
    def mean(self) -> float:
        """Mean of the bucket median-equivalent values, as HdrHistogram's getMean."""
        return self._moments()[0]

    @property
    def stddev(self) -> float:
        """Population standard deviation over bucket median-equivalent values."""
        return self._moments()[1]

    def _moments(self) -> tuple[float, float]:
        values, counts = self.values_counts()
        if counts.size == 0:
            return 0.0, 0.0
        # float64 sums: exact enough (1e-16 relative) where int64 could overflow
        points = values.astype(np.float64)
        weights = counts.astype(np.float64)
        total = weights.sum()
        mean = float(np.dot(points, weights) / total)
        deviations = points - mean
        return mean, float(math.sqrt(np.dot(deviations * deviations, weights) / total))

    def value_at_percentile(self, p: float) -> int:
        """HdrHistogram's getValueAtPercentile (0 when empty).

        The highest equivalent value of the first bucket at which the
        cumulative count reaches ``max(1, ceil(p / 100 * total))``; p == 0
        gives the lowest equivalent value of the first recorded bucket (min).
        """
        return self.percentiles([p])[float(p)]

    def percentiles(self, ps: Iterable[float]) -> dict[float, int]:
        """`value_at_percentile` for each p, in one pass over the counts."""
        requested = np.asarray([float(p) for p in ps], dtype=np.float64)
        if requested.size and not np.all((requested >= 0) & (requested <= 100)):
            bad = requested[~((requested >= 0) & (requested <= 100))][0]
            raise ValueError(f"percentile must be in [0, 100], got {bad}")
        cumulative = np.cumsum(self.counts)
        total = int(cumulative[-1])
        if total == 0:
            return {float(p): 0 for p in requested}
        # As HdrHistogram: step p down by one ulp first, so that 99.9 (stored a
        # hair above 99.9) times 1000 does not round up past rank 999.
        lowered = np.clip(np.nextafter(requested, -np.inf), 0.0, 100.0)
        ranks = np.maximum(np.ceil(lowered * total / 100.0), 1).astype(np.int64)
        indices = np.searchsorted(cumulative, ranks, side="left")
        values = np.where(
            requested == 0,
            self._layout.lowest_values[indices],
            self._layout.highest_values[indices],
        )
        return {float(p): int(v) for p, v in zip(requested, values, strict=True)}

    def values_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Non-empty buckets, ascending: (median equivalent value, count), both int64."""
        nonzero = np.flatnonzero(self.counts)
        return self._layout.median_values[nonzero].copy(), self.counts[nonzero].copy()

    def summary(self, scale: float = 1e-3) -> dict[str, Any]:
        """Count, mean, stddev, min, max and p50..p99.9, values times `scale`.

        The default scale turns microseconds into milliseconds; values are
        rounded to 3 decimals, the count stays an int.
        """
        marks = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}
        at = self.percentiles(marks.values())
        mean, stddev = self._moments()
        nonzero = np.flatnonzero(self.counts)
        low, high = (
            (int(self._layout.lowest_values[nonzero[0]]), int(self._layout.highest_values[nonzero[-1]]))
            if nonzero.size
            else (0, 0)
        )
        out: dict[str, Any] = {
            "count": self.total_count,
            "mean": round(mean * scale, 3),
            "stddev": round(stddev * scale, 3),
            "min": round(low * scale, 3),
            "max": round(high * scale, 3),
        }
        for name, p in marks.items():
            out[name] = round(at[p] * scale, 3)
        return out

    # -- encoding ------------------------------------------------------------

    def encode(self) -> str:
        """Base64 of HdrHistogram's compressed V2 encoding (byte-equal to ``hdrh``'s)."""
        layout = self._layout
        counts_bytes = _encode_counts(self.counts)
        payload = (
            _PAYLOAD_HEADER.pack(
                _V2_ENCODING_COOKIE,
                len(counts_bytes),
                0,  # normalizing index offset: never shifted here
                layout.significant_figures,
                layout.lowest,
                layout.highest,
                1.0,  # integer-to-double conversion ratio of an integer histogram
            )
            + counts_bytes
        )
        compressed = zlib.compress(payload)
        frame = _FRAME.pack(_V2_COMPRESSED_COOKIE, len(compressed)) + compressed
        return base64.b64encode(frame).decode("ascii")

    @classmethod
    def decode(cls, data: str | bytes) -> Histogram:
        """Decode a V2 histogram: base64 text or raw bytes, compressed or not."""
        raw = data.encode("ascii") if isinstance(data, str) else bytes(data)
        raw = raw.strip()
        if len(raw) >= 4 and _cookie_base(struct.unpack_from(">I", raw)[0]) in (
            _cookie_base(_V2_COMPRESSED_COOKIE),
            _cookie_base(_V2_ENCODING_COOKIE),
        ):
            binary = raw  # already binary: base64 text never starts with byte 0x1c
        else:
            try:
                binary = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"not a base64 HdrHistogram encoding: {exc}") from None
        if len(binary) < 4:
            raise ValueError("encoded histogram too short")
        cookie = struct.unpack_from(">I", binary)[0]
        if _cookie_base(cookie) == _cookie_base(_V2_COMPRESSED_COOKIE):
            if len(binary) < _FRAME.size:
                raise ValueError("encoded histogram too short")
            _, length = _FRAME.unpack_from(binary)
            if length != len(binary) - _FRAME.size:
                raise ValueError(f"compressed length {length} != {len(binary) - _FRAME.size} bytes present")
            try:
                payload = zlib.decompress(binary[_FRAME.size :])
            except zlib.error as exc:
                raise ValueError(f"corrupt compressed histogram: {exc}") from None
        elif _cookie_base(cookie) == _cookie_base(_V2_ENCODING_COOKIE):
            payload = binary
        else:
            raise ValueError(f"unsupported histogram encoding cookie 0x{cookie:08x} (V2 only)")
        return cls._from_payload(payload)

    @classmethod
    def _from_payload(cls, payload: bytes) -> Histogram:
        if len(payload) < _PAYLOAD_HEADER.size:
            raise ValueError("histogram payload shorter than its header")
        cookie, length, offset, digits, lowest, highest, _ratio = _PAYLOAD_HEADER.unpack_from(payload)
        if _cookie_base(cookie) != _cookie_base(_V2_ENCODING_COOKIE):
            raise ValueError(f"unsupported histogram payload cookie 0x{cookie:08x} (V2 only)")
        if offset != 0:
            raise ValueError("histograms with a normalizing index offset are not supported")
        body = payload[_PAYLOAD_HEADER.size : _PAYLOAD_HEADER.size + length]
        if len(body) != length:
            raise ValueError(f"histogram payload truncated: {len(body)} of {length} bytes")
        hist = cls(lowest, highest, digits)
        tokens = _decode_varints(body)
        # Positive tokens are counts, negative ones runs of that many zeros.
        steps = np.where(tokens < 0, -tokens, 1)
        if int(steps.sum()) > hist.counts.size:
            raise ValueError("histogram payload holds more counts than its configuration allows")
        positions = np.cumsum(steps) - steps
        positive = tokens > 0
        hist.counts[positions[positive]] = tokens[positive]
        return hist

    # -- dunder --------------------------------------------------------------

    def _config(self) -> tuple[int, int, int]:
        return (self.lowest, self.highest, self.significant_figures)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return self._same_config(other) and bool(np.array_equal(self.counts, other.counts))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle counts and config only: the layout tables are rebuilt (cached)
        # on the other side instead of travelling with every histogram.
        return (_rebuild, (self._config(), self.counts, self.clamped))

    def __repr__(self) -> str:
        lowest, highest, digits = self._config()
        return (
            f"Histogram(lowest={lowest}, highest={highest}, significant_figures={digits}, "
            f"count={self.total_count}, max={self.max})"
        )


# Below this many values a batch's sparse form is built from its sorted bucket
# indices (np.unique) instead of a dense counts array: a dense array is ~180 KB
# of zeros (a fresh mmap and its page faults) plus a scan of all of it, which
# dominated the flush of a low-rate interval (~0.15 ms a metric, ~6 metrics a cell).
_SPARSE_DIRECT = 4096


def sparse_counts(values: np.ndarray, lowest: int = 1, highest: int = 3_600_000_000,
                  significant_figures: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A batch's histogram in sparse form: (sorted bucket indices as int32, counts as int64).

    The same as `Histogram(...).record_many(values)` followed by taking its non-zero
    buckets (NaN skipped, values above `highest` clamped, a negative value a
    ValueError), without building the dense counts array for a small batch.
    """
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size and np.isnan(array.min()):
        array = array[~np.isnan(array)]
    if array.size == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    if array.size > _SPARSE_DIRECT:
        h = Histogram(lowest, highest, significant_figures)
        h.record_many(array)
        idx = np.flatnonzero(h.counts)
        return idx.astype(np.int32), h.counts[idx]
    smallest = float(array.min())
    if smallest < 0:
        raise ValueError(f"cannot record a negative value: {smallest}")
    layout = _layout(int(lowest), int(highest), int(significant_figures))
    exact = np.rint(array)
    if float(exact.max()) > layout.highest:
        np.minimum(exact, layout.highest, out=exact)
    idx, counts = np.unique(layout.indices_in_place(exact), return_counts=True)
    return idx.astype(np.int32), counts.astype(np.int64)


def _rebuild(config: tuple[int, int, int], counts: np.ndarray, clamped: int) -> Histogram:
    hist = Histogram(*config)
    hist.counts[:] = counts
    hist.clamped = clamped
    return hist


def _cookie_base(cookie: int) -> int:
    return cookie & _COOKIE_BASE_MASK


# -- ZigZag LEB128 (HdrHistogram's ZigZagEncoding, up to 9 bytes a word) -------


def _encode_counts(counts: np.ndarray) -> bytes:
    """V2 counts stream: counts up to the last non-zero one, zero runs as -run.

    Byte for byte what HdrHistogram_c (and so ``hdrh``) writes.
    """
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return b""  # as hdrh: an empty histogram encodes no counts
    used = counts[: nonzero[-1] + 1]
    if int(used.min()) < 0:  # would read back as a run of zeros
        raise ValueError("cannot encode a histogram with negative counts")
    is_zero = used == 0
    edges = np.diff(np.concatenate(([0], is_zero.view(np.int8), [0])))
    run_starts = np.flatnonzero(edges == 1)
    run_lengths = np.flatnonzero(edges == -1) - run_starts
    # One token per non-zero count and per zero run, in index order. Every zero
    # run, even of one, is written as -run: HdrHistogram_c and hdrh do so (Java
    # writes a lone zero as the count 0); every reader takes both.
    tokens = used.copy()
    tokens[run_starts] = -run_lengths
    is_token = ~is_zero
    is_token[run_starts] = True
    tokens = tokens[is_token]
    zigzag = ((tokens << 1) ^ (tokens >> 63)).view(np.uint64)
    width = max(1, (int(zigzag.max()).bit_length() + 6) // 7)  # bytes of the longest word
    if width > 8:  # a count of 2**55 or more: 9-byte words, done the scalar way
        return b"".join(_zigzag_bytes(int(t)) for t in tokens)
    nbytes = np.ones(zigzag.size, dtype=np.int64)
    for k in range(1, width):
        nbytes += zigzag >= np.uint64(1 << (7 * k))
    table = np.empty((zigzag.size, width), dtype=np.uint8)
    for k in range(width):
        septet = ((zigzag >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        more = (nbytes > k + 1).view(np.uint8) << 7  # continuation flag
        table[:, k] = septet | more
    return table[np.arange(width) < nbytes[:, None]].tobytes()


def _zigzag_bytes(token: int) -> bytes:
    """One token, the scalar way (only for counts of 2**55 and more)."""
    value = ((token << 1) ^ (token >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    for _ in range(8):
        if value >> 7 == 0:
            out.append(value)
            return bytes(out)
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value & 0xFF)  # the 9th byte carries 8 bits, no continuation flag
    return bytes(out)


def _decode_varints(body: bytes) -> np.ndarray:
    """ZigZag LEB128 words of a V2 counts stream, as int64 tokens."""
    if not body:
        return np.zeros(0, dtype=np.int64)
    data = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero((data & 0x80) == 0)
    if ends.size == 0 or ends[-1] != data.size - 1:
        return _decode_varints_slow(body)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if int(lengths.max()) > 8:  # a 9-byte word: its last byte has no flag
        return _decode_varints_slow(body)
    values = np.zeros(starts.size, dtype=np.uint64)
    for k in range(int(lengths.max())):
        has = lengths > k
        septets = (data[starts[has] + k] & 0x7F).astype(np.uint64)
        values[has] |= septets << np.uint64(7 * k)
    return (values >> np.uint64(1)).view(np.int64) ^ -(values & np.uint64(1)).view(np.int64)


def _decode_varints_slow(body: bytes) -> np.ndarray:
    tokens: list[int] = []
    i, n = 0, len(body)
    while i < n:
        value, shift = 0, 0
        for k in range(9):
            if i >= n:
                raise ValueError("histogram payload ends inside a count")
            byte = body[i]
            i += 1
            if k == 8:
                value |= byte << 56
                break
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        token = (value >> 1) ^ -(value & 1)
        tokens.append(token)
    return np.asarray(tokens, dtype=np.int64)


# -- histogram log (HdrHistogram log format 1.3) --------------------------------

_LOG_FORMAT_VERSION = "1.3"
# HdrHistogram writes the max column as max / maxValueUnitRatio, by default
# 1e6 for nanosecond values (column in ms). Our values are microseconds, so
# the ratio is 1000: the column still reads in milliseconds.
_MAX_VALUE_UNIT_RATIO = 1000.0
_LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
_START_TIME = re.compile(r"#\[StartTime:\s*([-+\d.eE]+)")
_BASE_TIME = re.compile(r"#\[BaseTime:\s*([-+\d.eE]+)")
_BAD_TAG = re.compile(r"[,\s]")


class HistogramLogWriter:
    """Writes an HdrHistogram interval log (format 1.3), as its Java writer does.

    Interval start times are seconds relative to the header's BaseTime, which
    is the start time given to `write_header`; the max column is in ms.
    """

    def __init__(self, fp: TextIO) -> None:
        self._fp = fp

    def write_header(self, start_time_epoch_s: float, comment: str | None = None) -> None:
        if comment is not None:
            for line in comment.splitlines() or [""]:
                self._fp.write(f"#{line}\n")
        self._fp.write(f"#[Histogram log format version {_LOG_FORMAT_VERSION}]\n")
        when = datetime.fromtimestamp(start_time_epoch_s, tz=UTC)
        self._fp.write(
            f"#[StartTime: {start_time_epoch_s:.3f} (seconds since epoch), "
            f"{when.strftime('%a %b %d %H:%M:%S UTC %Y')}]\n"
        )
        self._fp.write(f"#[BaseTime: {start_time_epoch_s:.3f} (seconds since epoch)]\n")
        self._fp.write(_LEGEND + "\n")

    def write_interval(
        self, hist: Histogram, start_s: float, length_s: float, tag: str | None = None
    ) -> None:
        """One line: ``[Tag=<tag>,]<start>,<length>,<max ms>,<base64 histogram>``."""
        if start_s < 0 or length_s < 0:
            raise ValueError(f"interval start and length must be >= 0, got {start_s}, {length_s}")
        prefix = ""
        if tag is not None:
            # Log readers split on commas; Java's writer refuses these too.
            if not tag or _BAD_TAG.search(tag):
                raise ValueError(f"log tag must be non-empty without commas or spaces, got {tag!r}")
            prefix = f"Tag={tag},"
        max_column = hist.max / _MAX_VALUE_UNIT_RATIO
        self._fp.write(f"{prefix}{start_s:.3f},{length_s:.3f},{max_column:.3f},{hist.encode()}\n")


@dataclass(frozen=True, slots=True)
class LogInterval:
    """One interval of a histogram log; `start_s` is seconds since the log's StartTime."""

    tag: str | None
    start_s: float
    length_s: float
    hist: Histogram


def read_histogram_log(source: str | os.PathLike[str] | TextIO) -> list[LogInterval]:
    """Every interval of an HdrHistogram log, in file order.

    Timestamps follow HdrHistogram's reader: with a BaseTime they are relative
    to it; without one, they are taken as absolute unless they lie over a
    year before StartTime. Start times are returned relative to StartTime
    (the first interval's timestamp when the log has none).
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as fp:
            return _read_log_lines(fp)
    return _read_log_lines(source)


def _read_log_lines(lines: Iterable[str]) -> list[LogInterval]:
    start_time: float | None = None
    base_time: float | None = None
    intervals: list[LogInterval] = []
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.strip()
        if not line or line.startswith('"'):
            continue
        if line.startswith("#"):
            if match := _START_TIME.match(line):
                start_time = float(match.group(1))
            elif match := _BASE_TIME.match(line):
                base_time = float(match.group(1))
            continue
        tag: str | None = None
        if line.startswith("Tag="):
            tag, _, line = line[4:].partition(",")
        fields = line.split(",")
        if len(fields) != 4:
            raise ValueError(f"histogram log line {number}: expected 4 fields, got {len(fields)}")
        try:
            stamp, length = float(fields[0]), float(fields[1])
        except ValueError:
            raise ValueError(f"histogram log line {number}: bad timestamp or length") from None
        if start_time is None:
            start_time = stamp
        if base_time is None:
            base_time = start_time if stamp < start_time - 365 * 24 * 3600.0 else 0.0
        try:
            hist = Histogram.decode(fields[3])
        except ValueError as exc:
            raise ValueError(f"histogram log line {number}: {exc}") from None
        # base - start is exactly 0.0 for logs we write, so start_s round-trips.
        intervals.append(LogInterval(tag, stamp + (base_time - start_time), length, hist))
    return intervals
