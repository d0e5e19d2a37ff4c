"""Server time from response headers: Server-Timing, plain duration headers, the CLI option."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stinger.core.servertiming import (
    ServerTimeSource,
    parse_duration_header,
    parse_server_time_option,
    parse_server_timing,
)
from stinger.errors import UsageError


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("model;dur=12.3, db;desc=x;dur=4, miss", {"model": 12.3, "db": 4.0}),
        ("model;dur=12.3", {"model": 12.3}),
        (b"model;dur=12.3", {"model": 12.3}),
        ("total;dur=0", {"total": 0.0}),
        ("miss", {}),
        ("", {}),
        ("a;DUR=3", {"a": 3.0}),
        ("  spaced ; dur = 7 ,other;dur=1e1", {"spaced": 7.0, "other": 10.0}),
        ('a;desc="x, y; z";dur=5, b;dur="7"', {"a": 5.0, "b": 7.0}),
        ("a;dur=1;dur=2", {"a": 1.0}),  # the first dur wins
        ("a;dur=1, a;dur=2", {"a": 1.0}),  # the first occurrence wins
        ("a;dur=-1, b;dur=nan, c;dur=inf, d;dur=abc, e;dur=, ;dur=2, f g;dur=3", {}),
        ('a;desc="unterminated, b;dur=3', {"b": 3.0}),
        (",,,;;;", {}),
        ("cache;desc=hit, app;dur=47.2", {"app": 47.2}),
    ],
)
def test_parse_server_timing(header: str | bytes, expected: dict[str, float]) -> None:
    assert parse_server_timing(header) == expected


@given(st.binary(max_size=200))
def test_parse_server_timing_never_raises_and_yields_finite_nonnegative(raw: bytes) -> None:
    out = parse_server_timing(raw)
    assert all(math.isfinite(v) and v >= 0 for v in out.values())


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("12", "ms", 12.0),
        (b"12", "ms", 12.0),
        ("12.3ms", "ms", 12.3),
        ("12.3 ms", "s", 12.3),  # the suffix wins over the configured unit
        ("0.0123", "s", 12.3),
        ("1500us", "ms", 1.5),
        ("1500µs".encode(), "ms", 1.5),
        ("2000000ns", "ms", 2.0),
        ("1e3us", "ms", 1.0),
        ("  7  ", "ms", 7.0),
        ("250", "us", 0.25),
    ],
)
def test_parse_duration_header(value: str | bytes, unit: str, expected: float) -> None:
    assert parse_duration_header(value, unit) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["", "abc", "-1", "nan", "inf", "12h", "12 ms ms", "ms"])
def test_parse_duration_header_unparsable_is_none(value: str) -> None:
    assert parse_duration_header(value) is None


@given(st.binary(max_size=50))
def test_parse_duration_header_never_raises(raw: bytes) -> None:
    out = parse_duration_header(raw)
    assert out is None or (math.isfinite(out) and out >= 0)


def test_extract_default_prefers_total_then_largest() -> None:
    src = ServerTimeSource()
    assert src.extract(b"app;dur=30, model;dur=25, total;dur=31") == (
        31.0,
        {"app": 30.0, "model": 25.0, "total": 31.0},
    )
    # Nested spans: the largest, not the sum (which would count model inside app twice).
    assert src.extract(b"app;dur=30, model;dur=25")[0] == 30.0
    assert src.extract(b"miss") == (None, {})


def test_extract_named_metric() -> None:
    src = ServerTimeSource(metric="model")
    assert src.extract(b"app;dur=30, model;dur=25") == (25.0, {"app": 30.0, "model": 25.0})
    assert src.extract(b"app;dur=30") == (None, {"app": 30.0})


def test_extract_plain_duration_header() -> None:
    assert ServerTimeSource("x-runtime", unit="s").extract(b"0.25") == (250.0, {})
    assert ServerTimeSource("x-response-time").extract(b"garbage") == (None, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server-timing", ServerTimeSource()),
        ("Server-Timing", ServerTimeSource()),
        ("server-timing:model", ServerTimeSource(metric="model")),
        ("x-response-time:ms", ServerTimeSource("x-response-time", unit="ms")),
        ("x-response-time:s", ServerTimeSource("x-response-time", unit="s")),
        ("x-envoy-upstream-service-time", ServerTimeSource("x-envoy-upstream-service-time", unit="ms")),
        ("X-Runtime", ServerTimeSource("x-runtime", unit="s")),
    ],
)
def test_parse_server_time_option(text: str, expected: ServerTimeSource) -> None:
    assert parse_server_time_option(text) == expected


@pytest.mark.parametrize(
    "text", ["", ":", "server-timing:", "x-response-time:h", "bad header", "a:b:c", "server-timing:bad name"]
)
def test_parse_server_time_option_rejects_with_one_line(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_server_time_option(text)
    assert "\n" not in str(info.value)


def test_source_rejects_metric_on_plain_header() -> None:
    with pytest.raises(UsageError):
        ServerTimeSource("x-response-time", metric="model")


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)
duration = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(token, duration)
def test_fast_single_metric_path_agrees_with_the_general_parser(name: str, ms: float) -> None:
    single = f"{name};dur={ms!r}"
    expected = {name: ms}
    assert parse_server_timing(single) == expected  # fast path, str
    assert parse_server_timing(single.encode()) == expected  # fast path, bytes
    assert parse_server_timing(single + ",") == expected  # general path
    assert parse_server_timing(f'{name};desc="d";dur={ms!r}') == expected  # quoted path
