"""The mmap record index: the vectorised scan against a naive split, at any chunk size."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stinger.datasets import index


def _naive_jsonl(text: bytes) -> list[bytes]:
    return [line.strip() for line in text.split(b"\n") if line.strip()]



line_endings = st.sampled_from([b"\n", b"\r\n"])
# short and long runs: longer than index._WS_STEPS takes the per-line fallback
whitespace = st.sampled_from([b"", b" ", b"\r", b" \t" * 40])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(st.tuples(json_values, line_endings, whitespace, whitespace), max_size=30),
    trailing=st.booleans(),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_scan_matches_naive_split_at_any_chunk_size(records: list, trailing: bool, chunk: int) -> None:
    parts = []
    for value, ending, indent, blank in records:
        parts.append(indent + json.dumps(value).encode() + ending + (blank + ending if blank else b""))
    text = b"".join(parts)
    if not trailing:
        text = text.rstrip(b"\r\n")
    old = index._SCAN_CHUNK
    index._SCAN_CHUNK = chunk
    try:
        starts, ends, unclosed = index._scan_records(np.frombuffer(text, dtype=np.uint8), 0, False)
    finally:
        index._SCAN_CHUNK = old
    got = [text[s:e].strip() for s, e in zip(starts.tolist(), ends.tolist())]
    assert got == _naive_jsonl(text)
    assert unclosed == -1
    assert starts.dtype == np.int64 and ends.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(st.text(alphabet='ab,"\n x', max_size=5), min_size=3, max_size=3), min_size=1, max_size=15),
    chunk=st.integers(min_value=1, max_value=32),
)
def test_csv_scan_keeps_quoted_newlines_inside_a_record(rows: list[list[str]], chunk: int) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).writerows(rows)
    text = out.getvalue().encode()
    old = index._SCAN_CHUNK
    index._SCAN_CHUNK = chunk
    try:
        starts, ends, unclosed = index._scan_records(np.frombuffer(text, dtype=np.uint8), 0, True)
    finally:
        index._SCAN_CHUNK = old
    got = [next(csv.reader([text[s:e].decode()])) for s, e in zip(starts.tolist(), ends.tolist())]
    assert got == rows
    assert unclosed == -1
